"""Link cards: what a post's page says about itself, and its picture made fit to attach.

A Bluesky post carries a card for its link (a title, a description, a thumbnail); the
network does not make one itself, the poster does (as the official app does). So tribe
reads the article's page: `og:title`, `og:description`, `og:image` (Twitter's names
next, then `<title>` and the meta description, then the feed's own title and summary),
and fetches the picture. A card is a nicety, never a reason for a post to fail: every
way this can go wrong (a slow or missing page, an image that is not one, a refused
address) ends in a card without a picture, logged, and nothing raised.

The page and the picture are addresses a blogger gave, so they are fetched like feeds:
through the guard on every connection and redirect hop (tribe/infra/transports.py), with
a total deadline, the body capped before it is read (only the page's `<head>`, at most
`PAGE_MAX_BYTES`; `IMAGE_MAX_BYTES` of image) and compressed bodies inflated only up to
that cap. A picture is decoded by Pillow from a few formats only, refused above
`MAX_PIXELS` before its pixels are decoded (a decompression bomb declares a huge canvas
in a few kilobytes), and re-encoded as a JPEG that fits the network's limit when it is
over it or not a JPEG, PNG or WebP.

Many tribemates reshare the same post, each from their own account: `LinkCards` keeps
what pages and pictures said for `CACHE_TTL` seconds, failures included, in a cache
bounded by bytes, so a worker asks a blogger's server once per post, not once per
tribemate. (Deliveries keep the card they made in their `progress`: a retry never asks
again, whatever the cache holds.)
"""

from __future__ import annotations

import io
import logging
import re
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Generic, TypeVar
from urllib.parse import urljoin

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError

from config import Settings
from tribe.core.errors import InvalidInputError, TribeError
from tribe.core.urls import parse_web_address
from tribe.infra.identity import user_agent
from tribe.infra.netguard import REDIRECTS, AddressPolicy, deadline, guard_refusal
from tribe.infra.transports import guarded_client
from tribe.networks.base import address_policy

log = logging.getLogger(__name__)

PAGE_MAX_BYTES = 1024 * 1024  # of HTML, at most: the <head> is what is read
IMAGE_MAX_BYTES = 5 * 1024 * 1024  # of image as the server sends it
MAX_PIXELS = 24_000_000  # 6000 x 4000; a canvas larger than this is never decoded
THUMB_MAX_SIDE = 2000  # pixels: a re-encoded picture fits in this square
TIMEOUT = 3.0  # seconds for each connect, read and write
DEADLINE = 4.0  # seconds for one whole fetch (the page, or the picture), redirects included
MAX_REDIRECTS = 3
# Seconds: short, as a page may change; reshares spread over a day ask once per TTL.
CACHE_TTL = 600.0
CACHE_MAX_BYTES = 32 * 1024 * 1024

DEFAULT_USER_AGENT = "tribe (link cards)"
_PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_IMAGE_ACCEPT = "image/jpeg, image/png, image/webp, image/*;q=0.8"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# Formats Pillow may decode here; the first three pass through when small enough.
_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
_KEPT_AS_IS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_JPEG_QUALITIES = (85, 70, 55)
_SMALLEST_SIDE = 200  # below this a picture is no use on a card: give up
_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HEAD_END = re.compile(rb"</head\s*>|<body[\s>]", re.IGNORECASE)


class CardError(TribeError):
    """Why a page or a picture gave nothing for a card (logged, never shown to a member)."""


@dataclass(frozen=True)
class PageCard:
    """What a card says about a page: never empty of title (the feed's own at worst)."""

    url: str
    title: str
    description: str
    image_url: str | None  # absolute http(s), or None when the page names no picture


@dataclass(frozen=True)
class Thumbnail:
    """A picture ready to upload: at most the size it was prepared for."""

    data: bytes
    mime_type: str


@dataclass(frozen=True)
class PageMeta:
    """What a page's <head> says about itself (empty strings where it says nothing)."""

    title: str = ""
    description: str = ""
    image: str = ""  # as written: maybe relative


# What pages and pictures said --------------------------------------------------------

V = TypeVar("V")


@dataclass(frozen=True)
class Cached(Generic[V]):
    value: V  # what was found; None for a failure, cached all the same


class TTLCache(Generic[V]):
    """A few minutes of answers by URL, the oldest dropped beyond `max_bytes` in total.

    Thread-safe: a worker's threads share it. Two threads asking for one URL at the same
    moment may both fetch it; the next ones find it here.
    """

    def __init__(
        self,
        *,
        max_bytes: int = CACHE_MAX_BYTES,
        ttl: float = CACHE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes, self.ttl, self.clock = max_bytes, ttl, clock
        self._entries: OrderedDict[str, tuple[float, int, Cached[V]]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Cached[V] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, size, cached = entry
            if expires <= self.clock():
                del self._entries[key]
                self._size -= size
                return None
            self._entries.move_to_end(key)
            return cached

    def put(self, key: str, value: V, size: int) -> None:
        """Keep `value` (`size` bytes) under `key`; one larger than the cache is not kept."""
        size += len(key)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._entries[key] = (self.clock() + self.ttl, size, Cached(value))
            self._size += size
            while self._size > self.max_bytes:
                _, (_, dropped, _) = self._entries.popitem(last=False)
                self._size -= dropped


# Reading a page's head ----------------------------------------------------------------


class _HeadParser(HTMLParser):
    """Collects <title> and the <meta> tags of a page's head; stops at its body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "body":
            self.done = True
        elif tag == "title":
            self._in_title = True
        elif tag == "meta":
            values = {name.lower(): value or "" for name, value in attrs}
            name = (values.get("property") or values.get("name") or "").strip().lower()
            if name and name not in self.meta and values.get("content", "").strip():
                self.meta[name] = values["content"].strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "head":
            self.done = True

    def handle_data(self, data: str) -> None:
        if self._in_title and not self.done:
            self.title += data


def read_head(html: bytes, content_type: str = "") -> PageMeta:
    """The card's words and picture as a page's <head> gives them (pure: no I/O).

    Open Graph first, Twitter's names next, then <title> and the meta description.
    The charset comes from the Content-Type header, else from the page, else UTF-8.
    """
    parser = _HeadParser()
    parser.feed(_text(html, content_type))
    parser.close()
    meta = parser.meta

    def first(*names: str) -> str:
        return next((meta[n] for n in names if meta.get(n)), "")

    return PageMeta(
        title=" ".join((first("og:title", "twitter:title") or parser.title).split()),
        description=" ".join(first("og:description", "twitter:description", "description").split()),
        image=first("og:image:secure_url", "og:image", "og:image:url", "twitter:image"),
    )


def _text(html: bytes, content_type: str) -> str:
    found = _CHARSET.search(content_type.encode("latin-1", "replace")) or _CHARSET.search(
        html[:4096]
    )
    charset = found.group(1).decode("ascii", "replace") if found else "utf-8"
    try:
        return html.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know (or no text one): the web's default
        return html.decode("utf-8", errors="replace")


# Preparing a picture ------------------------------------------------------------------


def prepare_thumbnail(data: bytes, *, max_bytes: int) -> Thumbnail:
    """The picture as a network takes it: as it is when it is a JPEG, PNG or WebP of at
    most `max_bytes`, else downscaled into THUMB_MAX_SIDE and re-encoded as a JPEG that
    fits. Raises CardError for what cannot be decoded or is too large to decode (pure)."""
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise CardError(f"the picture is {width} x {height} pixels, too many to decode")
            kind = _KEPT_AS_IS.get(image.format or "")
            if kind is not None and len(data) <= max_bytes:
                image.load()  # it must decode whole, or the card shows a broken picture
                return Thumbnail(data, kind)
            image.draft("RGB", (THUMB_MAX_SIDE, THUMB_MAX_SIDE))  # JPEG: decode smaller
            return Thumbnail(_as_jpeg(image, max_bytes), "image/jpeg")
    except CardError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise CardError(f"not a picture tribe can read ({error})") from error
    except Exception as error:
        # A damaged file makes Pillow's decoders raise OSError, SyntaxError, but also
        # IndexError, struct.error...: whatever a stranger's bytes do, the card goes on.
        raise CardError(f"the picture is damaged ({type(error).__name__}: {error})") from error


def _as_jpeg(image: Image.Image, max_bytes: int) -> bytes:
    """A JPEG of `image` within `max_bytes`: smaller quality first, then fewer pixels."""
    # Shrunk in place first: the one full-size decode is the only full-size copy (a
    # 24-megapixel RGBA picture is ~96 MB; turning and flattening it whole would be more).
    image.thumbnail((THUMB_MAX_SIDE, THUMB_MAX_SIDE), Image.Resampling.LANCZOS)
    flat = _flatten(ImageOps.exif_transpose(image))  # EXIF goes: keep the orientation
    side = THUMB_MAX_SIDE
    while side >= _SMALLEST_SIDE:
        frame = flat.copy()
        frame.thumbnail((side, side), Image.Resampling.LANCZOS)
        for quality in _JPEG_QUALITIES:
            out = io.BytesIO()
            frame.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
            if out.tell() <= max_bytes:
                return out.getvalue()
        side //= 2
    raise CardError(f"the picture does not fit in {max_bytes} bytes even when small")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for JPEG: transparent parts become white, as on a page."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, "white")
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


# Fetching ------------------------------------------------------------------------------


class LinkCards:
    """Cards for posts' links, fetched politely and kept a few minutes (see above)."""

    def __init__(
        self,
        *,
        policy: AddressPolicy,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: float = TIMEOUT,
        deadline: float = DEADLINE,
        pages: TTLCache[PageMeta | None] | None = None,
        pictures: TTLCache[Thumbnail | None] | None = None,
    ) -> None:
        self.policy = policy
        self.user_agent = user_agent
        self.timeout = timeout
        self.deadline = deadline
        self.pages: TTLCache[PageMeta | None] = pages or TTLCache()
        self.pictures: TTLCache[Thumbnail | None] = pictures or TTLCache()

    @classmethod
    def from_settings(cls, settings: Settings) -> LinkCards:
        """Cards as the operator configured tribe to knock on bloggers' servers."""
        return cls(policy=address_policy(settings), user_agent=user_agent(settings))

    def describe(self, url: str, *, title: str, summary: str) -> PageCard:
        """The card for `url`: what its page says, else the feed's `title` and `summary`."""
        meta = self._page(url) or PageMeta()
        image = _absolute(url, meta.image) if meta.image else None
        return PageCard(
            url=url,
            title=meta.title or " ".join(title.split()),
            description=meta.description or " ".join(summary.split()),
            image_url=image,
        )

    def thumbnail(self, image_url: str, *, max_bytes: int) -> Thumbnail | None:
        """The picture at `image_url` within `max_bytes`, or None (logged) when there is none."""
        key = f"{max_bytes} {image_url}"
        cached = self.pictures.get(key)
        if cached is not None:
            return cached.value
        picture: Thumbnail | None = None
        try:
            data = self._get(image_url, accept=_IMAGE_ACCEPT, limit=IMAGE_MAX_BYTES)
            picture = prepare_thumbnail(data.body, max_bytes=max_bytes)
        except CardError as error:
            log.info("link card picture %s left out: %s", image_url, error)
        self.pictures.put(key, picture, len(picture.data) if picture else 0)
        return picture

    def _page(self, url: str) -> PageMeta | None:
        cached = self.pages.get(url)
        if cached is not None:
            return cached.value
        meta: PageMeta | None = None
        try:
            page = self._get(url, accept=_PAGE_ACCEPT, limit=PAGE_MAX_BYTES, head_only=True)
            if not page.content_type.startswith(_HTML_TYPES):
                raise CardError(f"the page is {page.content_type or 'of no type'}, not HTML")
            meta = read_head(page.body, page.content_type)
        except CardError as error:
            log.info("link card for %s made from the feed alone: %s", url, error)
        size = len(meta.title) + len(meta.description) + len(meta.image) if meta else 0
        self.pages.put(url, meta, size)
        return meta

    def _get(self, url: str, *, accept: str, limit: int, head_only: bool = False) -> _Body:
        """GET `url` within the deadline, redirects followed hop by hop (each one guarded);
        CardError for anything but a 200 with a body within `limit`."""
        try:
            with (
                deadline(self.deadline),
                guarded_client(
                    self.policy,
                    self.timeout,
                    refuse_redirects=False,  # followed below, hop by hop, each one guarded
                    headers={
                        "User-Agent": self.user_agent,
                        "Accept": accept,
                        "Accept-Encoding": "gzip",
                    },
                ) as http,
            ):
                current = _web_address(url)
                for _ in range(MAX_REDIRECTS + 1):
                    with http.stream("GET", current) as response:
                        location = response.headers.get("location")
                        if response.status_code in REDIRECTS and location:
                            current = _web_address(urljoin(current, location))
                            continue
                        if response.status_code != 200:
                            raise CardError(f"the server answered HTTP {response.status_code}")
                        body = _read(response, limit, head_only=head_only)
                        kind = response.headers.get("content-type", "").strip().lower()
                        return _Body(body, kind)
                raise CardError(f"more than {MAX_REDIRECTS} redirects")
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as error:
            refused = guard_refusal(error)
            raise CardError(str(refused) if refused else type(error).__name__) from error


@dataclass(frozen=True)
class _Body:
    body: bytes
    content_type: str


def _web_address(url: str) -> str:
    """An http(s) address as strictly as a member's (a page may point anywhere)."""
    try:
        return parse_web_address(url, what="the address").url()
    except InvalidInputError as error:
        raise CardError(str(error)) from None


def _absolute(page_url: str, image: str) -> str | None:
    try:
        return _web_address(urljoin(page_url, image))
    except CardError:
        return None  # a data: URL, a javascript: one, nonsense: no picture


def _read(response: httpx.Response, limit: int, *, head_only: bool) -> bytes:
    """The body, inflated no further than `limit`; a page only up to the end of its head."""
    declared = response.headers.get("content-length", "")
    if not head_only and declared.isdigit() and int(declared) > limit:
        raise CardError(f"the answer is {declared} bytes, over tribe's {limit}")
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        inflate: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding in ("", "identity"):
        inflate = None
    else:
        raise CardError(f"the answer is encoded as {encoding!r}, which tribe did not ask for")
    body = bytearray()
    for chunk in response.iter_raw():
        searched = max(len(body) - 16, 0)  # "</head>" may straddle two chunks
        if inflate is None:
            body += chunk
        else:
            try:
                body += inflate.decompress(chunk, limit + 1 - len(body))
            except zlib.error as error:
                raise CardError(f"the answer is corrupt ({error})") from error
        if head_only and _HEAD_END.search(body, searched):
            return bytes(body)  # the rest of the page is not for the card
        if len(body) > limit or (inflate is not None and inflate.unconsumed_tail):
            if head_only:
                return bytes(body[:limit])  # a head this long: read what there is
            raise CardError(f"the answer is over tribe's {limit} bytes")
    return bytes(body)
