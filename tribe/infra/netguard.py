"""One guarded way out: every connection to an address a member gave is checked here.

Feed URLs, Mastodon instances and Bluesky PDSes are user input. Checking a URL's host
once before a request is not enough: DNS can answer differently a second later
(rebinding), every redirect hop is a new host, and the client libraries follow
redirects on their own. So the check lives where connections are opened:
`checked_addresses` resolves the name (bounded by a timeout), refuses the addresses the
`AddressPolicy` forbids, and the caller connects only to the addresses it returned.

Each HTTP stack gets it at its lowest level, so no library can open a connection the
guard has not seen:

- httpx (the feed fetcher, atproto): `GuardedTransport`, whose httpcore network backend
  (`GuardedBackend`) also enforces a fetch's total deadline on every read and write;
- requests (Mastodon.py, tweepy, requests_oauthlib): `GuardedAdapter`, whose urllib3
  connections open their sockets the same way; `guarded_session` mounts it.

API clients never need redirects, so both refuse them (`refuse_redirects`): a redirect
is answered with an error that names the host, not with what the target said. The feed
fetcher follows redirects itself, hop by hop, each hop a new checked connection.

A refused address, a name that does not resolve and a lookup that takes too long give
members one plain message (`unreachable`): how tribe's network resolves names is none of
their business. The operator finds the detail in the log.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from tribe.core.errors import BlockedAddressError, TribeError
from tribe.core.urls import parse_web_address

log = logging.getLogger(__name__)

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


# Resolving and checking: the one function every connection goes through. ---------------

# Seconds a name may take to resolve when the caller gives no timeout of its own.
RESOLVE_TIMEOUT = 10.0
# getaddrinfo has no timeout: it runs on these threads while the caller waits, at most
# its timeout. A lookup that hangs holds a thread until the resolver gives up.
RESOLVER_THREADS = 32

_resolver: ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()


def _resolver_pool() -> ThreadPoolExecutor:
    global _resolver  # noqa: PLW0603 - one pool per process, created on first use
    with _resolver_lock:
        if _resolver is None:
            _resolver = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="resolve")
        return _resolver


def _forget_resolver_in_child() -> None:
    global _resolver  # noqa: PLW0603 - the parent's threads do not exist after a fork
    _resolver = None


os.register_at_fork(after_in_child=_forget_resolver_in_child)


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses in resolver order (RFC 6724 preference), repeats dropped.

    Raises socket.gaierror when the name does not resolve. No timeout: see
    `checked_addresses`.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def unreachable(host: str) -> str:
    """What a member reads for a refused address, an unknown name and a lookup timeout."""
    return (
        f"tribe could not reach a public server at {host}; check the address "
        "— tribe only connects to servers on the public internet"
    )


def checked_addresses(
    host: str, port: int, policy: AddressPolicy, timeout: float | None = None
) -> list[str]:
    """The addresses of `host` that `policy` allows, in resolver order; connect only to these.

    The lookup is given at most `timeout` seconds (RESOLVE_TIMEOUT when None). Raises
    BlockedAddressError, with the same `unreachable` message, when the name does not
    resolve, takes too long, or resolves only to refused addresses.
    """
    bare = host.strip("[]")
    try:
        addresses = [str(ipaddress.ip_address(bare))]  # a literal: nothing to look up
    except ValueError:
        addresses = _lookup(bare, port, RESOLVE_TIMEOUT if timeout is None else timeout)
    allowed = [a for a in addresses if policy.refusal(a) is None]
    if allowed:
        return allowed
    if addresses:
        log.warning(
            "refused to connect to %s port %s: %s",
            host,
            port,
            ", ".join(f"{a} is {policy.refusal(a)}" for a in addresses),
        )
    raise BlockedAddressError(unreachable(host))


def check_server(url: str, policy: AddressPolicy, timeout: float | None = None) -> None:
    """A member-given server (a Mastodon instance, a Bluesky PDS, one a session moves to)
    must resolve to addresses `policy` allows; raises InvalidInputError for a malformed
    address, BlockedAddressError (`unreachable`) for one tribe will not connect to.

    An early answer, not the defence: every connection still goes through the guard.
    """
    address = parse_web_address(url, what="the server's address")
    port = address.port or (443 if address.scheme == "https" else 80)
    checked_addresses(address.host, port, policy, timeout)


def _lookup(host: str, port: int, timeout: float) -> list[str]:
    """`resolve` within `timeout`; [] (logged) when it fails or is too slow."""
    future: Future[list[str]] = _resolver_pool().submit(resolve, host, port)
    try:
        return future.result(timeout=max(timeout, 0.0))
    except FutureTimeout:
        future.cancel()
        log.info("could not resolve %s within %g s", host, timeout)
    except (OSError, ValueError) as exc:  # gaierror; a name IDNA cannot encode
        log.info("could not resolve %s: %s", host, exc)
    return []


class RedirectRefused(TribeError):
    """An API server answered with a redirect: tribe's API clients never follow one."""

    def __init__(self, host: str, status: int) -> None:
        super().__init__(
            f"{host} answered with a redirect (HTTP {status}), which tribe does not follow "
            "for a server's API; check that this is the server's own address"
        )
        self.host = host
        self.status = status


def guard_refusal(error: BaseException | None) -> BlockedAddressError | RedirectRefused | None:
    """The guard's refusal behind a library's error (its cause, context, args, reason).

    The guard raises each library's own error for a refusal (a connect error, a
    too-many-redirects error) so the library cleans up as usual; the refusal itself,
    with the member-readable message, travels as that error's cause.
    """
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, BlockedAddressError | RedirectRefused):
            return current
        reason = getattr(current, "reason", None)
        todo += [current.__cause__, current.__context__]
        todo += [a for a in (*current.args, reason) if isinstance(a, BaseException)]
    return None


REDIRECTS = frozenset({301, 302, 303, 307, 308})


# The total deadline of a fetch. ----------------------------------------------------------

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


def clamp(timeout: float | None, exc: type[Exception]) -> float | None:
    end = _deadline.get()
    if end is None:
        return timeout
    remaining = end - time.monotonic()
    if remaining <= 0:
        raise exc("the fetch took longer than its total deadline")
    return remaining if timeout is None else min(timeout, remaining)
