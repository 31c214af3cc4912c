"""The guard for requests (Mastodon.py, tweepy, requests_oauthlib): `GuardedAdapter`,
whose urllib3 connections open their sockets through `netguard.checked_addresses`;
`guard_session` mounts it. Apart from `tribe.infra.transports` (httpx) so that a
process that only fetches feeds does not load requests and urllib3.
"""

from __future__ import annotations

import socket
import sys
import typing
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from tribe.core.errors import BlockedAddressError
from tribe.infra.netguard import AddressPolicy, RedirectRefused, checked_addresses


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
    """An HTTP connection opened only to addresses `policy` allows; its HTTPS kind
    below takes the same `_new_conn` (TLS is wrapped around the socket it returns)."""

    def __init__(
        self, *args: typing.Any, policy: AddressPolicy | None = None, **kw: typing.Any
    ) -> None:
        super().__init__(*args, **kw)
        self._policy = policy

    def _new_conn(self) -> socket.socket:
        return _open_socket(self, self._policy)


class _GuardedHTTPSConnection(_GuardedHTTPConnection, HTTPSConnection):
    pass


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
