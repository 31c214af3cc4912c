"""Who shares whom: the reshares tribemates gave each other, and the reach they brought.

The unit is a reshare: one delivery of one post to one of the sharer's accounts that a
network confirmed (`sent`, not in a dry run). Reach given is the followers that account
had when the reshare went out: the latest daily reading (`ReachSnapshot`) on or before
that UTC day; with none, or a network that would not say (X's lower API tiers), it is
unknown and counted as such, never guessed. Around the reshares, the sharer's decisions
on the author's posts: pending (waiting for them), skipped, expired.

What counts, and where:

- A tribe counts what happened inside it. A reshare or a decision counts in a tribe only
  when its stream item reached the sharer (`StreamItem.created_at`; for a reshare, the
  item its delivery came from) while sharer and author were both members of that tribe:
  from joining (`Membership.joined_at`) until leaving (`left_at`). Stream items do not
  record the tribe they came through, so membership at the time is the attribution; and
  what two people did in another tribe, before one of them joined or after one of them
  left, is not this tribe's to see. (A delivery with no stream item, which today only
  an author's own announcement is, counts only if queued and sent while both were in.)
- So a post shared between two people who share two tribes counts in each tribe whose
  membership covered the moment it reached the sharer, and once in the author's own
  view (`tribe.alliance.shared`), which is about the author's own posts, across tribes.
- A member who left keeps the history of their membership: their rows stay in the
  tribe's numbers for the window, marked as having left. A membership that ended before
  its end was recorded (revision 0011) counts nothing, since when it ended is unknown;
  a member who rejoins starts a new membership, and only that one counts.
- Dry-run reshares were logged, never posted: they are counted apart (`dry_run`) and
  bring no reach.
- The author's own announcements (`announce`) are not reshares; reposts (the network's
  native reshare) and posts with the sharer's text both are.

Windows are the `days` before `now`; the trend's points are whole UTC days (the days of
`ReachSnapshot`). The database does the sums (GROUP BY pair, and by day for the trend),
reading the reach at send time through the (account, day) index, so a tribe's year costs
a few queries whatever its size. Counts only: nothing here reads a queue's texts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, col, select

from tribe.alliance.counting import (
    DEFAULT_DAYS,
    DaySent,
    Tally,
    counted_in,
    decisions,
    pairs_and_days,
    window,
)
from tribe.alliance.reach import Reach, tribe_reach
from tribe.core.kinds import MembershipStatus
from tribe.infra.models import (
    Member,
    Membership,
    Tribe,
)
from tribe.members.tribes import visible_tribe


@dataclass(frozen=True)
class Person:
    member_id: int
    name: str
    email: str  # for the operator's CLI; the pages and the API show names only
    left: bool  # no longer an active member of the tribe


@dataclass(frozen=True)
class PairRow:
    """One ordered pair's numbers, flat: a row of the CLI's table and of the API's list."""

    sharer_id: int
    sharer: str  # the sharer's name
    sharer_email: str
    sharer_left: bool
    author_id: int
    author: str  # the author's name
    author_email: str
    author_left: bool
    sent: int
    dry_run: int
    pending: int
    skipped: int
    expired: int
    reach: int
    reach_unknown: int


@dataclass(frozen=True)
class MemberTotals:
    """What one member gave (shared of others') and received (others shared of theirs)."""

    member_id: int
    name: str
    left: bool
    given: Tally
    received: Tally


@dataclass(frozen=True)
class TrendPoint:
    start: date  # the first UTC day of the bucket
    days: int  # how many days it spans (the oldest may be cut short by the window)
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
    reach: Reach  # the tribe's reach now (`tribe.alliance.reach.tribe_reach`)
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

    @property
    def rows(self) -> list[PairRow]:
        """The pairs with any number, sharers then authors in the order of `people`."""
        found = []
        for sharer in self.people:
            for author in self.people:
                tally = self.pairs.get((sharer.member_id, author.member_id))
                if tally is None or tally.empty:
                    continue
                found.append(
                    PairRow(
                        sharer_id=sharer.member_id,
                        sharer=sharer.name,
                        sharer_email=sharer.email,
                        sharer_left=sharer.left,
                        author_id=author.member_id,
                        author=author.name,
                        author_email=author.email,
                        author_left=author.left,
                        sent=tally.sent,
                        dry_run=tally.dry_run,
                        pending=tally.pending,
                        skipped=tally.skipped,
                        expired=tally.expired,
                        reach=tally.reach,
                        reach_unknown=tally.reach_unknown,
                    )
                )
        return found

    @property
    def members(self) -> list[MemberTotals]:
        """Each member's given and received, in the order of `people`."""
        return [
            MemberTotals(
                member_id=p.member_id,
                name=p.name,
                left=p.left,
                given=self.given.get(p.member_id) or Tally(),
                received=self.received.get(p.member_id) or Tally(),
            )
            for p in self.people
        ]


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
    then 30-day months, so a chart has at most about 30 points."""
    return 1 if days <= 31 else 7 if days <= 120 else 30


def trend(
    sent: Iterable[DaySent], *, since: datetime, until: datetime, days: int
) -> list[TrendPoint]:
    """Reshares sent (and the reach they brought) per bucket of whole UTC days, oldest
    first. The newest bucket ends with `until`'s day; the oldest starts on `since`'s day
    and may span fewer days than the others."""
    width = bucket_days(days)
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    count = (last - first).days // width + 1
    ends = [last - timedelta(days=width * (count - 1 - i)) for i in range(count)]
    sent_in = [0] * count
    reach_in = [0] * count
    for day in sent:
        back = (last - day.day).days // width
        at = min(count - 1, max(0, count - 1 - back))
        sent_in[at] += day.sent
        reach_in[at] += day.reach
    points = []
    for i, end in enumerate(ends):
        start = max(first, end - timedelta(days=width - 1))
        points.append(
            TrendPoint(start=start, days=(end - start).days + 1, sent=sent_in[i], reach=reach_in[i])
        )
    return points


def tribe_reciprocity(
    session: Session, tribe: Tribe, *, days: int = DEFAULT_DAYS, now: datetime | None = None
) -> TribeReciprocity:
    """The tribe's matrix, each member's given and received, and the trend over `days`.
    Who may see it is the caller's to check (`reciprocity_for` does, for a member)."""
    since, until = window(days, now)
    people = _tribe_people(session, tribe)
    counted = counted_in(tribe.id or 0, since=since, until=until)
    pairs, days_sent = pairs_and_days(session, counted)
    for key, tally in decisions(session, tribe, since=since, until=until).items():
        pairs.setdefault(key, Tally()).add(tally)
    given: dict[int, Tally] = {p.member_id: Tally() for p in people}
    received: dict[int, Tally] = {p.member_id: Tally() for p in people}
    for (sharer_id, author_id), tally in pairs.items():
        given[sharer_id].add(tally)
        received[author_id].add(tally)
    # Who left shows only while they have numbers in the window.
    shown = [
        p
        for p in people
        if not p.left or not given[p.member_id].empty or not received[p.member_id].empty
    ]
    shown.sort(key=lambda p: (p.left, p.name.casefold(), p.member_id))
    return TribeReciprocity(
        slug=tribe.slug,
        name=tribe.name,
        days=days,
        since=since,
        until=until,
        reach=tribe_reach(session, tribe.id or 0),
        people=shown,
        pairs=pairs,
        trend=trend(days_sent, since=since, until=until, days=days),
        given={p.member_id: given[p.member_id] for p in shown},
        received={p.member_id: received[p.member_id] for p in shown},
    )


def reciprocity_for(
    session: Session,
    *,
    member: Member,
    slug: str,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
) -> TribeReciprocity:
    """The numbers of a tribe `member` belongs to (the operator: any tribe); any other
    tribe is not found, as if it did not exist."""
    tribe, _ = visible_tribe(session, member, slug)
    return tribe_reciprocity(session, tribe, days=days, now=now)
