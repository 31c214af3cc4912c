"""Who shares whom: the reshares tribemates gave each other, and the reach they brought.

The unit is a reshare: one delivery of one post to one of the sharer's accounts that a
network confirmed (`sent`, not in a dry run). Reach given is the followers that account
had when the reshare went out: the latest daily reading (`ReachSnapshot`) on or before
that day; with none, or a network that would not say (X's lower API tiers), it is
unknown and counted as such, never guessed. Around the reshares, the sharer's decisions
on the author's posts: pending (waiting for them), skipped, expired.

What counts, and where:

- A reshare is counted in every tribe the sharer and the author are (or were) both
  members of: a post shared between two people who share two tribes shows in both
  tribes' numbers, and once in the author's own view. Stream items do not record the
  tribe they came through, so this is the only honest attribution.
- A member who left keeps their history: their rows stay in the tribe's numbers for the
  window, marked as having left.
- Dry-run reshares were logged, never posted: they are counted apart (`dry_run`) and
  bring no reach.
- The author's own announcements (`announce`) are not reshares; reposts (the network's
  native reshare) and posts with the sharer's text both are.

Counts only: nothing here reads a queue's texts.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import DeliveryState, MembershipStatus, Network, ReshareKind, StreamState
from tribe.infra.models import (
    Account,
    Delivery,
    Feed,
    Member,
    Membership,
    Post,
    ReachSnapshot,
    StreamItem,
    Tribe,
)

WINDOWS = (7, 30, 90, 365)  # the windows pages offer
DEFAULT_DAYS = 30


def check_days(days: int) -> int:
    """A window in days; the API and CLI take any from 1 to 365."""
    if not 1 <= days <= 365:
        raise InvalidInputError(f"days must be between 1 and 365, not {days}")
    return days


@dataclass(frozen=True)
class Reshare:
    """One reshare that went out."""

    delivery_id: int
    sharer_id: int
    author_id: int
    post_id: int
    account_id: int
    network: Network
    handle: str
    kind: ReshareKind  # post or repost
    sent_at: datetime
    dry_run: bool
    remote_url: str | None
    followers: int | None  # the account's followers when it went out; None: unknown


@dataclass
class Tally:
    """The numbers of one pair (sharer → author), or one member's totals."""

    sent: int = 0
    dry_run: int = 0
    pending: int = 0
    skipped: int = 0
    expired: int = 0
    reach: int = 0  # followers reached by the sent reshares whose reach is known
    reach_unknown: int = 0  # sent reshares whose account's followers are unknown

    def add_reshare(self, reshare: Reshare) -> None:
        if reshare.dry_run:
            self.dry_run += 1
            return
        self.sent += 1
        if reshare.followers is None:
            self.reach_unknown += 1
        else:
            self.reach += reshare.followers

    def add(self, other: Tally) -> None:
        for name in ("sent", "dry_run", "pending", "skipped", "expired", "reach", "reach_unknown"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def decided(self) -> int:
        return self.sent + self.dry_run + self.skipped + self.expired


def _aware(moment: datetime) -> datetime:
    # SQLite gives stored UTC times back without their zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def sent_reshares(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    sharer_ids: Iterable[int] | None = None,
    author_ids: Iterable[int] | None = None,
    post_ids: Iterable[int] | None = None,
) -> list[Reshare]:
    """The reshares that went out in [since, until), oldest first, each with the
    followers its account had then."""
    stmt = (
        select(Delivery, Account, col(Feed.owner_id))
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .join(Post, col(Post.id) == col(Delivery.post_id))
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .where(
            col(Delivery.state) == DeliveryState.SENT,
            col(Delivery.kind) != ReshareKind.ANNOUNCE,
            col(Account.member_id) != col(Feed.owner_id),
            col(Delivery.sent_at) >= since,
            col(Delivery.sent_at) < until,
        )
        .order_by(col(Delivery.sent_at), col(Delivery.id))
    )
    if sharer_ids is not None:
        stmt = stmt.where(col(Account.member_id).in_(list(sharer_ids)))
    if author_ids is not None:
        stmt = stmt.where(col(Feed.owner_id).in_(list(author_ids)))
    if post_ids is not None:
        stmt = stmt.where(col(Delivery.post_id).in_(list(post_ids)))
    rows = [
        Reshare(
            delivery_id=delivery.id or 0,
            sharer_id=account.member_id,
            author_id=author_id,
            post_id=delivery.post_id,
            account_id=delivery.account_id,
            network=account.network,
            handle=account.handle,
            kind=delivery.kind,
            sent_at=_aware(delivery.sent_at or delivery.updated_at),
            dry_run=delivery.dry_run,
            remote_url=delivery.remote_url,
            followers=None,
        )
        for delivery, account, author_id in session.exec(stmt).all()
    ]
    real = [r for r in rows if not r.dry_run]  # a dry run reached nobody
    followers = _followers_at(session, [(r.account_id, r.sent_at.date()) for r in real])
    return [
        replace(r, followers=followers[(r.account_id, r.sent_at.date())]) if not r.dry_run else r
        for r in rows
    ]


def _followers_at(
    session: Session, wanted: Sequence[tuple[int, date]]
) -> dict[tuple[int, date], int | None]:
    """Each (account, day) → the followers of the latest reading on or before that day."""
    if not wanted:
        return {}
    accounts = {account_id for account_id, _ in wanted}
    last_day = max(day for _, day in wanted)
    readings: dict[int, tuple[list[date], list[int | None]]] = defaultdict(lambda: ([], []))
    for account_id, day, followers in session.exec(
        select(col(ReachSnapshot.account_id), col(ReachSnapshot.day), col(ReachSnapshot.followers))
        .where(col(ReachSnapshot.account_id).in_(accounts), col(ReachSnapshot.day) <= last_day)
        .order_by(col(ReachSnapshot.account_id), col(ReachSnapshot.day))
    ):
        days, counts = readings[account_id]
        days.append(day)
        counts.append(followers)
    found: dict[tuple[int, date], int | None] = {}
    for account_id, day in wanted:
        days, counts = readings.get(account_id, ([], []))
        at = bisect.bisect_right(days, day)
        found[(account_id, day)] = counts[at - 1] if at else None
    return found


def decisions(
    session: Session, *, since: datetime, until: datetime, member_ids: Iterable[int]
) -> dict[tuple[int, int], Tally]:
    """(sharer, author) → the sharer's pending, skipped and expired items of the
    author's posts: pending ones that arrived in the window, the others decided in it."""
    ids = list(member_ids)
    when = func.coalesce(col(StreamItem.decided_at), col(StreamItem.created_at))
    rows = session.exec(
        select(col(StreamItem.member_id), col(Feed.owner_id), col(StreamItem.state), func.count())
        .join(Post, col(Post.id) == col(StreamItem.post_id))
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .where(
            col(StreamItem.member_id).in_(ids),
            col(Feed.owner_id).in_(ids),
            col(StreamItem.state).in_(
                [StreamState.PENDING, StreamState.SKIPPED, StreamState.EXPIRED]
            ),
            when >= since,
            when < until,
        )
        .group_by(col(StreamItem.member_id), col(Feed.owner_id), col(StreamItem.state))
    ).all()
    tallies: dict[tuple[int, int], Tally] = defaultdict(Tally)
    for sharer_id, author_id, state, count in rows:
        tally = tallies[(sharer_id, author_id)]
        setattr(tally, StreamState(state).value, getattr(tally, StreamState(state).value) + count)
    return dict(tallies)


@dataclass(frozen=True)
class Person:
    member_id: int
    name: str
    email: str
    left: bool  # no longer an active member of the tribe


@dataclass(frozen=True)
class TrendPoint:
    start: date  # the first day of the bucket (UTC)
    days: int  # how many days it spans
    sent: int
    reach: int


@dataclass
class TribeReciprocity:
    """A tribe's numbers over a window."""

    slug: str
    name: str
    days: int
    since: datetime
    until: datetime
    people: list[Person]  # active members by name, then those who left (with numbers)
    pairs: dict[tuple[int, int], Tally]  # (sharer, author) → their numbers
    trend: list[TrendPoint]
    given: dict[int, Tally] = field(default_factory=dict)  # member → what they shared
    received: dict[int, Tally] = field(default_factory=dict)  # member → shared of theirs

    def pair(self, sharer_id: int, author_id: int) -> Tally:
        return self.pairs.get((sharer_id, author_id)) or Tally()

    @property
    def total(self) -> Tally:
        whole = Tally()
        for tally in self.pairs.values():
            whole.add(tally)
        return whole


def _tribe_people(session: Session, tribe: Tribe) -> list[Person]:
    rows = session.exec(
        select(Member, col(Membership.status))
        .join(Membership, col(Membership.member_id) == col(Member.id))
        .where(
            col(Membership.tribe_id) == tribe.id,
            col(Membership.status).in_([MembershipStatus.ACTIVE, MembershipStatus.LEFT]),
        )
        .order_by(col(Member.display_name), col(Member.id))
    ).all()
    return [
        Person(m.id or 0, m.display_name, m.email, status == MembershipStatus.LEFT)
        for m, status in rows
    ]


def bucket_days(days: int) -> int:
    """How many days one point of the trend spans: a day up to a month, then weeks,
    then 30-day months, so a chart has at most about 50 points."""
    return 1 if days <= 31 else 7 if days <= 120 else 30


def trend(
    reshares: Sequence[Reshare], *, since: datetime, until: datetime, days: int
) -> list[TrendPoint]:
    """Reshares sent (and the reach they brought) per bucket, oldest first; the last
    bucket ends at `until`."""
    width = bucket_days(days)
    count = max(1, math.ceil((until - since) / timedelta(days=width)))
    starts = [until - timedelta(days=width * (count - i)) for i in range(count)]
    sent = [0] * count
    reach = [0] * count
    for reshare in reshares:
        if reshare.dry_run:
            continue
        at = min(count - 1, max(0, bisect.bisect_right(starts, reshare.sent_at) - 1))
        sent[at] += 1
        reach[at] += reshare.followers or 0
    return [
        TrendPoint(start=starts[i].date(), days=width, sent=sent[i], reach=reach[i])
        for i in range(count)
    ]


def tribe_reciprocity(
    session: Session, tribe: Tribe, *, days: int = DEFAULT_DAYS, now: datetime | None = None
) -> TribeReciprocity:
    """The tribe's matrix, each member's given and received, and the trend over `days`.
    Who may see it is the caller's to check (`tribe.members.tribes.visible_tribe`)."""
    until = now or datetime.now(UTC)
    since = until - timedelta(days=check_days(days))
    people = _tribe_people(session, tribe)
    ids = [p.member_id for p in people]
    reshares = sent_reshares(session, since=since, until=until, sharer_ids=ids, author_ids=ids)
    pairs: dict[tuple[int, int], Tally] = defaultdict(Tally)
    for reshare in reshares:
        pairs[(reshare.sharer_id, reshare.author_id)].add_reshare(reshare)
    for key, tally in decisions(session, since=since, until=until, member_ids=ids).items():
        pairs[key].add(tally)
    given: dict[int, Tally] = {p.member_id: Tally() for p in people}
    received: dict[int, Tally] = {p.member_id: Tally() for p in people}
    for (sharer_id, author_id), tally in pairs.items():
        given[sharer_id].add(tally)
        received[author_id].add(tally)
    # Who left shows only while they have numbers in the window.
    shown = [
        p
        for p in people
        if not p.left or given[p.member_id].decided or received[p.member_id].decided
    ]
    shown.sort(key=lambda p: (p.left, p.name.casefold(), p.member_id))
    return TribeReciprocity(
        slug=tribe.slug,
        name=tribe.name,
        days=days,
        since=since,
        until=until,
        people=shown,
        pairs=dict(pairs),
        trend=trend(reshares, since=since, until=until, days=days),
        given={p.member_id: given[p.member_id] for p in shown},
        received={p.member_id: received[p.member_id] for p in shown},
    )


@dataclass(frozen=True)
class SharedPost:
    """One of the author's posts and the reshares it got."""

    post_id: int
    title: str
    url: str
    published_at: datetime | None
    reshares: list[Reshare]  # sent and dry-run, oldest first
    sharer_names: dict[int, str]

    @property
    def reach(self) -> int:
        return sum(r.followers or 0 for r in self.reshares if not r.dry_run)

    @property
    def reach_unknown(self) -> int:
        return sum(1 for r in self.reshares if not r.dry_run and r.followers is None)

    @property
    def sent(self) -> int:
        return sum(1 for r in self.reshares if not r.dry_run)


def _my_posts(author: Member, since: datetime) -> SelectOfScalar[Post]:
    return (
        select(Post)
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .where(col(Feed.owner_id) == author.id, col(Post.discovered_at) >= since)
    )


def shared_posts(
    session: Session,
    *,
    author: Member,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[SharedPost], int]:
    """The author's posts found in the window, newest first, each with who shared it,
    where and when (a page of them with `limit` and `offset`), and how many there are."""
    until = now or datetime.now(UTC)
    since = until - timedelta(days=check_days(days))
    found = _my_posts(author, since)
    total = session.exec(select(func.count()).select_from(found.subquery())).one()
    posts = session.exec(
        found.order_by(col(Post.discovered_at).desc(), col(Post.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    ids = [p.id or 0 for p in posts]
    reshares = sent_reshares(
        session, since=since, until=until, author_ids=[author.id or 0], post_ids=ids
    )
    names = dict(
        session.exec(
            select(col(Member.id), col(Member.display_name)).where(
                col(Member.id).in_({r.sharer_id for r in reshares})
            )
        ).all()
    )
    by_post: dict[int, list[Reshare]] = defaultdict(list)
    for reshare in reshares:
        by_post[reshare.post_id].append(reshare)
    return [
        SharedPost(
            post_id=p.id or 0,
            title=p.title,
            url=p.url,
            published_at=_aware(p.published_at) if p.published_at else None,
            reshares=by_post.get(p.id or 0, []),
            sharer_names={
                r.sharer_id: names.get(r.sharer_id, "") for r in by_post.get(p.id or 0, [])
            },
        )
        for p in posts
    ], int(total)
