"""Blog icons for public tribes' pages: fetched by tribe, checked, kept, served by tribe.

A stranger's browser never loads an image from a member's server (the page's policy
allows images from tribe only): beat's `tribe.icons.scan` looks hourly (`ICONS_EVERY`,
workers/queues.py) for the feeds of members shown on a public tribe whose icon is missing or a
week old, and enqueues one `tribe.icons.fetch(feed_id)` each. That task checks again
that the feed is due (a task can arrive twice), fetches with no session open, and
records the outcome in `FeedIcon`, a row per feed:

- what it fetches: the feed's own image (`Feed.image_url`, from RSS <image> or Atom
  <icon>/<logo>), else `/favicon.ico` of the blog's site; through the feed fetcher, so
  through the guarded transport (every redirect hop checked: no private address), with
  a 64 KB cap and a deadline of a few seconds;
- what it keeps: a PNG, JPEG, GIF, WebP or ICO image recognised by its first bytes,
  whatever the server called it. Never SVG: it can carry script;
- a fetch that finds nothing usable keeps the icon stored before (if any) and writes
  why in `note`; either way the feed is not asked again for `REFRESH_EVERY`.

`/t/{slug}/icons/{feed_id}` serves the stored bytes with their checked type
(`public_icon`), only for the feeds of members that tribe's page shows.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urljoin

from sqlalchemy import ColumnElement, and_, exists, not_, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from config import Settings
from tribe.alliance.public import public_row, shown_member_ids
from tribe.core.errors import BlockedAddressError, FetchError, NotFoundError
from tribe.core.kinds import MembershipStatus
from tribe.infra.db import dialect_insert, read_scope, session_scope
from tribe.infra.models import Feed, FeedIcon, Membership, Tribe
from tribe.ingest import fetch_config
from tribe.ingest.fetch import FetchConfig, Fetcher

log = logging.getLogger("tribe.icons")

MAX_BYTES = 64 * 1024
SECONDS = 5.0  # a fetch's deadline at most
REFRESH_EVERY = timedelta(days=7)
SCAN_BATCH = 100  # feeds enqueued per pass at most; the rest wait for the next pass
NOTE_LENGTH = 300  # FeedIcon.note
NOT_AN_IMAGE = "not a PNG, JPEG, GIF, WebP or ICO image (SVG is never used: it can hold script)"


def sniff_image(data: bytes) -> str | None:
    """The content type of a raster image by its first bytes, or None: what the server
    says the type is counts for nothing."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"\x00\x00\x01\x00" and len(data) > 6:
        return "image/x-icon"
    return None


@dataclass(frozen=True)
class IconConfig:
    """The feed fetcher's settings, narrowed for an icon: small and quick."""

    fetch: FetchConfig

    @classmethod
    def from_settings(cls, settings: Settings) -> IconConfig:
        base = fetch_config(settings)
        return cls(
            replace(
                base,
                max_bytes=MAX_BYTES,
                timeout=min(base.timeout, SECONDS),
                deadline=min(base.deadline, SECONDS),
            )
        )


@dataclass(frozen=True)
class Fetched:
    """What a fetch found: an image (`content_type` set) or, with none, why."""

    source_url: str
    content_type: str = ""
    data: bytes = b""
    note: str = ""


@dataclass(frozen=True)
class IconFile:
    """A stored icon, as served."""

    content_type: str
    data: bytes
    etag: str


# --- which feeds are due ------------------------------------------------------------------


def _on_public_pages() -> SelectOfScalar[int]:
    """SQL: members shown on at least one public tribe's page."""
    return (
        select(col(Membership.member_id))
        .join(Tribe, col(Tribe.id) == col(Membership.tribe_id))
        .where(
            col(Tribe.is_public),
            col(Membership.status) == MembershipStatus.ACTIVE,
            not_(col(Membership.public_hidden)),
        )
    )


def _due(now: datetime) -> list[ColumnElement[bool]]:
    """SQL: the feed is shown on a public page, has somewhere to look for an icon, and
    was not asked for one in the last `REFRESH_EVERY`."""
    fresh = exists().where(
        col(FeedIcon.feed_id) == col(Feed.id), col(FeedIcon.fetched_at) > now - REFRESH_EVERY
    )
    return [
        col(Feed.removed_at).is_(None),
        col(Feed.owner_id).in_(_on_public_pages()),
        or_(
            and_(col(Feed.image_url).is_not(None), col(Feed.image_url) != ""),
            col(Feed.site_url) != "",
        ),
        not_(fresh),
    ]


def icons_due(session: Session, *, now: datetime, limit: int = SCAN_BATCH) -> list[int]:
    """Ids of feeds due an icon fetch, at most `limit`."""
    found = session.exec(
        select(col(Feed.id)).where(*_due(now)).order_by(col(Feed.id)).limit(limit)
    ).all()
    return [feed_id for feed_id in found if feed_id is not None]


def icon_urls(image_url: str | None, site_url: str) -> tuple[str, ...]:
    """Where to look, in order: the feed's image, then the site's /favicon.ico."""
    urls = [image_url] if image_url else []
    if site_url:
        urls.append(urljoin(site_url, "/favicon.ico"))
    return tuple(dict.fromkeys(urls))


# --- fetching and recording ---------------------------------------------------------------


def _why(exc: FetchError) -> str:
    """A refusal in words about an icon (the fetcher's own speak of a feed)."""
    if isinstance(exc, BlockedAddressError):
        return str(exc)
    if exc.status is not None:
        return f"the server answered HTTP {exc.status}"
    if "larger than" in str(exc):
        return f"larger than {MAX_BYTES // 1024} KB, the most an icon may be"
    return str(exc)


def fetch_icon(urls: tuple[str, ...], fetcher: Fetcher) -> Fetched:
    """The first of `urls` that gives an image tribe accepts, or why none did."""
    notes = []
    for url in urls:
        try:
            result = fetcher.fetch(url)
        except FetchError as exc:
            notes.append(f"{url}: {_why(exc)}")
            continue
        data = result.body or b""
        kind = sniff_image(data)
        if kind is None:
            notes.append(f"{url}: {NOT_AN_IMAGE}")
            continue
        return Fetched(source_url=url, content_type=kind, data=data)
    note = "; ".join(notes) or "the feed names no image and no site"
    return Fetched(source_url=urls[0] if urls else "", note=note[:NOTE_LENGTH])


def record_icon(session: Session, feed_id: int, fetched: Fetched, *, now: datetime) -> None:
    """Keep a fetch's outcome: a new image replaces the stored one; no image keeps it
    (with the note of why none came this time). One row per feed, whoever writes first."""
    if fetched.content_type:
        values = {
            "source_url": fetched.source_url[:2048],
            "content_type": fetched.content_type,
            "data": fetched.data,
            "etag": '"' + hashlib.sha256(fetched.data).hexdigest()[:32] + '"',
            "note": "",
            "fetched_at": now,
        }
    else:
        values = {"note": fetched.note[:NOTE_LENGTH], "fetched_at": now}
    stmt = dialect_insert(session, FeedIcon).values(feed_id=feed_id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["feed_id"], set_=values))


def refresh_icon(
    feed_id: int, *, now: datetime, config: IconConfig, fetcher: Fetcher | None = None
) -> Fetched | None:
    """Fetch and keep the icon of feed #`feed_id` if it is still due; None when it is
    not (another task did it, the member hid, the tribe went private)."""
    with read_scope() as session:
        row = session.exec(
            select(col(Feed.image_url), col(Feed.site_url)).where(
                col(Feed.id) == feed_id, *_due(now)
            )
        ).first()
    if row is None:
        return None
    own = fetcher is None
    client = fetcher or Fetcher(config.fetch)
    try:
        fetched = fetch_icon(icon_urls(*row), client)
    finally:
        if own:
            client.close()
    with session_scope() as session:
        record_icon(session, feed_id, fetched, now=now)
    log.info("feed %s: %s", feed_id, fetched.content_type or f"no icon: {fetched.note}")
    return fetched


# --- serving --------------------------------------------------------------------------------


def public_icon(session: Session, *, slug: str, feed_id: int) -> IconFile:
    """The stored icon of feed #`feed_id`, if the public tribe `slug` shows its owner;
    otherwise not found, in the same words whatever the reason."""
    tribe = public_row(session, slug)
    assert tribe.id is not None
    found = session.exec(
        select(FeedIcon)
        .join(Feed, col(Feed.id) == col(FeedIcon.feed_id))
        .where(
            col(FeedIcon.feed_id) == feed_id,
            col(FeedIcon.content_type) != "",
            col(Feed.removed_at).is_(None),
            col(Feed.owner_id).in_(shown_member_ids(tribe.id)),
        )
    ).first()
    if found is None:
        raise NotFoundError(f"{tribe.slug} shows no icon #{feed_id}")
    return IconFile(content_type=found.content_type, data=found.data, etag=found.etag)
