"""The bloggers' side: good feeds, and every way to be bad, on `FakeServer`.

`server.routes[path] = handler` publishes something at a path (GET and HEAD; any other
path answers 404). The handlers:

    Feed(body)                  a document with real validators (ETag, Last-Modified, 304)
    status(code, headers, body) any answer; redirect(code, location) a redirect
    trickle(body, 2)            the body at two bytes a second
    huge(size)                  a streamed body of `size` bytes, with or without a length
    gzip_bomb()                 ~100 KB of gzip that inflates to 100 MiB

and the faults of every fake (`server.slow(4, match="/slow.xml")`, `fail`, `drop`) work
here too. It listens on 127.0.0.2 so that tests can run with private addresses refused
(as in production) and only this one address allowed (TRIBE_ALLOWED_NETWORKS=127.0.0.2/32):
a redirect to 127.0.0.1 is then refused exactly as it would be in production.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from tests.fakenet.common import HOST, FakeServer, Request, Response, Route

_FIXED_DATE = format_datetime(datetime(2024, 1, 1, tzinfo=UTC), usegmt=True)


class FeedServer(FakeServer):
    """Serves `routes` by exact path; the request log and the faults are `FakeServer`'s."""

    def __init__(self, host: str = HOST) -> None:
        super().__init__(host=host)
        self.routes: dict[str, Route] = {}
        for method in ("GET", "HEAD"):
            self.route(method, r"/.*", self._by_path)

    def _by_path(self, request: Request) -> Response:
        handler = self.routes.get(request.path)
        if handler is None:
            return Response(404, b"not here", {"Content-Type": "text/plain"})
        return handler(request)


@dataclass
class Feed:
    """A feed document served with real validators (ETag and Last-Modified)."""

    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: bool = True
    last_modified: bool = True
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def etag_value(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'

    def __call__(self, request: Request) -> Response:
        if self.etag and request.header("If-None-Match") == self.etag_value:
            return Response(304, headers={"ETag": self.etag_value})
        if (
            not self.etag
            and self.last_modified
            and request.header("If-Modified-Since") == _FIXED_DATE
        ):
            return Response(304)
        headers = {"Content-Type": self.content_type, **self.extra_headers}
        if self.etag:
            headers["ETag"] = self.etag_value
        if self.last_modified:
            headers["Last-Modified"] = _FIXED_DATE
        return Response(200, self.body, headers)


def status(code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Route:
    return lambda request: Response(code, body, dict(headers or {}))


def redirect(code: int, location: str) -> Route:
    return status(code, {"Location": location})


def trickle(body: bytes, bytes_per_second: float = 1.0) -> Route:
    """A server that answers, then sends its body one byte at a time."""

    def chunks() -> Iterator[bytes]:
        for i in range(len(body)):
            yield body[i : i + 1]
            time.sleep(1 / bytes_per_second)

    headers = {"Content-Type": "application/rss+xml", "Content-Length": str(len(body))}
    return lambda request: Response(200, chunks(), headers)


def huge(size: int, declare_length: bool = False) -> Route:
    """A body of `size` bytes, streamed (never held in memory), optionally without a length."""

    def chunks() -> Iterator[bytes]:
        chunk, sent = b"<!-- padding -->" * 4096, 0
        while sent < size:
            yield chunk
            sent += len(chunk)

    headers = {"Content-Type": "application/rss+xml"}
    if declare_length:
        headers["Content-Length"] = str(size)
    return lambda request: Response(200, chunks(), headers)


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"\0" * (100 * 1024 * 1024), compresslevel=9)  # once per session


def gzip_bomb() -> Route:
    """A ~100 KB gzip body that expands to 100 MiB of zeros."""
    headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
    return lambda request: Response(200, _bomb(), headers)
