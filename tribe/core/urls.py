"""Web addresses members give (feeds, Mastodon instances, Bluesky PDSes), read strictly.

One parser for all of them, so a bad address is always a sentence (InvalidInputError,
a 422 on the web, one line in the CLI) and never a ValueError from deep inside a
library. A host that ends in a number is an IPv4 address in every browser and in
getaddrinfo, in whichever form it is written (`0177.0.0.1`, `0x7f.1`, `2130706433`):
it is read here the way the WHATWG URL standard reads it and written as the plain
dotted address, so what tribe checks is what the resolver would have used.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from tribe.core.errors import InvalidInputError

MAX_URL_LENGTH = 2048
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_SHOWN = 100  # characters of a bad address repeated in its error
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdef"}


@dataclass(frozen=True)
class WebAddress:
    """An absolute http(s) address: scheme and host lowercased, no credentials."""

    scheme: str
    host: str  # a DNS name, a dotted IPv4 address, or an IPv6 address without brackets
    port: int | None
    path: str
    query: str
    fragment: str

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """scheme://host[:port], the form messages name a server by."""
        return f"{self.scheme}://{self.netloc}"

    def url(self, *, fragment: bool = False) -> str:
        parts = (self.scheme, self.netloc, self.path, self.query, self.fragment if fragment else "")
        return urlunsplit(parts)


def parse_web_address(value: str, *, what: str = "the address") -> WebAddress:
    """`value` as a WebAddress, or InvalidInputError with a sentence about `what`."""
    text = value.strip()
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
    if not text:
        raise InvalidInputError(f"{what} is empty")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidInputError(f"{what} is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidInputError(f"{shown!r} is not a URL: it contains spaces")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise InvalidInputError(f"{shown!r} is not a valid web address") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not text.lower().startswith(scheme + "://"):
        raise InvalidInputError(f"{shown!r} is not a web address; it should start with https://")
    if "@" in parts.netloc:
        raise InvalidInputError(f"{what} may not hold a user name or password")
    host, port = _host_and_port(parts.netloc, shown)
    return WebAddress(
        scheme=scheme,
        host=host,
        port=port,
        path=parts.path,
        query=parts.query,
        fragment=parts.fragment,
    )


def _host_and_port(netloc: str, shown: str) -> tuple[str, int | None]:
    if netloc.startswith("["):
        end = netloc.find("]")
        literal, rest = netloc[1:end], netloc[end + 1 :]
        try:
            if end == -1 or "%" in literal:
                raise ValueError(literal)
            host = str(ipaddress.IPv6Address(literal))
        except ValueError:
            raise InvalidInputError(f"{shown!r} has an invalid IPv6 address") from None
    else:
        name, colon, port_text = netloc.partition(":")
        rest = colon + port_text
        host = _host_name(name, shown)
    if not rest or rest == ":":
        return host, None
    digits = rest[1:]
    if not rest.startswith(":") or not digits.isascii() or not digits.isdigit():
        raise InvalidInputError(f"{shown!r} has an invalid port; a port is a number")
    port = int(digits)
    if not 1 <= port <= 65535:
        raise InvalidInputError(f"{shown!r} has an invalid port; ports go from 1 to 65535")
    return host, port


def _host_name(name: str, shown: str) -> str:
    """A lowercased DNS name (Unicode names kept as given), or a dotted IPv4 address."""
    if not name:
        raise InvalidInputError(f"{shown!r} has no host name")
    name = name.lower()
    labels = name.removesuffix(".").split(".")
    last = labels[-1]
    if last.isdigit() or (last[:2] == "0x" and all(c in _DIGITS[16] for c in last[2:])):
        address = _whatwg_ipv4(labels)
        if address is None:
            raise InvalidInputError(f"{shown!r} has an invalid IPv4 address")
        return address
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInputError(f"{shown!r} has an invalid host name") from None
    ascii_labels = ascii_name.removesuffix(".").split(".")
    if len(ascii_name) > 253 or not all(_LABEL.fullmatch(label) for label in ascii_labels):
        raise InvalidInputError(f"{shown!r} has an invalid host name")
    return name


def _whatwg_ipv4(labels: list[str]) -> str | None:
    """The WHATWG URL standard's IPv4 parser: 1 to 4 parts, decimal, octal (0...) or hex."""
    if len(labels) > 4:
        return None
    numbers = []
    for label in labels:
        if label[:2] == "0x":
            digits, base = label[2:] or "0", 16
        elif len(label) > 1 and label[0] == "0":
            digits, base = label[1:], 8
        else:
            digits, base = label, 10
        if not digits or any(c not in _DIGITS[base] for c in digits):
            return None
        numbers.append(int(digits, base))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last + sum(n << (8 * (3 - i)) for i, n in enumerate(head))
    return str(ipaddress.IPv4Address(value))


def shown_link(value: str, *, most: int = 500) -> str | None:
    """A link another server gave us (where a reshare lives), fit to show as a link to a
    member: a strict http(s) address of at most `most` characters, or None. A hostile
    Mastodon instance answers what it likes (`javascript:…`, a megabyte of text)."""
    if not value or len(value) > most:
        return None
    try:
        return parse_web_address(value).url(fragment=True)
    except InvalidInputError:
        return None


def check_feed_url(url: str) -> str:
    """An absolute http(s) URL without credentials or fragment, scheme and host lowercased."""
    address = parse_web_address(url, what="the feed URL")
    path = address.path or "/"
    return urlunsplit((address.scheme, address.netloc, path, address.query, ""))


def host_of(url: str) -> str:
    """The host a feed's requests go to; the per-host politeness limit counts by it."""
    return (urlsplit(url).hostname or "").lower()


# Query parameters that carry a credential in private feeds' addresses (?token=, ?key=,
# ?auth=, ?sig=, ...): such an address is the member's, never published.
_SECRET_PARAM = re.compile(r"token|key|auth|secret|pass|sig|session|code|hash", re.IGNORECASE)


def publishable(url: str) -> bool:
    """Whether an address can be shown to the public: False when its query carries what
    looks like a credential (a private or paid feed's token), or it has a user or
    password in it."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        return False
    names = (pair.partition("=")[0] for pair in parts.query.split("&") if pair)
    return not any(_SECRET_PARAM.search(name) for name in names)
