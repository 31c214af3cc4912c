"""Counting reshares: the window, the tally, and the SQL that sums a tribe's reshares
and decisions (the rules are written in `tribe.alliance.reciprocity`'s docstring).

A reshare counts in a tribe only when its stream item reached the sharer while sharer
and author were both members (`counted_in`); the database groups by pair and by UTC
day (`utc_day`, compiled for SQLite and PostgreSQL) and reads each reshare's reach at
send time through the (account, day) index of `ReachSnapshot`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    CTE,
    ColumnElement,
    Date,
    FromClause,
    Select,
    SQLColumnExpression,
    and_,
    case,
    func,
    null,
    or_,
    type_coerce,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import DeliveryState, MembershipStatus, Network, ReshareKind, StreamState
from tribe.infra.models import (
    Account,
    Delivery,
    Feed,
    Membership,
    Post,
    ReachSnapshot,
    StreamItem,
    Tribe,
)

WINDOWS = (7, 30, 90, 365)  # the windows pages offer
DEFAULT_DAYS = 30
MAX_DAYS = 365

AnySelect = Select[*tuple[Any, ...]]  # any number of columns
_S = TypeVar("_S", bound=AnySelect)


def check_days(days: int) -> int:
    """A window in days; the API and CLI take any from 1 to 365, the pages offer WINDOWS."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInputError(
            f"days must be a whole number from 1 to {MAX_DAYS} (not {days}); "
            f"the pages offer {', '.join(map(str, WINDOWS))}"
        )
    return days


def window(days: int, now: datetime | None) -> tuple[datetime, datetime]:
    """[since, until): the `days` before `now`, in UTC (SQLite compares stored UTC times
    as text, so a moment in another zone would shift the window)."""
    until = aware(now or datetime.now(UTC)).astimezone(UTC)
    return until - timedelta(days=check_days(days)), until


def aware(moment: datetime) -> datetime:
    # SQLite gives stored UTC times back without their zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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

    def add_items(self, state: StreamState, count: int) -> None:
        """`count` stream items the sharer left pending, skipped or let expire."""
        if state == StreamState.PENDING:
            self.pending += count
        elif state == StreamState.SKIPPED:
            self.skipped += count
        elif state == StreamState.EXPIRED:
            self.expired += count
        else:  # approved items are counted by their reshares, withdrawn ones not at all
            raise ValueError(f"a tally does not count {state.value} items")

    def add(self, other: Tally) -> None:
        # Field by field, not through `fields()`: a big tribe adds tens of thousands.
        self.sent += other.sent
        self.dry_run += other.dry_run
        self.pending += other.pending
        self.skipped += other.skipped
        self.expired += other.expired
        self.reach += other.reach
        self.reach_unknown += other.reach_unknown

    @property
    def decided(self) -> int:
        return self.sent + self.dry_run + self.skipped + self.expired

    @property
    def empty(self) -> bool:
        """Nothing at all to show: no reshare, and no item waiting or decided."""
        return self.decided + self.pending == 0


# --- the SQL pieces ------------------------------------------------------------------------


class utc_day(FunctionElement[date]):
    """SQL: the UTC calendar day of a stored moment, the day `ReachSnapshot` rows are
    kept by. PostgreSQL must be told the zone (the session's own would shift the day);
    SQLite stores UTC times already."""

    type = Date()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day)
def _utc_day_elsewhere(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"tribe runs on SQLite or PostgreSQL, not {compiler.dialect.name}")


def _followers_then() -> ColumnElement[int | None]:
    """SQL, per delivery: its account's followers on the latest reading on or before the
    UTC day it went out (NULL: no reading yet, or the network would not say); one step
    down the (account, day) unique index."""
    return (
        sa_select(col(ReachSnapshot.followers))
        .where(
            col(ReachSnapshot.account_id) == col(Delivery.account_id),
            col(ReachSnapshot.day) <= utc_day(col(Delivery.sent_at)),
        )
        .order_by(col(ReachSnapshot.day).desc())
        .limit(1)
        .correlate(Delivery)
        .scalar_subquery()
    )


def _reach_given() -> Any:
    """SQL, per delivery: the followers it reached, NULL for unknown and for a dry run
    (which reached nobody)."""
    return case((col(Delivery.dry_run), None), else_=_followers_then()).label("followers")


def _reshares(*columns: Any, since: datetime, until: datetime) -> AnySelect:
    """SQL: `columns` of the reshares that went out in [since, until), a row each (with
    the sharer's `Account` and the author's `Feed` joined): never a delivery's text."""
    return (
        sa_select(*columns)
        .select_from(Delivery)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .join(Post, col(Post.id) == col(Delivery.post_id))
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .where(
            col(Delivery.state) == DeliveryState.SENT,
            col(Delivery.kind) != ReshareKind.ANNOUNCE,
            # An author's own account sharing their own post is no tribemate's reshare.
            col(Account.member_id) != col(Feed.owner_id),
            col(Delivery.sent_at) >= since,
            col(Delivery.sent_at) < until,
        )
    )


def _member_then(
    membership: type[Membership], moment: SQLColumnExpression[datetime]
) -> ColumnElement[bool]:
    """SQL: `moment` falls within the membership: from joining until leaving, or until
    now for an active one. One that ended at an unrecorded time holds no moment at all."""
    return and_(
        moment >= col(membership.joined_at),
        or_(
            and_(
                col(membership.status) == MembershipStatus.ACTIVE,
                col(membership.left_at).is_(None),
            ),
            and_(
                col(membership.status) == MembershipStatus.LEFT,
                moment < col(membership.left_at),
            ),
        ),
    )


def _while_both_in(
    stmt: _S,
    tribe_id: int,
    *,
    sharer: SQLColumnExpression[int],
    author: SQLColumnExpression[int],
    moments: Sequence[SQLColumnExpression[datetime]],
) -> _S:
    """`stmt` narrowed to the rows whose `moments` (when the item reached the sharer)
    all fall while sharer and author were both members of the tribe (a membership row
    is unique per tribe and member, so no row is doubled)."""
    for member_id in (sharer, author):
        membership = aliased(Membership)
        stmt = stmt.join(
            membership,
            and_(
                col(membership.tribe_id) == tribe_id,
                col(membership.member_id) == member_id,
                *(_member_then(membership, moment) for moment in moments),
            ),
        )
    return stmt


def counted_in(tribe_id: int, *, since: datetime, until: datetime) -> CTE:
    """SQL: the reshares that count in the tribe over [since, until), with their UTC day
    and reach; materialized, so that the pairs and the days read one computation (the
    reach lookups are most of its cost)."""
    # When the post reached the sharer: their stream item's arrival. Every approval
    # links its item; a delivery without one (today only an author's announcement,
    # which is no reshare) must have been both queued and sent while both were in.
    arrived = col(StreamItem.created_at)
    moments = (
        func.coalesce(arrived, col(Delivery.created_at)),
        func.coalesce(arrived, col(Delivery.sent_at)),
    )
    stmt = _reshares(
        col(Account.member_id).label("sharer_id"),
        col(Feed.owner_id).label("author_id"),
        col(Delivery.dry_run),
        _reach_given(),
        utc_day(col(Delivery.sent_at)).label("day"),
        since=since,
        until=until,
    ).outerjoin(StreamItem, col(StreamItem.id) == col(Delivery.stream_item_id))
    return (
        _while_both_in(
            stmt,
            tribe_id,
            sharer=col(Account.member_id),
            author=col(Feed.owner_id),
            moments=moments,
        )
        .cte("counted")
        .prefix_with("MATERIALIZED")
    )


def _sums(rows: FromClause) -> list[Any]:
    """SQL aggregates of reshare rows, named like Tally's fields."""
    real = rows.c.dry_run.is_(False)

    def total(expression: Any) -> Any:
        return func.coalesce(func.sum(expression), 0)

    return [
        total(case((real, 1), else_=0)).label("sent"),
        total(case((real, 0), else_=1)).label("dry_run"),
        total(rows.c.followers).label("reach"),  # NULL (unknown, or a dry run) adds nothing
        total(case((and_(real, rows.c.followers.is_(None)), 1), else_=0)).label("reach_unknown"),
    ]


def _tally(row: Any) -> Tally:
    return Tally(
        sent=int(row.sent),
        dry_run=int(row.dry_run),
        reach=int(row.reach),
        reach_unknown=int(row.reach_unknown),
    )


class DaySent(NamedTuple):
    """The reshares sent on one UTC day and the reach they brought (no dry runs)."""

    day: date
    sent: int
    reach: int


def pairs_and_days(
    session: Session, counted: CTE
) -> tuple[dict[tuple[int, int], Tally], list[DaySent]]:
    """The counted reshares summed per (sharer, author) pair, and per UTC day sent for
    real (for the trend), in one statement: pair rows have no day, day rows no pair."""
    by_pair = sa_select(
        counted.c.sharer_id,
        counted.c.author_id,
        type_coerce(null(), Date).label("day"),
        *_sums(counted),
    ).group_by(counted.c.sharer_id, counted.c.author_id)
    by_day = (
        sa_select(null(), null(), counted.c.day, *_sums(counted))
        .where(counted.c.dry_run.is_(False))
        .group_by(counted.c.day)
    )
    pairs: dict[tuple[int, int], Tally] = {}
    days: list[DaySent] = []
    for row in session.execute(union_all(by_pair, by_day)):
        if row.day is None:
            pairs[(row.sharer_id, row.author_id)] = _tally(row)
        else:
            days.append(DaySent(row.day, int(row.sent), int(row.reach)))
    return pairs, days


# --- what the views ask ------------------------------------------------------------------


def sent_reshares(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    author_ids: Iterable[int] | None = None,
    post_ids: Iterable[int] | None = None,
) -> list[Reshare]:
    """The reshares that went out in [since, until), oldest first, each with the
    followers its account had then (in any tribe: a list for one author's posts)."""
    stmt = _reshares(
        col(Delivery.id).label("delivery_id"),
        col(Account.member_id).label("sharer_id"),
        col(Feed.owner_id).label("author_id"),
        col(Delivery.post_id),
        col(Delivery.account_id),
        col(Account.network),
        col(Account.handle),
        col(Delivery.kind),
        col(Delivery.sent_at),
        col(Delivery.dry_run),
        col(Delivery.remote_url),
        _reach_given(),
        since=since,
        until=until,
    ).order_by(col(Delivery.sent_at), col(Delivery.id))
    if author_ids is not None:
        stmt = stmt.where(col(Feed.owner_id).in_(list(author_ids)))
    if post_ids is not None:
        stmt = stmt.where(col(Delivery.post_id).in_(list(post_ids)))
    return [
        Reshare(
            delivery_id=row.delivery_id,
            sharer_id=row.sharer_id,
            author_id=row.author_id,
            post_id=row.post_id,
            account_id=row.account_id,
            network=Network(row.network),
            handle=row.handle,
            kind=ReshareKind(row.kind),
            sent_at=aware(row.sent_at),
            dry_run=bool(row.dry_run),
            remote_url=row.remote_url,
            followers=row.followers,
        )
        for row in session.execute(stmt)
    ]


def reshares_of(session: Session, *, author_id: int, since: datetime, until: datetime) -> Tally:
    """Every reshare of the author's posts that went out in [since, until), in any
    tribe, summed: sent, dry runs and reach (the decisions are the tribe view's)."""
    rows = (
        _reshares(col(Delivery.dry_run), _reach_given(), since=since, until=until)
        .where(col(Feed.owner_id) == author_id)
        .subquery()
    )
    return _tally(session.execute(sa_select(*_sums(rows))).one())


def decisions(
    session: Session, tribe: Tribe, *, since: datetime, until: datetime
) -> dict[tuple[int, int], Tally]:
    """(sharer, author) → the sharer's pending, skipped and expired items of the
    author's posts that reached them while both were in the tribe: pending ones that
    arrived in the window, the others decided in it."""
    when = func.coalesce(col(StreamItem.decided_at), col(StreamItem.created_at))
    stmt = (
        select(col(StreamItem.member_id), col(Feed.owner_id), col(StreamItem.state), func.count())
        .join(Post, col(Post.id) == col(StreamItem.post_id))
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .where(
            col(StreamItem.state).in_(
                [StreamState.PENDING, StreamState.SKIPPED, StreamState.EXPIRED]
            ),
            when >= since,
            when < until,
        )
        .group_by(col(StreamItem.member_id), col(Feed.owner_id), col(StreamItem.state))
    )
    stmt = _while_both_in(
        stmt,
        tribe.id or 0,
        sharer=col(StreamItem.member_id),
        author=col(Feed.owner_id),
        moments=[col(StreamItem.created_at)],
    )
    tallies: dict[tuple[int, int], Tally] = defaultdict(Tally)
    for sharer_id, author_id, state, count in session.exec(stmt).all():
        tallies[(sharer_id, author_id)].add_items(StreamState(state), count)
    return dict(tallies)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sharers_per_post(
    session: Session, *, tribe_id: int, post_ids: Sequence[int], now: datetime | None = None
) -> dict[int, int]:
    """How many of the tribe's active members sent a reshare of each post (dry runs and
    an author's announcements of their own posts are no reshares); posts nobody shared
    are absent. What the public page and the letter's draft show."""
    if not post_ids:
        return {}
    members = set(
        session.exec(
            select(col(Membership.member_id)).where(
                col(Membership.tribe_id) == tribe_id,
                col(Membership.status) == MembershipStatus.ACTIVE,
            )
        ).all()
    )
    sharers: dict[int, set[int]] = defaultdict(set)
    for r in sent_reshares(
        session, since=_EPOCH, until=now or datetime.now(UTC), post_ids=post_ids
    ):
        if not r.dry_run and r.kind != ReshareKind.ANNOUNCE and r.sharer_id in members:
            sharers[r.post_id].add(r.sharer_id)
    return {post_id: len(who) for post_id, who in sharers.items()}
