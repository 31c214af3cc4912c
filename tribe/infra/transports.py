"""The guarded transports: how each HTTP stack opens its connections through
`netguard.checked_addresses`, so no client library can reach an address the guard has
not seen.

- httpx (the feed fetcher, atproto): `GuardedTransport`, whose httpcore network backend
  (`GuardedBackend`) also enforces a fetch's total deadline on every read and write;
- requests (Mastodon.py, tweepy, requests_oauthlib): `GuardedAdapter`, whose urllib3
  connections open their sockets the same way; `guard_session` mounts it. Both live in
  `tribe.infra.guarded_requests`, so a process that only fetches feeds never loads
  requests.
"""

from __future__ import annotations

import ssl
import time
import typing
from collections.abc import Iterable
from functools import cache

import httpcore
import httpx

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
