"""What a blogger sees of their feeds: when each is checked next, and what became of its
recent posts (announced to whom, shared how often, or why not)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from tribe.core.kinds import DeliveryState, FeedStatus, ReshareKind
from tribe.infra.models import Delivery, Member, Post, StreamItem
from tribe.ingest.check import duration_words, plural
from tribe.ingest.feeds import FeedInfo, list_feeds

RECENT = 10  # posts shown per feed


class Fate(StrEnum):
    """What the poll that found a post did with it (see `decide.announcement`)."""

    ANNOUNCED = "announced"
    BASELINE = "baseline"  # recorded by the feed's first successful poll, not announced
    TOO_OLD = "too_old"  # dated more than TRIBE_MAX_ENTRY_AGE before it was found
    NO_LINK = "no_link"  # nothing a tribemate could share
    REPUBLISHED = "republished"  # a new guid on a link the feed had already
    NOT_ANNOUNCED = "not_announced"  # none of the above: kept for what the rules become


@dataclass(frozen=True)
class RecentPost:
    id: int
    feed_id: int
    title: str
    link: str | None  # its web link; None when it has none (never a `javascript:` one)
    published_at: datetime | None
    discovered_at: datetime
    fate: Fate
    reached: int  # stream items made: tribemates it was announced to
    shared: int  # reshares sent by tribemates
    why: str  # the fate in words


@dataclass(frozen=True)
class FeedCard:
    """One feed on the Feeds page."""

    info: FeedInfo
    next_check: str
    recent: tuple[RecentPost, ...]


def is_web_link(url: str) -> bool:
    """The rule of `stream.shareable_url`: only an http(s) link can be shared."""
    return url.startswith(("http://", "https://"))


def fate_of(
    *,
    announced: bool,
    url: str,
    published_at: datetime | None,
    discovered_at: datetime,
    first_found: datetime,
    relinked: bool,
    max_age: timedelta,
) -> Fate:
    """Why a post was (not) announced, from what is stored about it.

    The posts found first are the baseline: that poll announces at most the newest.
    `published_at` is stored clamped to the time it was found, so an age is their gap.
    """
    if announced:
        return Fate.ANNOUNCED
    if discovered_at == first_found:
        return Fate.BASELINE
    if published_at is not None and discovered_at - published_at > max_age:
        return Fate.TOO_OLD
    if not is_web_link(url):
        return Fate.NO_LINK
    if relinked:
        return Fate.REPUBLISHED
    return Fate.NOT_ANNOUNCED


def fate_words(fate: Fate, *, reached: int, shared: int, max_age: timedelta) -> str:
    if fate == Fate.ANNOUNCED:
        if not reached:
            return "announced, but it reached no tribemate (none then, or they muted this blog)"
        times = f"shared {plural(shared, 'time')}" if shared else "not shared yet"
        return f"announced to {plural(reached, 'tribemate')} · {times}"
    return {
        Fate.BASELINE: "not announced: it was already there at the first check",
        Fate.TOO_OLD: f"not announced: older than {duration_words(max_age)} when found",
        Fate.NO_LINK: "not announced: no web link (it must start with http:// or https://)",
        Fate.REPUBLISHED: "not announced: the feed had this link already (republished)",
        Fate.NOT_ANNOUNCED: "not announced",
    }[fate]


def recent_posts(
    session: Session, *, feed_ids: Sequence[int], max_age: timedelta, limit: int = RECENT
) -> dict[int, tuple[RecentPost, ...]]:
    """The newest `limit` posts of each feed with their fate, in one query for them all."""
    if not feed_ids:
        return {}
    ids = list(feed_ids)
    newest_first = (
        col(Post.discovered_at).desc(),
        func.coalesce(col(Post.published_at), col(Post.discovered_at)).desc(),
        col(Post.id).desc(),
    )
    rank = func.row_number().over(partition_by=col(Post.feed_id), order_by=newest_first)
    ranked = (
        select(col(Post.id).label("id"), rank.label("rank"))
        .where(col(Post.feed_id).in_(ids))
        .subquery()
    )
    first = (
        select(col(Post.feed_id).label("feed_id"), func.min(col(Post.discovered_at)).label("at"))
        .where(col(Post.feed_id).in_(ids))
        .group_by(col(Post.feed_id))
        .subquery()
    )
    reached = (
        select(func.count())
        .where(col(StreamItem.post_id) == col(Post.id))
        .correlate(Post)
        .scalar_subquery()
    )
    shared = (
        select(func.count())
        .where(
            col(Delivery.post_id) == col(Post.id),
            col(Delivery.state) == DeliveryState.SENT,
            col(Delivery.dry_run).is_(False),  # logged by a dry run: not a share
            col(Delivery.kind) != ReshareKind.ANNOUNCE,  # the author's own post of it
        )
        .correlate(Post)
        .scalar_subquery()
    )
    earlier = aliased(Post)
    relinked = (
        select(col(earlier.id))
        .where(
            col(earlier.feed_id) == col(Post.feed_id),
            col(earlier.url) == col(Post.url),
            col(earlier.discovered_at) < col(Post.discovered_at),
        )
        .correlate(Post)
        .exists()
    )
    rows = session.execute(
        sa_select(Post, reached, shared, relinked, first.c.at)
        .join(ranked, ranked.c.id == col(Post.id))
        .join(first, first.c.feed_id == col(Post.feed_id))
        .where(ranked.c.rank <= limit)
        .order_by(col(Post.feed_id), ranked.c.rank)
    ).all()
    found: dict[int, list[RecentPost]] = {}
    for post, reach, shares, seen, first_found in rows:
        assert post.id is not None
        fate = fate_of(
            announced=post.announced,
            url=post.url,
            published_at=post.published_at,
            discovered_at=post.discovered_at,
            first_found=first_found,
            relinked=bool(seen),
            max_age=max_age,
        )
        found.setdefault(post.feed_id, []).append(
            RecentPost(
                id=post.id,
                feed_id=post.feed_id,
                title=post.title,
                link=post.url if is_web_link(post.url) else None,
                published_at=post.published_at,
                discovered_at=post.discovered_at,
                fate=fate,
                reached=reach,
                shared=shares,
                why=fate_words(fate, reached=reach, shared=shares, max_age=max_age),
            )
        )
    return {feed_id: tuple(posts) for feed_id, posts in found.items()}


def next_check(*, status: FeedStatus, next_poll_at: datetime | None, now: datetime) -> str:
    """When the poller comes back to a feed, counted from `now`: "in 12 min", "due now"."""
    if status == FeedStatus.GONE or next_poll_at is None:
        return "none: the feed is gone"
    minutes = math.ceil((next_poll_at - now).total_seconds() / 60)
    if minutes <= 0:
        return "due now"
    if minutes < 60:
        return f"in {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"in {hours} h" + (f" {minutes} min" if minutes else "")


def feed_cards(
    session: Session,
    *,
    member: Member,
    now: datetime,
    max_age: timedelta,
    feed_id: int | None = None,
) -> list[FeedCard]:
    """The owner's feeds (or one of them) as the Feeds page shows them, in a few queries
    however many posts they have."""
    feeds = list_feeds(session, owner=member, feed_id=feed_id)
    recent = recent_posts(session, feed_ids=[f.id for f in feeds], max_age=max_age)
    return [
        FeedCard(
            info=info,
            next_check=next_check(status=info.status, next_poll_at=info.next_poll_at, now=now),
            recent=recent.get(info.id, ()),
        )
        for info in feeds
    ]
