"""Limits before work: how much a request may send, and how many requests the web app
makes to other servers (feeds, Mastodon instances, Bluesky PDSes) while a page waits.

Both protect the threads that serve pages and `/healthz`: a 150 MB body is refused
before anyone reads it, and a member adding feeds that answer one byte every few
seconds holds at most a few threads, for a short deadline, while everyone else's
requests go on.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tribe.core.errors import TooManyAttemptsError


class BodyLimit:
    """Refuse a request body over `max_bytes` with 413, before any parsing.

    A declared `Content-Length` over the limit is answered at once; a body sent without
    one (chunked) is counted as it arrives, and the moment it passes the limit the app
    sees the client gone and the client gets the 413 instead of the app's answer.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, api_prefix: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        state = _Counting()

        async def counted() -> Message:
            if state.over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state.received += len(message.get("body", b""))
                if state.received > self.max_bytes:
                    state.over = True
                    return {"type": "http.disconnect"}
            return message

        async def answer(message: Message) -> None:
            if state.over:
                return  # the app's answer to a body it never got whole: the 413 goes instead
            state.started = state.started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, answer)
        except Exception:
            if not state.over:
                raise
        if state.over and not state.started:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        limit = _size(self.max_bytes)
        if str(scope.get("path", "")).startswith(self.api_prefix):
            detail = f"the request body is larger than {limit}, this server's limit"
            body = json.dumps({"code": "too_large", "detail": detail}).encode()
            kind = b"application/json"
        else:
            body = f"What was sent is larger than {limit}, this server's limit.\n".encode()
            kind = b"text/plain; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", kind),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    (b"x-content-type-options", b"nosniff"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


@dataclass
class _Counting:
    received: int = 0
    over: bool = False
    started: bool = False


def _size(count: int) -> str:
    if count >= 1024 * 1024 and count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


@dataclass
class CallLimiter:
    """How many requests to other servers the web app makes at once: `total` for the
    whole process, `per_member` for one member. Beyond them a request is refused at
    once (429 with Retry-After), never queued: waiting would hold a thread too."""

    total: int
    per_member: int
    retry_after: int  # seconds: about one call's deadline
    _running: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def slot(self, member_id: int) -> Iterator[None]:
        with self._lock:
            if self._running.get(member_id, 0) >= self.per_member:
                raise TooManyAttemptsError(
                    "you already have checks running; try again when they are done",
                    retry_after=self.retry_after,
                )
            if sum(self._running.values()) >= self.total:
                raise TooManyAttemptsError(
                    "tribe is busy checking other addresses; try again in a few seconds",
                    retry_after=self.retry_after,
                )
            self._running[member_id] = self._running.get(member_id, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._running[member_id] - 1
                if left:
                    self._running[member_id] = left
                else:
                    del self._running[member_id]
