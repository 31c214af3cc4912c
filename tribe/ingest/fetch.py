"""Fetching a feed politely: conditional GET, capped size, total deadline, few redirects.

feedparser can fetch URLs itself, but without a timeout or a size cap; we fetch the
bytes here and hand them to the parser together with the response headers.
"""

from __future__ import annotations

import email.utils
import re
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import httpx

from tribe.core.errors import BlockedAddressError, FetchError, InvalidInputError
from tribe.core.urls import check_feed_url
from tribe.infra.netguard import AddressPolicy, deadline, guard_refusal
from tribe.infra.transports import GuardedTransport

MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json;q=0.5, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
# The headers feedparser uses to read the document, passed on exactly as received.
_PARSER_HEADERS = ("content-type", "content-language", "last-modified")


@dataclass(frozen=True)
class FetchConfig:
    """What a fetch may cost: its limits come from settings."""

    user_agent: str
    policy: AddressPolicy
    timeout: float = 10.0
    deadline: float = 30.0
    max_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class Validators:
    """What we send back so the server can answer 304 Not Modified."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """A feed document, or the news that it has not changed since last time."""

    url: str  # where the document was finally found
    moved_to: str | None  # the new address when every redirect on the way was permanent
    status: int
    body: bytes | None  # None when not modified; b"" once a poll has read it
    headers: Mapping[str, str]  # the headers feedparser needs
    validators: Validators
    max_age: timedelta | None

    @property
    def not_modified(self) -> bool:
        return self.body is None


class HTTPStatusError(FetchError):
    """The server answered with an error status; `retry_after` is its own advice."""

    def __init__(self, message: str, *, status: int, retry_after: timedelta | None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class GoneError(HTTPStatusError):
    """410 Gone: the feed is not coming back at this address."""


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After is either seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


def parse_max_age(cache_control: str | None) -> timedelta | None:
    if not cache_control:
        return None
    match = re.search(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", cache_control, re.IGNORECASE)
    return timedelta(seconds=int(match.group(1))) if match else None


def _describe_status(status: int, host: str) -> str:
    if status == 410:
        return (
            f"{host} says the feed is gone for good (HTTP 410), so tribe stopped polling it. "
            "If the blog moved, add its new feed address."
        )
    if status == 404:
        return f"{host} has no feed at this address (HTTP 404). Check the URL."
    if status in (401, 403):
        return f"{host} refused to send the feed (HTTP {status}); it may need to be public."
    if status == 429:
        return f"{host} asked tribe to slow down (HTTP 429); it will wait before trying again."
    if status >= 500:
        return f"{host} had a server error (HTTP {status}); tribe will try again later."
    return f"{host} answered HTTP {status} instead of the feed."


class _Decoder:
    """Content-Encoding decoding that stops at a size limit, so a gzip bomb is harmless.

    httpx would decode for us, but without a limit on how much one compressed chunk
    expands to; here each call is bounded by what is left of the cap.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self._limit = limit
        self._size = 0
        self._zlib: zlib._Decompress | None = None
        self._first = True
        encoding = encoding.strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding not in ("", "identity", "deflate"):
            raise FetchError(f"the server used a content encoding tribe cannot read: {encoding}")
        self._deflate = encoding == "deflate"

    def feed(self, chunk: bytes) -> bytes:
        if self._deflate and self._first and chunk:
            # "deflate" should be zlib-wrapped; some servers send raw deflate.
            wbits = zlib.MAX_WBITS if (chunk[0] & 0x0F) == 8 else -zlib.MAX_WBITS
            self._zlib = zlib.decompressobj(wbits)
        self._first = False
        remaining = self._limit - self._size
        if self._zlib is None:
            out = chunk
        else:
            try:
                out = self._zlib.decompress(chunk, remaining + 1)
            except zlib.error as exc:
                raise FetchError(f"the server sent a corrupt compressed body ({exc})") from exc
            if self._zlib.unconsumed_tail:
                out += b"x"  # more output is waiting: over the limit either way
        self._size += len(out)
        if self._size > self._limit:
            raise FetchError(
                f"the feed is larger than {self._limit // (1024 * 1024)} MiB, "
                "tribe's limit; it may need fewer or shorter entries"
            )
        return out


class Fetcher:
    """HTTP clients for a process, each keeping its connections alive between fetches.

    Requests are spread over several clients by host. One client would do, but httpcore
    guards its pool with one lock that every request and every response close takes
    while scanning all pooled connections: with a hundred hosts and sixteen threads
    that scan and that lock were a third of a warm sweep's time.
    """

    SHARDS = 16

    def __init__(self, config: FetchConfig) -> None:
        self.config = config
        self._ssl_context = httpx.create_ssl_context(trust_env=False)
        self._clients: dict[int, httpx.Client] = {}
        self._lock = threading.Lock()

    def _client(self, url: str) -> httpx.Client:
        shard = zlib.crc32(_host(url).encode()) % self.SHARDS
        with self._lock:
            client = self._clients.get(shard)
            if client is None:
                client = self._clients[shard] = httpx.Client(
                    transport=GuardedTransport(self.config.policy, self._ssl_context),
                    timeout=httpx.Timeout(self.config.timeout),
                    follow_redirects=False,
                    trust_env=False,
                    event_hooks={"response": [_read_location]},
                    headers={
                        "User-Agent": self.config.user_agent,
                        "Accept": _ACCEPT,
                        "Accept-Encoding": "gzip, deflate",
                    },
                )
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def fetch(self, url: str, validators: Validators | None = None) -> FetchResult:
        """GET `url` (conditionally), following at most five redirects, within the deadline."""
        validators = validators or Validators()
        try:
            with deadline(self.config.deadline):
                return self._fetch(url, validators)
        except FetchError:
            raise
        except httpx.TimeoutException as exc:
            raise FetchError(
                f"{_host(url)} was too slow: the feed did not arrive within "
                f"{self.config.deadline:g} seconds"
            ) from exc
        except httpx.TooManyRedirects as exc:  # pragma: no cover - we follow redirects ourselves
            raise FetchError(str(exc)) from exc
        except httpx.HTTPError as exc:
            refused = guard_refusal(exc)
            if isinstance(refused, BlockedAddressError):  # a plain refusal, no library words
                raise BlockedAddressError(str(refused)) from None
            reason = str(exc) or type(exc).__name__
            raise FetchError(f"could not fetch the feed from {_host(url)}: {reason}") from exc
        except httpx.InvalidURL as exc:  # what our parser let through and httpx does not
            raise FetchError(f"{_host(url)} gave an address tribe cannot use ({exc})") from None

    def _fetch(self, url: str, validators: Validators) -> FetchResult:
        seen: list[str] = []
        moved_to: str | None = None
        all_permanent = True
        current = url
        headers = {}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        while True:
            current = _checked(current)
            seen.append(current)
            with self._client(current).stream("GET", current, headers=headers) as response:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    target = response.headers["location"]  # absolute and checked
                    all_permanent = all_permanent and response.status_code in _PERMANENT
                    if all_permanent:
                        moved_to = target
                    if target in seen:
                        raise FetchError(f"the feed address redirects in a loop ({target})")
                    if len(seen) > MAX_REDIRECTS:
                        raise FetchError(
                            f"the feed address redirects more than {MAX_REDIRECTS} times"
                        )
                    current = target
                    continue
                return self._finish(response, current, moved_to)

    def _finish(self, response: httpx.Response, url: str, moved_to: str | None) -> FetchResult:
        now = datetime.now(UTC)
        status = response.status_code
        if status == 304:
            # Read to its end (a 304 has no body): httpcore hands a connection back to
            # the pool only after a whole response; left unread, it closes it, and the
            # next poll of the host pays a new TCP (and TLS) handshake.
            response.read()
            body = None
        elif status == 200:
            body = self._read_body(response)
        else:
            retry_after = parse_retry_after(response.headers.get("retry-after"), now)
            error = GoneError if status == 410 else HTTPStatusError
            raise error(
                _describe_status(status, _host(url)), status=status, retry_after=retry_after
            )
        parser_headers = {k: response.headers[k] for k in _PARSER_HEADERS if k in response.headers}
        return FetchResult(
            url=url,
            moved_to=moved_to,
            status=status,
            body=body,
            headers=parser_headers,
            validators=Validators(
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            ),
            max_age=parse_max_age(response.headers.get("cache-control")),
        )

    def _read_body(self, response: httpx.Response) -> bytes:
        limit = self.config.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(
                f"the feed is larger than {limit // (1024 * 1024)} MiB, "
                "tribe's limit; it may need fewer or shorter entries"
            )
        decoder = _Decoder(response.headers.get("content-encoding", ""), limit)
        parts = [decoder.feed(chunk) for chunk in response.iter_raw()]
        return b"".join(parts)


def _read_location(response: httpx.Response) -> None:
    """Read a redirect's Location our way, before httpx builds the next request from it.

    httpx refuses forms a resolver accepts (`http://0177.0.0.1/` is 127.0.0.1 to
    getaddrinfo) with a protocol error; read strictly here, they are either written
    plainly (and checked by the guard like any address) or a clear FetchError.
    """
    if response.status_code in _REDIRECTS and "location" in response.headers:
        location = response.headers["location"]
        try:
            target = urljoin(str(response.url), location)
        except ValueError:
            raise FetchError(
                f"the feed redirects to an invalid address ({location!r:.100})"
            ) from None
        response.headers["location"] = _checked(target)


def _checked(url: str) -> str:
    """Every hop is read as strictly as an address a member typed (feeds/urls.py)."""
    try:
        return check_feed_url(url)
    except InvalidInputError as exc:
        if url.partition(":")[0].lower() not in ("http", "https"):
            raise FetchError(
                f"tribe only fetches http and https addresses, not {url.partition(':')[0]}:"
            ) from None
        raise FetchError(str(exc)) from None


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or url
    except httpx.InvalidURL:
        return url
