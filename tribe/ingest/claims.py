"""Claiming due feeds: one atomic statement decides who polls what.

A claim sets a lease on the feed row. While the lease lasts no one else claims the
feed; if the poller dies (or its broker message is lost) the lease simply runs out
and the feed is due again. Leases also count what is in flight per host, which is
how the per-host concurrency limit holds across every worker on every machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    update,
)
from sqlalchemy import select as sa_select
from sqlmodel import Session, UTCDateTime, col, select

from tribe.core.kinds import FeedStatus
from tribe.infra.db import serialize
from tribe.infra.models import Feed
from tribe.ingest.fetch import Validators
from tribe.ingest.stages import FeedToPoll

_CLAIM_LOCK = "tribe.feeds.claim"


@dataclass(frozen=True)
class FeedClaim:
    """The right to poll one feed once; the token proves it to `begin_poll`.

    `feed` is what the claim read of the feed and `until` when its lease runs out: a
    poller that knows the claim reached it alone starts from them, without reading the
    feed's row again (see `poll_claims`). Only the lease's holder changes what `feed`
    holds (a poll records the validators, a permanent redirect the address), so it is
    what a read would find as long as the lease is the claim's. A feed removed in the
    meantime (which ends its lease) is then still fetched once; recording refuses it.
    """

    feed_id: int
    token: str
    feed: FeedToPoll | None = None
    until: datetime | None = None


# What a poll reads of a feed it takes up (see `to_poll`).
TO_POLL = (
    col(Feed.id),
    col(Feed.url),
    col(Feed.etag),
    col(Feed.last_modified),
    col(Feed.content_hash),
)


def to_poll(rows: Iterable[Sequence[Any]], token: str) -> list[FeedToPoll]:
    """`TO_POLL` rows, as what a poll holding `token` needs to know."""
    return [
        FeedToPoll(
            id=feed_id,
            url=url,
            validators=Validators(etag=etag, last_modified=last_modified),
            content_hash=content_hash,
            token=token,
        )
        for feed_id, url, etag, last_modified, content_hash in rows
    ]


def to_message(claims: Sequence[FeedClaim]) -> list[list[str | None]] | None:
    """What `claims` read of their feeds, as a task message carries it (JSON), in their
    order; None when one of them read nothing (the poller reads them all)."""
    if any(c.feed is None or c.until is None for c in claims):
        return None
    return [
        [
            c.feed.url,
            c.feed.validators.etag,
            c.feed.validators.last_modified,
            c.feed.content_hash,
            c.until.isoformat(),
        ]
        for c in claims
        if c.feed is not None and c.until is not None
    ]


def from_message(
    feed_ids: Sequence[int], token: str, read: Sequence[Sequence[str | None]] | None
) -> list[FeedClaim]:
    """The claims a task message carries (see `to_message`). A message without reads,
    or not one for each feed (sent by another version of tribe), gives claims without:
    the poller reads the feeds."""
    try:
        if read is not None:
            return [_claim_read(i, token, row) for i, row in zip(feed_ids, read, strict=True)]
    except (TypeError, ValueError):
        pass
    return [FeedClaim(feed_id, token) for feed_id in feed_ids]


def _claim_read(feed_id: int, token: str, row: Sequence[str | None]) -> FeedClaim:
    url, etag, last_modified, content_hash, until = row
    if not isinstance(url, str) or not all(
        value is None or isinstance(value, str) for value in (etag, last_modified, content_hash)
    ):
        raise TypeError("a feed's address and validators are strings")
    expires = datetime.fromisoformat(str(until))
    if expires.tzinfo is None:
        raise ValueError("a lease's end is an aware time")
    (feed,) = to_poll([(feed_id, url, etag, last_modified, content_hash)], token)
    return FeedClaim(feed_id, token, feed, expires)


def due_filter(
    now: datetime | BindParameter[datetime], feed_ids: Any = None
) -> ColumnElement[bool]:
    """Active, due, and not leased (or leased by a poller whose lease ran out)."""
    condition = and_(
        col(Feed.status) == FeedStatus.ACTIVE,
        col(Feed.removed_at).is_(None),
        col(Feed.next_poll_at) <= now,
        or_(col(Feed.lease_until).is_(None), col(Feed.lease_until) <= now),
    )
    if feed_ids is not None:
        condition = and_(condition, col(Feed.id).in_(feed_ids))
    return condition


@cache
def _statements(restricted: bool) -> tuple[Any, Any]:
    """The count and the claim, built once: building them costs more than running them.

    Parameters: now, per_host, window, limit, lease_until, token (and feed_ids).
    """
    now = bindparam("now", type_=UTCDateTime())
    per_host = bindparam("per_host", type_=Integer())
    leased = col(Feed.lease_until) > now
    in_flight = select(func.count()).where(leased)

    host = col(Feed.host)
    # Lanes in use, read from the leases' index: a range of at most the in-flight cap.
    # Grouped by `host || ''`, not `host`: SQLite (which keeps no statistics) would
    # rather walk the host index to group without sorting, i.e. read every feed, twice
    # per claim (10 ms a claim at 20,000 feeds). PostgreSQL hashes either way.
    lane = host.concat(literal_column("''"))
    busy = (
        select(lane.label("host"), func.count().label("n")).where(leased).group_by(lane).subquery()
    )
    in_use = func.coalesce(busy.c.n, 0)
    feed_ids: BindParameter[Any] | None = (
        bindparam("feed_ids", expanding=True) if restricted else None
    )
    # Candidates: the most overdue feeds of hosts with a free lane, read in index order
    # and cut short, so a claim costs the same with a thousand due feeds as with ten.
    # Full hosts are few (at most the in-flight cap): they are filtered out by a small
    # hashed set, and lanes are counted only for the candidates.
    full = select(busy.c.host).where(busy.c.n >= per_host)
    window = (
        select(col(Feed.id), host, col(Feed.next_poll_at))
        .where(due_filter(now, feed_ids), host.not_in(full))
        .order_by(col(Feed.next_poll_at), col(Feed.id))
        .limit(bindparam("window", type_=Integer()))
        .subquery()
    )
    candidates = (
        sa_select(window, in_use.label("in_use"))
        .outerjoin(busy, busy.c.host == window.c.host)
        .subquery()
    )
    rank = func.row_number().over(
        partition_by=candidates.c.host,
        order_by=(candidates.c.next_poll_at, candidates.c.id),
    )
    ranked = sa_select(candidates, rank.label("rank")).subquery()
    picked = (
        select(ranked.c.id)
        .where(ranked.c.rank <= per_host - ranked.c.in_use)
        .order_by(ranked.c.next_poll_at, ranked.c.id)
        .limit(bindparam("limit", type_=Integer()))
    )
    # SKIP LOCKED (PostgreSQL; SQLAlchemy leaves it out on SQLite): never wait on a feed
    # another transaction is writing.
    lockable = (
        select(col(Feed.id)).where(col(Feed.id).in_(picked)).with_for_update(skip_locked=True)
    )
    claim = (
        update(Feed)
        .where(col(Feed.id).in_(lockable))
        .values(
            lease_until=bindparam("lease_until", type_=UTCDateTime()),
            lease_token=bindparam("token"),
        )
        .returning(*TO_POLL)
    )
    return in_flight, claim


def claim_due_feeds(
    session: Session,
    *,
    now: datetime,
    limit: int,
    per_host: int,
    max_in_flight: int,
    lease: timedelta,
    feed_ids: Collection[int] | None = None,
) -> list[FeedClaim]:
    """Lease up to `limit` due feeds, at most `per_host` in flight per host.

    Claimers are serialized (advisory lock on PostgreSQL, the write lock on SQLite) so
    that counting what is in flight and leasing more is one atomic step.
    """
    serialize(session, _CLAIM_LOCK)
    in_flight, claim = _statements(feed_ids is not None)
    # Run as Core statements on the session's connection: the ORM's bulk UPDATE path
    # copied the claim and worked out its cache key again at every claim, six times
    # the cost of running it. What the session holds is written first, as it would be.
    session.flush()
    connection = session.connection()
    limit = min(limit, max_in_flight - connection.execute(in_flight, {"now": now}).scalar_one())
    if limit <= 0:
        return []
    token = str(uuid.uuid4())
    params: dict[str, Any] = {
        "now": now,
        "per_host": per_host,
        "window": limit * per_host,
        "limit": limit,
        "lease_until": now + lease,
        "token": token,
    }
    if feed_ids is not None:
        params["feed_ids"] = list(feed_ids)
    claimed = to_poll(connection.execute(claim, params).all(), token)
    until = params["lease_until"]
    return [FeedClaim(f.id, token, f, until) for f in sorted(claimed, key=lambda f: f.id)]


def make_due_now(session: Session, *, now: datetime, feed_ids: Collection[int] | None) -> int:
    """Bring feeds forward so the next claim takes them (`tribe poll --all/--feed`).

    Naming a feed explicitly also revives it if it was gone: the owner asked.
    """
    stmt = update(Feed).values(next_poll_at=now).where(col(Feed.removed_at).is_(None))
    if feed_ids is None:
        stmt = stmt.where(col(Feed.status) == FeedStatus.ACTIVE)
    else:
        stmt = stmt.where(col(Feed.id).in_(list(feed_ids))).values(status=FeedStatus.ACTIVE)
    return session.exec(stmt).rowcount
