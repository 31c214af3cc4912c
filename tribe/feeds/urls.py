"""Feed addresses: what we accept from a member, and the host they count against."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from tribe.errors import InvalidInputError

MAX_URL_LENGTH = 2048


def check_feed_url(url: str) -> str:
    """An absolute http(s) URL without credentials or fragment, scheme and host lowercased."""
    value = url.strip()
    if not value:
        raise InvalidInputError("the feed URL is empty")
    if len(value) > MAX_URL_LENGTH:
        raise InvalidInputError(f"the feed URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() for ch in value):
        raise InvalidInputError(f"{url!r} is not a URL: it contains spaces")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise InvalidInputError(f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInputError(f"{url!r} is not a web address; feed URLs start with https://")
    if not parts.hostname:
        raise InvalidInputError(f"{url!r} has no host name")
    if parts.username or parts.password:
        raise InvalidInputError("feed URLs with a user name or password are not supported")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def host_of(url: str) -> str:
    """The host a feed's requests go to; the per-host politeness limit counts by it."""
    return (urlsplit(url).hostname or "").lower()
