"""The guarded transports: how each HTTP stack opens its connections through
`netguard.checked_addresses`, so no client library can reach an address the guard has
not seen.

- httpx (the feed fetcher, atproto): `GuardedTransport`, whose httpcore network backend
  (`GuardedBackend`) also enforces a fetch's total deadline on every read and write;
- requests (Mastodon.py, tweepy, requests_oauthlib): `GuardedAdapter`, whose urllib3
  connections open their sockets the same way; `guard_session` mounts it.
"""

from __future__ import annotations

import socket
import ssl
import sys
import time
import typing
from collections.abc import Iterable
from functools import cache
from urllib.parse import urlsplit

import httpcore
import httpx
import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from tribe.core.errors import BlockedAddressError
from tribe.infra.netguard import (
    REDIRECTS,
    AddressPolicy,
    RedirectRefused,
    checked_addresses,
    clamp,
)

# httpx: a network backend and the transport built on it. --------------------------------


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads and writes never run past the fetch's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, clamp(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks against the policy, then connects to a checked address.

    A refusal is raised as httpcore's ConnectError (nothing was sent), caused by the
    BlockedAddressError that says why.
    """

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            allowed = checked_addresses(
                host, port, self._policy, clamp(timeout, httpcore.ConnectTimeout)
            )
        except BlockedAddressError as refused:
            raise httpcore.ConnectError(str(refused)) from refused
        last_error: Exception | None = None
        for address in allowed:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    clamp(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            return _DeadlineStream(stream)
        assert last_error is not None
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        refused = BlockedAddressError("tribe never connects to a unix socket for a member")
        raise httpcore.ConnectError(str(refused)) from refused

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, loaded once (loading certifi takes a while)."""
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport on the guarded backend (address policy + deadline).

    `refuse_redirects`: answer a redirect with `httpx.TooManyRedirects` (caused by
    RedirectRefused) instead of handing it to a client that would follow it.
    Give the client `trust_env=False` too, or httpx routes around it to an environment
    proxy.
    """

    def __init__(
        self,
        policy: AddressPolicy,
        ssl_context: ssl.SSLContext | None = None,
        *,
        max_connections: int = 100,
        refuse_redirects: bool = False,
    ) -> None:
        context = ssl_context or default_ssl_context()
        super().__init__(verify=context, trust_env=False)
        self._refuse_redirects = refuse_redirects
        # httpx offers no parameter for a network backend; build the same pool with one.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if (
            self._refuse_redirects
            and response.status_code in REDIRECTS
            and "location" in response.headers
        ):
            response.close()  # unread: nothing the redirecting server said is kept
            refused = RedirectRefused(request.url.host, response.status_code)
            raise httpx.TooManyRedirects(str(refused), request=request) from refused
        return response


# requests: urllib3 connections that open their sockets through the guard. --------------


def guarded_client(
    policy: AddressPolicy,
    timeout: float | httpx.Timeout,
    *,
    refuse_redirects: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """An httpx client whose every connection goes through the guard: an API client
    refuses redirects (`refuse_redirects`; one that follows them does so hop by hop,
    itself), never reads the environment's proxies, and waits at most `timeout` for
    each phase of a call. The one way tribe's own httpx calls are made."""
    return httpx.Client(
        transport=GuardedTransport(policy, refuse_redirects=refuse_redirects),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # else httpx routes some requests around the transport
        headers=headers,
    )


def _open_socket(conn: HTTPConnection, policy: AddressPolicy | None) -> socket.socket:
    """urllib3's `_new_conn`, connecting only to addresses `checked_addresses` allowed.

    Failures are urllib3's own errors, so requests and the libraries above it see a
    connection that could not be made (nothing was sent).
    """
    timeout = conn.timeout if isinstance(conn.timeout, int | float) else None
    try:
        if policy is None:
            raise BlockedAddressError("this connection was opened without tribe's guard")
        allowed = checked_addresses(conn.host, conn.port, policy, timeout)
    except BlockedAddressError as refused:
        raise NewConnectionError(conn, str(refused)) from refused
    error: Exception | None = None
    for address in allowed:
        try:
            sock = urllib3_connection.create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            error = ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
            )
            error.__cause__ = exc
        except OSError as exc:
            error = NewConnectionError(conn, f"Failed to establish a new connection: {exc}")
            error.__cause__ = exc
        else:
            sys.audit("http.client.connect", conn, conn.host, conn.port)
            return sock
    assert error is not None
    raise error


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(
        self, *args: typing.Any, policy: AddressPolicy | None = None, **kw: typing.Any
    ) -> None:
        super().__init__(*args, **kw)
        self._policy = policy

    def _new_conn(self) -> socket.socket:
        return _open_socket(self, self._policy)


class _GuardedHTTPSConnection(HTTPSConnection):
    def __init__(
        self, *args: typing.Any, policy: AddressPolicy | None = None, **kw: typing.Any
    ) -> None:
        super().__init__(*args, **kw)
        self._policy = policy

    def _new_conn(self) -> socket.socket:
        return _open_socket(self, self._policy)


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedPoolManager(PoolManager):
    """A PoolManager whose pools make guarded connections carrying `policy`."""

    def __init__(self, policy: AddressPolicy, **kw: typing.Any) -> None:
        super().__init__(**kw)
        self._policy = policy
        self.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, typing.Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.conn_kw["policy"] = self._policy
        return pool


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every connection goes through the guard.

    Never through a proxy (the address checked must be the address connected to);
    `timeout` fills in for requests made without one; `refuse_redirects` answers a
    redirect with `requests.TooManyRedirects` (caused by RedirectRefused) before the
    session could follow it.
    """

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        timeout: float | None = None,
        refuse_redirects: bool = True,
    ) -> None:
        self._policy = policy
        self._timeout = timeout
        self._refuse_redirects = refuse_redirects
        super().__init__()

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: typing.Any
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _GuardedPoolManager(
            self._policy, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def send(
        self, request: requests.PreparedRequest, *args: typing.Any, **kwargs: typing.Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None and self._timeout is not None:
            kwargs["timeout"] = self._timeout
        kwargs["proxies"] = None
        response = super().send(request, *args, **kwargs)
        if self._refuse_redirects and response.is_redirect:
            response.close()  # unread: nothing the redirecting server said is kept
            host = urlsplit(request.url or "").hostname or "the server"
            refused = RedirectRefused(host, response.status_code)
            raise requests.TooManyRedirects(str(refused), request=request) from refused
        return response


def guard_session(
    session: requests.Session,
    policy: AddressPolicy,
    *,
    timeout: float | None = None,
    refuse_redirects: bool = True,
) -> requests.Session:
    """Make `session` (one tribe or a library built) connect only through the guard."""
    session.trust_env = False  # no proxies or .netrc credentials from the environment
    adapter = GuardedAdapter(policy, timeout=timeout, refuse_redirects=refuse_redirects)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
