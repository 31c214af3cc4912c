"""Where the poller may connect, checked on the resolved address at connect time.

Feed URLs are user input. Checking the URL's host before the request is not enough:
DNS can answer differently a second later (rebinding) and every redirect hop is a new
host. So the check lives in the network backend httpx connects through: it resolves the
name itself, refuses forbidden addresses, and connects to the address it checked.

The same backend enforces the fetch's total deadline on every socket read and write, so
a server that sends a byte per second cannot hold a worker for hours.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpcore

from tribe.errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_net = ipaddress.ip_network

# Never reachable, whatever the settings say: cloud metadata lives on link-local.
_ALWAYS_REFUSED: tuple[tuple[IPNetwork, str], ...] = (
    (_net("169.254.0.0/16"), "a link-local address (such as a cloud metadata service)"),
    (_net("fe80::/10"), "a link-local address"),
    (_net("224.0.0.0/4"), "a multicast address"),
    (_net("ff00::/8"), "a multicast address"),
    (_net("0.0.0.0/8"), "an unspecified address"),
    (_net("::/128"), "an unspecified address"),
    (_net("240.0.0.0/4"), "a reserved address"),
    (_net("fec0::/10"), "a site-local address"),
)

# Refused unless TRIBE_ALLOW_PRIVATE_ADDRESSES (tests, local development).
_PRIVATE: tuple[tuple[IPNetwork, str], ...] = (
    (_net("127.0.0.0/8"), "a loopback address"),
    (_net("::1/128"), "a loopback address"),
    (_net("10.0.0.0/8"), "a private network address"),
    (_net("172.16.0.0/12"), "a private network address"),
    (_net("192.168.0.0/16"), "a private network address"),
    (_net("100.64.0.0/10"), "a carrier-grade NAT address"),
    (_net("fc00::/7"), "a private (unique local) IPv6 address"),
)

# IPv6 ranges whose last 32 bits are an IPv4 address a translator may reach:
# NAT64 (well-known and local-use), SIIT, and the deprecated IPv4-compatible form.
_WRAPPING_IPV4 = (
    _net("64:ff9b::/96"),
    _net("64:ff9b:1::/48"),
    _net("::ffff:0:0:0/96"),
    _net("::/96"),
)
_UNSPECIFIED_OR_LOOPBACK = (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1"))
_GLOBAL_UNICAST = _net("2000::/3")


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64, ...), else `ip`."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip not in _UNSPECIFIED_OR_LOOPBACK and any(ip in n for n in _WRAPPING_IPV4):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _match(ip: IPAddress, table: Iterable[tuple[IPNetwork, str]]) -> str | None:
    for network, reason in table:
        if ip.version == network.version and ip in network:
            return reason
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which resolved addresses a fetch may connect to."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, allow_private: bool, allowed_networks: str) -> AddressPolicy:
        networks = tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in allowed_networks.split(",")
            if part.strip()
        )
        return cls(allow_private=allow_private, allowed_networks=networks)

    def refusal(self, address: str | IPAddress) -> str | None:
        """Why we will not connect to `address`, or None when we may."""
        ip = _embedded_ipv4(ipaddress.ip_address(address))
        reason = _match(ip, _ALWAYS_REFUSED)
        if reason:
            return reason
        if any(ip.version == n.version and ip in n for n in self.allowed_networks):
            return None
        private = _match(ip, _PRIVATE)
        if private:
            return None if self.allow_private else private
        if not ip.is_global or (ip.version == 6 and ip not in _GLOBAL_UNICAST):
            return "a reserved or documentation address"
        return None


# The monotonic time by which the current fetch must be over; None means no deadline.
_deadline: ContextVar[float | None] = ContextVar("fetch_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every socket operation inside this block fails once `seconds` have passed."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _clamp(timeout: float | None, exc: type[Exception]) -> float | None:
    end = _deadline.get()
    if end is None:
        return timeout
    remaining = end - time.monotonic()
    if remaining <= 0:
        raise exc("the fetch took longer than its total deadline")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads and writes never run past the fetch's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks against the policy, then connects to the checked address."""

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
        addresses = self._resolve(host, port)
        allowed = [a for a in addresses if self._policy.refusal(a) is None]
        if not allowed:
            reason = self._policy.refusal(addresses[0])
            where = host if host == addresses[0] else f"{host} resolves to {addresses[0]}, which"
            raise BlockedAddressError(
                f"{where} is {reason}; tribe only fetches feeds from public internet addresses"
            )
        last_error: Exception | None = None
        for address in allowed:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    _clamp(timeout, httpcore.ConnectTimeout),
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
        raise BlockedAddressError("feeds are never fetched over a unix socket")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    @staticmethod
    def _resolve(host: str, port: int) -> list[str]:
        try:
            return resolve(host, port)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"the name {host} does not resolve ({exc})") from exc


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses in resolver order (RFC 6724 preference), repeats dropped.

    Raises socket.gaierror when the name does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
