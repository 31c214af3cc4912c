"""The chief's health panel: who has gone quiet, whose feed or accounts keep their posts
from moving, who receives far more than they give, and whether the tribe still writes.

Each rule is one function here, tested on its own, with the current moment passed in.
Only the tribe's active members are judged (someone who left is no longer the chief's
worry); the chief is judged like everyone else, so the panel is the same for all.

The rules, exactly:

- **Quiet** (`quiet_members`): no decision of the member's own for 14 days, although
  something reached their stream meanwhile. A decision is an item they approved by hand
  or skipped (`StreamItem.decided_at`; automatic approvals and expiries are not theirs).
  The silence is counted from their latest decision, or from the day they joined this
  tribe when that is later: a newcomer is not judged on the time before they came.
  It must have lasted 14 days, and at least one item must have reached their stream
  during it (one not approved automatically, not withdrawn): a quiet tribe does not make
  its members quiet, and a member who joined less than 14 days ago is never flagged.
- **Failing feed** (`failing_feeds`): a feed of theirs (not removed) that answered "gone"
  or whose last 3 polls failed in a row, shown with the feed's own error. One failed
  poll is usually a blip the next poll mends, so it is not flagged.
- **No active account** (`members_without_account`): none of their accounts is connected
  and switched on (`tribe.alliance.reach.active_account_ids`): nothing they approve can
  go out.
- **Receives far more than gives** (`imbalanced_members`): over 90 days, reshares of
  their posts sent by tribemates ("received") against their reshares of tribemates'
  posts ("gave"), as `tribe.alliance.reciprocity` counts them (sent for real, dry runs
  apart). Flagged at 5 received or more and at least 3 times what they gave, shown
  plainly: "received 12, gave 1".
- **Silent tribe** (`tribe_silence`): no new post (`Post.discovered_at`) from any active
  member's feed in 30 days, counted from the tribe's creation when that is later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func
from sqlmodel import Session, col, select

from tribe.alliance.reach import active_account_ids
from tribe.alliance.reciprocity import tribe_reciprocity
from tribe.core.errors import ForbiddenError, NotFoundError
from tribe.core.kinds import FeedStatus, MembershipStatus, StreamState
from tribe.infra.models import Account, Feed, Member, Membership, Post, StreamItem, Tribe
from tribe.members.tribes import chief_tribe

QUIET_AFTER = timedelta(days=14)
FEED_FAILING_AFTER = 3  # polls failed in a row
BALANCE_DAYS = 90
BALANCE_MIN_RECEIVED = 5
BALANCE_FACTOR = 3
SILENT_AFTER = timedelta(days=30)


@dataclass(frozen=True)
class Rules:
    """The thresholds, as the panel and the CLI state them."""

    quiet_days: int = QUIET_AFTER.days
    feed_errors: int = FEED_FAILING_AFTER
    balance_days: int = BALANCE_DAYS
    balance_min: int = BALANCE_MIN_RECEIVED
    balance_factor: int = BALANCE_FACTOR
    silent_days: int = SILENT_AFTER.days


RULES = Rules()

# The member's own decisions: what they approved by hand or skipped.
OWN_DECISIONS = (StreamState.APPROVED, StreamState.SKIPPED)


def aware(moment: datetime) -> datetime:
    """A stored time with its zone (SQLite gives stored UTC times back without it)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def whole_days(span: timedelta) -> int:
    return max(0, span.days)


@dataclass(frozen=True)
class Who:
    """An active member of the tribe, as the panel names them."""

    member_id: int
    name: str
    email: str
    joined_at: datetime  # when they joined this tribe


@dataclass(frozen=True)
class Quiet:
    who: Who
    last_decision: datetime | None  # their latest own decision; None: never
    quiet_since: datetime  # that decision, or when they joined the tribe if later
    days: int  # whole days of silence
    waiting: int  # items that reached their stream since, for them to decide


@dataclass(frozen=True)
class FailingFeed:
    who: Who
    feed_id: int
    url: str  # scheme, host and path only: a private feed's token stays the member's
    title: str
    gone: bool  # the server said the feed is gone for good: polling stopped
    errors: int  # polls failed in a row
    error: str  # the feed's own error text, as the poller recorded it
    last_success_at: datetime | None


@dataclass(frozen=True)
class Imbalance:
    who: Who
    received: int  # reshares of their posts by tribemates, over BALANCE_DAYS
    gave: int  # their reshares of tribemates' posts, over BALANCE_DAYS

    @property
    def words(self) -> str:
        return f"received {self.received}, gave {self.gave}"


@dataclass(frozen=True)
class Silence:
    """The tribe has had no new post for `days` days."""

    last_post_at: datetime | None  # None: no post ever
    days: int


@dataclass(frozen=True)
class Health:
    """What the panel saw in one tribe at `now`."""

    slug: str
    name: str
    now: datetime
    members: list[Who]  # the active members judged, by name
    quiet: list[Quiet]
    failing_feeds: list[FailingFeed]
    no_account: list[Who]
    imbalance: list[Imbalance]
    silence: Silence | None  # None: a new post came within SILENT_AFTER

    def findings(self, member_id: int) -> list[str]:
        """What the panel saw about one member, in words (empty: nothing)."""
        found = [
            f"no decision in {q.days} days ({_posts(q.waiting)} reached their stream since)"
            for q in self.quiet
            if q.who.member_id == member_id
        ]
        found += [
            f"feed {f.title or f.url} is {'gone' if f.gone else 'failing'}: {f.error}"
            for f in self.failing_feeds
            if f.who.member_id == member_id
        ]
        if any(w.member_id == member_id for w in self.no_account):
            found.append("no active social account")
        found += [
            f"over {BALANCE_DAYS} days: {i.words}"
            for i in self.imbalance
            if i.who.member_id == member_id
        ]
        return found

    @property
    def flagged(self) -> list[Who]:
        """The members some rule flagged, by name."""
        ids = (
            {q.who.member_id for q in self.quiet}
            | {f.who.member_id for f in self.failing_feeds}
            | {w.member_id for w in self.no_account}
            | {i.who.member_id for i in self.imbalance}
        )
        return [w for w in self.members if w.member_id in ids]

    @property
    def healthy(self) -> bool:
        return not self.flagged and self.silence is None


def _posts(n: int) -> str:
    return f"{n} post{'s' * (n != 1)}"


def panel_tribe(session: Session, *, member: Member, slug: str) -> Tribe:
    """The tribe whose panel `member` asked for: only its chief has one. To anyone else,
    members and the operator included, there is no such page (NotFoundError)."""
    try:
        return chief_tribe(session, member, slug)
    except ForbiddenError:
        raise NotFoundError(f"no health panel for {slug!r}: only its chief sees it") from None


def active_members(session: Session, tribe: Tribe) -> list[Who]:
    """The tribe's active members, by name."""
    rows = session.exec(
        select(Member, col(Membership.joined_at))
        .join(Membership, col(Membership.member_id) == col(Member.id))
        .where(
            col(Membership.tribe_id) == tribe.id,
            col(Membership.status) == MembershipStatus.ACTIVE,
        )
        .order_by(col(Member.display_name), col(Member.id))
    ).all()
    return [Who(m.id or 0, m.display_name, m.email, aware(joined)) for m, joined in rows]


def last_decisions(
    session: Session, member_ids: Sequence[int], *, now: datetime
) -> dict[int, datetime]:
    """Each member → their latest own decision (approved by hand or skipped) up to `now`;
    members who never decided are absent."""
    if not member_ids:
        return {}
    rows = session.exec(
        select(col(StreamItem.member_id), func.max(col(StreamItem.decided_at)))
        .where(
            col(StreamItem.member_id).in_(list(member_ids)),
            col(StreamItem.state).in_(OWN_DECISIONS),
            col(StreamItem.auto).is_(False),
            col(StreamItem.decided_at) <= now,
        )
        .group_by(col(StreamItem.member_id))
    ).all()
    return {member_id: aware(at) for member_id, at in rows if at is not None}


def items_to_decide(session: Session, member_id: int, *, since: datetime, now: datetime) -> int:
    """The items that reached the member's stream in (since, now] and were theirs to
    decide: not approved automatically, not withdrawn."""
    return session.exec(
        select(func.count())
        .select_from(StreamItem)
        .where(
            col(StreamItem.member_id) == member_id,
            col(StreamItem.created_at) > since,
            col(StreamItem.created_at) <= now,
            col(StreamItem.auto).is_(False),
            col(StreamItem.state) != StreamState.WITHDRAWN,
        )
    ).one()


def quiet_members(
    session: Session, members: Sequence[Who], *, now: datetime, after: timedelta = QUIET_AFTER
) -> list[Quiet]:
    """Members with no decision of their own for `after`, though items reached them."""
    decided = last_decisions(session, [w.member_id for w in members], now=now)
    found = []
    for who in members:
        last = decided.get(who.member_id)
        since = max(last, who.joined_at) if last else who.joined_at
        if now - since < after:
            continue
        waiting = items_to_decide(session, who.member_id, since=since, now=now)
        if waiting:
            found.append(Quiet(who, last, since, whole_days(now - since), waiting))
    return found


def shown_address(url: str) -> str:
    """A feed's address as a chief may see it: no query, fragment or user info, where a
    private feed keeps its key (`?auth=…`, `https://user:pass@…`)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def failing_feeds(session: Session, members: Sequence[Who]) -> list[FailingFeed]:
    """The members' feeds (not removed) that are gone, or failed FEED_FAILING_AFTER polls
    in a row."""
    by_id = {w.member_id: w for w in members}
    if not by_id:
        return []
    feeds = session.exec(
        select(Feed)
        .where(
            col(Feed.owner_id).in_(list(by_id)),
            col(Feed.removed_at).is_(None),
            (col(Feed.status) == FeedStatus.GONE) | (col(Feed.error_count) >= FEED_FAILING_AFTER),
        )
        .order_by(col(Feed.id))
    ).all()
    found = [
        FailingFeed(
            who=by_id[feed.owner_id],
            feed_id=feed.id or 0,
            url=shown_address(feed.url),
            title=feed.title,
            gone=feed.status == FeedStatus.GONE,
            errors=feed.error_count,
            error=feed.error_message or "no error recorded",
            last_success_at=aware(feed.last_success_at) if feed.last_success_at else None,
        )
        for feed in feeds
    ]
    order = {w.member_id: n for n, w in enumerate(members)}
    return sorted(found, key=lambda f: (order[f.who.member_id], f.feed_id))


def members_without_account(session: Session, members: Sequence[Who]) -> list[Who]:
    """Members none of whose accounts is active (connected and switched on)."""
    ids = active_account_ids(session, [w.member_id for w in members])
    with_one = set(
        session.exec(select(col(Account.member_id)).where(col(Account.id).in_(ids))).all()
        if ids
        else []
    )
    return [w for w in members if w.member_id not in with_one]


def is_imbalanced(*, received: int, gave: int) -> bool:
    """Far more received than given: at least BALANCE_MIN_RECEIVED reshares received,
    and BALANCE_FACTOR times what was given or more."""
    return received >= BALANCE_MIN_RECEIVED and received >= BALANCE_FACTOR * gave


def imbalanced_members(
    session: Session, tribe: Tribe, members: Sequence[Who], *, now: datetime
) -> list[Imbalance]:
    """Members who received far more reshares than they gave over BALANCE_DAYS."""
    numbers = tribe_reciprocity(session, tribe, days=BALANCE_DAYS, now=now)
    found = []
    for who in members:
        received = numbers.received.get(who.member_id)
        given = numbers.given.get(who.member_id)
        r, g = (received.sent if received else 0), (given.sent if given else 0)
        if is_imbalanced(received=r, gave=g):
            found.append(Imbalance(who, received=r, gave=g))
    return found


def tribe_silence(
    session: Session,
    tribe: Tribe,
    members: Sequence[Who],
    *,
    now: datetime,
    after: timedelta = SILENT_AFTER,
) -> Silence | None:
    """The tribe's silence when no active member's feed brought a new post for `after`
    (counted from the tribe's creation when that is later); None otherwise."""
    last = None
    if members:
        last = session.exec(
            select(func.max(col(Post.discovered_at)))
            .join(Feed, col(Feed.id) == col(Post.feed_id))
            .where(
                col(Feed.owner_id).in_([w.member_id for w in members]),
                col(Post.discovered_at) <= now,
            )
        ).one()
    last_post = aware(last) if last is not None else None
    created = aware(tribe.created_at)
    since = max(last_post, created) if last_post else created
    if now - since < after:
        return None
    return Silence(last_post_at=last_post, days=whole_days(now - since))


def tribe_health(session: Session, tribe: Tribe, *, now: datetime) -> Health:
    """Every rule's findings for the tribe's active members at `now`. Who may see them
    is the caller's to check (`panel_tribe`)."""
    members = active_members(session, tribe)
    return Health(
        slug=tribe.slug,
        name=tribe.name,
        now=now,
        members=members,
        quiet=quiet_members(session, members, now=now),
        failing_feeds=failing_feeds(session, members),
        no_account=members_without_account(session, members),
        imbalance=imbalanced_members(session, tribe, members, now=now),
        silence=tribe_silence(session, tribe, members, now=now),
    )
