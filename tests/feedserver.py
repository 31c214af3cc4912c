"""A local HTTP server that plays the bloggers' side: good feeds, and every way to be bad.

It listens on 127.0.0.2 so that tests can run with private addresses refused (as in
production) and only this one address allowed (TRIBE_ALLOWED_NETWORKS=127.0.0.2/32):
a redirect to 127.0.0.1 is then refused exactly as it would be in production.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.2"
_FIXED_DATE = datetime(2024, 1, 1, tzinfo=UTC)

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Feed:
    """A feed document served with real validators (ETag and Last-Modified)."""

    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: bool = True
    last_modified: bool = True
    extra_headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @property
    def etag_value(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        if self.delay:
            time.sleep(self.delay)
        modified = format_datetime(_FIXED_DATE, usegmt=True)
        if self.etag and request.headers.get("If-None-Match") == self.etag_value:
            return respond(request, 304, b"", {"ETag": self.etag_value})
        if (
            not self.etag
            and self.last_modified
            and request.headers.get("If-Modified-Since") == modified
        ):
            return respond(request, 304, b"")
        headers = {"Content-Type": self.content_type, **self.extra_headers}
        if self.etag:
            headers["ETag"] = self.etag_value
        if self.last_modified:
            headers["Last-Modified"] = modified
        return respond(request, 200, self.body, headers)


def respond(
    request: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    request.send_response(status)
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    if status != 304:
        request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    if body and request.command != "HEAD":
        request.wfile.write(body)


def status(code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Handler:
    return lambda request: respond(request, code, body, headers)


def redirect(code: int, location: str) -> Handler:
    return status(code, {"Location": location})


def trickle(body: bytes, bytes_per_second: float = 1.0) -> Handler:
    """A server that answers, then sends its body one byte at a time."""

    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        try:
            for i in range(len(body)):
                request.wfile.write(body[i : i + 1])
                request.wfile.flush()
                time.sleep(1 / bytes_per_second)
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handler


def huge(size: int, declare_length: bool = False) -> Handler:
    """A body of `size` bytes, streamed (never held in memory), optionally without a length."""

    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        if declare_length:
            request.send_header("Content-Length", str(size))
        else:
            request.send_header("Connection", "close")
        request.end_headers()
        chunk = b"<!-- padding -->" * 4096
        sent = 0
        try:
            while sent < size:
                request.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handler


_BOMB: bytes | None = None


def gzip_bomb() -> Handler:
    """A ~100 KB gzip body that expands to 100 MiB of zeros."""

    def handler(request: BaseHTTPRequestHandler) -> None:
        global _BOMB  # noqa: PLW0603 - computed once per test session
        if _BOMB is None:
            _BOMB = gzip.compress(b"\0" * (100 * 1024 * 1024), compresslevel=9)
        respond(
            request,
            200,
            _BOMB,
            {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"},
        )

    return handler


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.record(self)
        handler = owner.routes.get(self.path.split("?")[0])
        try:
            if handler is None:
                respond(self, 404, b"not here", {"Content-Type": "text/plain"})
            else:
                handler(self)
        finally:
            owner.finish(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FeedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up on hostile responses is the point of those tests


class FeedServer:
    """Routes by path; records every request, and how many ran at once."""

    def __init__(self, host: str = HOST) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._active = 0
        self.max_concurrent = 0
        self._server = _Server((host, 0), _RequestHandler)
        self._server.owner = self
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def record(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append((request.path, dict(request.headers.items())))
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)

    def finish(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._active -= 1

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.requests if p.split("?")[0] == path)

    def headers_of(self, path: str) -> Iterator[dict[str, str]]:
        with self._lock:
            found = [h for p, h in self.requests if p.split("?")[0] == path]
        yield from found
