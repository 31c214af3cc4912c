"""The machinery of every local HTTP server the tests talk to: one server class with
routing, faults and a request log, started and stopped one way.

Each server plays a piece of the outside world on 127.0.0.2 (`HOST`, the one address
the tests allow, see tests/conftest.py): the bloggers' feeds (`feeds.FeedServer`), X,
Mastodon and Bluesky (`x`, `mastodon`, `bluesky`: each speaks its network's wire
contract, so the real client library can be pointed at it). Email goes to `mailbox`, a
real SMTP server (aiosmtpd) on the same address.

`INTERNAL` (127.0.0.9) is an address no test allows: a server there stands for the
operator's internal network, which tribe's guard must never reach.

Tests steer an HTTP server with faults:

    server.fail(429, headers={"x-rate-limit-reset": "..."})    # next matching request
    server.fail(500, commit=True)      # act on the request, then answer 500
    server.slow(5.0)                   # answer after 5 s (the client should time out)
    server.drop(commit=True)           # act, then hang up without an answer

A fault matches the next request whose "METHOD /path" contains `match` (default: any
write, i.e. any non-GET request) and is used `times` times. Every request is logged
(`requests`, `calls`, `hits`, `headers_of`), with how many ran at once (`max_concurrent`).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from tribe.infra.netguard import AddressPolicy

HOST = "127.0.0.2"
INTERNAL = "127.0.0.9"
# What tests/conftest.py's TRIBE_ALLOWED_NETWORKS allows: the fakes, nothing else local.
TEST_POLICY = AddressPolicy.from_settings(False, f"{HOST}/32")


@dataclass
class Request:
    """One request as the fake saw it (bodies decoded from JSON or a form when they are)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)  # captured from the route
    port: int = 0  # the client's: requests over one kept-alive connection share it

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Response:
    status: int = 200
    # dict/list -> JSON; bytes -> as is; an iterator of bytes -> streamed chunk by chunk
    # (with no Content-Length among `headers`, the connection closes at the end).
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Request], Response]


@dataclass
class Fault:
    match: str | None
    times: int
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    commit: bool = False  # run the real handler first (the network acted), then misbehave
    delay: float = 0.0
    drop: bool = False

    def matches(self, request: Request) -> bool:
        if self.match is None:
            return request.method != "GET"
        return self.match in f"{request.method} {request.path}"


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        self.server.owner.dispatch(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (timeouts, hostile answers under test) are expected


class FakeServer:
    """Routes ("METHOD", regex) to handlers; every request is logged; faults are queued.
    `with Fake() as fake:`, or `fake.start()` ... `fake.stop()`."""

    def __init__(self, port: int = 0, *, host: str = HOST) -> None:
        self._server = _HTTPServer((host, port), _Handler)
        self._server.owner = self
        self.host, self.port = host, self._server.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._routes: list[tuple[str, re.Pattern[str], Route]] = []
        self._faults: list[Fault] = []
        self.lock = threading.RLock()  # guards the fake's state too
        self.requests: list[Request] = []
        self._active = 0
        self.max_concurrent = 0

    # Life cycle --------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Set-up --------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Route) -> None:
        self._routes.append((method, re.compile(pattern + r"\Z"), handler))

    def url(self, path: str) -> str:
        return self.base_url + path

    def fail(
        self,
        status: int,
        *,
        match: str | None = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        commit: bool = False,
    ) -> None:
        with self.lock:
            self._faults.append(
                Fault(match, times, status, headers or {}, body or {"error": "fault"}, commit)
            )

    def slow(self, seconds: float, *, match: str | None = None, times: int = 1) -> None:
        with self.lock:
            self._faults.append(Fault(match, times, delay=seconds, commit=True))

    def drop(self, *, match: str | None = None, times: int = 1, commit: bool = True) -> None:
        with self.lock:
            self._faults.append(Fault(match, times, drop=True, commit=commit))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    # The request log -----------------------------------------------------------------

    def calls(self, method: str, path_pattern: str) -> list[Request]:
        pattern = re.compile(path_pattern + r"\Z")
        with self.lock:
            return [r for r in self.requests if r.method == method and pattern.match(r.path)]

    def hits(self, path: str) -> int:
        """How many requests asked for `path` (the query string aside)."""
        with self.lock:
            return sum(1 for r in self.requests if r.path == path)

    def headers_of(self, path: str) -> list[dict[str, str]]:
        """The headers of each request for `path`, oldest first."""
        with self.lock:
            return [r.headers for r in self.requests if r.path == path]

    # Serving -------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        for method, pattern, handler in self._routes:
            found = pattern.match(request.path)
            if method == request.method and found:
                request.params = found.groupdict()
                return handler(request)
        return Response(404, {"error": f"no route for {request.method} {request.path}"})

    def answer(self, request: Request, response: Response) -> Response:
        """Every answer passes here before it is sent, faults included (a fake adds the
        headers its network puts on everything)."""
        return response

    def dispatch(self, http: BaseHTTPRequestHandler) -> None:
        request = _read(http)
        with self.lock:
            self.requests.append(request)
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
        try:
            self._dispatch(http, request)
        finally:
            with self.lock:
                self._active -= 1

    def _dispatch(self, http: BaseHTTPRequestHandler, request: Request) -> None:
        fault = self._take_fault(request)
        response: Response | None = None
        if fault is None or fault.commit:
            response = self._handle(request)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                http.close_connection = True
                with contextlib.suppress(OSError):
                    http.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault.status is not None:
                response = Response(fault.status, fault.body, fault.headers)
        assert response is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            _send(http, self.answer(request, response))

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(request):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


def _read(http: BaseHTTPRequestHandler) -> Request:
    parts = urlsplit(http.path)
    length = int(http.headers.get("Content-Length") or 0)
    raw = http.rfile.read(length) if length else b""
    kind = http.headers.get("Content-Type", "")
    body: Any = None
    if raw and "json" in kind:
        body = json.loads(raw)
    elif raw and "form" in kind:
        body = dict(parse_qsl(raw.decode()))
    return Request(
        method=http.command,
        path=parts.path,
        query=dict(parse_qsl(parts.query)),
        headers=dict(http.headers.items()),
        raw=raw,
        body=body,
        port=http.client_address[1],
    )


def _send(http: BaseHTTPRequestHandler, response: Response) -> None:
    body, headers = response.body, dict(response.headers)
    if isinstance(body, Iterator):
        return _stream(http, response.status, headers, body)
    if isinstance(body, bytes):
        data = body
    elif body is None:
        data = b""
    else:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    http.send_response(response.status)
    for name, value in headers.items():
        http.send_header(name, value)
    if response.status not in (204, 304):  # they have no body, so no length (RFC 9110)
        http.send_header("Content-Length", str(len(data)))
    http.end_headers()
    if data and http.command != "HEAD":
        http.wfile.write(data)


def _stream(
    http: BaseHTTPRequestHandler, status: int, headers: dict[str, str], chunks: Iterator[bytes]
) -> None:
    if not any(name.lower() == "content-length" for name in headers):
        headers["Connection"] = "close"  # the end of the body is the end of the connection
        http.close_connection = True
    http.send_response(status)
    for name, value in headers.items():
        http.send_header(name, value)
    http.end_headers()
    for chunk in chunks:
        http.wfile.write(chunk)
        http.wfile.flush()


def json_error(status: int, error: str, **extra: Any) -> Response:
    return Response(status, {"error": error, **extra})


def bearer(request: Request) -> str | None:
    value = request.header("Authorization") or ""
    return value[7:] if value.lower().startswith("bearer ") else None


def closed_port(host: str = HOST) -> int:
    """A local port nothing listens on (connecting to it is refused)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


SECRET = "INTERNAL-SECRET-7f3a: the operator's admin page"


def internal_server() -> FakeServer:
    """A server on the operator's network (INTERNAL). It logs whatever reaches it and
    answers everything with SECRET in the places each library repeats in its errors
    (Mastodon's `error`, XRPC's `message`, X's body): none of it may reach a member."""
    server = FakeServer(host=INTERNAL)
    body = {"error": SECRET, "message": SECRET, "detail": SECRET}
    for method in ("GET", "POST", "PUT", "DELETE"):
        server.route(method, r"/.*", lambda request: Response(403, body))
    return server


def redirector(target: str, status: int = 307) -> FakeServer:
    """A hostile server on HOST (allowed) that redirects every request to `target` + its
    path: 307 and 308 keep the method and the body, password and all."""
    server = FakeServer()
    for method in ("GET", "POST", "PUT", "DELETE"):
        server.route(
            method,
            r"/.*",
            lambda request: Response(status, b"", {"Location": target + request.path}),
        )
    return server


class CredentialStore:
    """An account's stored credentials behind a lock, as the database row keeps them:
    its `refresh` is what `AccountContext.refresh` does in production."""

    def __init__(self, credentials: dict[str, Any]) -> None:
        self.credentials = dict(credentials)
        self.lock = threading.Lock()
        self.saved: list[dict[str, Any]] = []  # every save, oldest first

    def refresh(self, update: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any]:
        with self.lock:
            new = update(dict(self.credentials))
            if new is not None:
                self.credentials = dict(new)
                self.saved.append(dict(new))
            return dict(self.credentials)
