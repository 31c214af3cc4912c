"""Herding without a whip: the chief's nudge, and the gentle automatic reminder.

A **nudge** is a friendly email the chief writes to one member from the health panel
(`tribe.alliance.health`), prefilled with what the panel saw. A member gets at most one
a week, whichever chief sends it, and none once they turned nudges off in Settings.
Replies go to the chief.

A **reminder** goes by itself to a member with reminders on, items pending in their
stream and no decision of their own for 7 days: once, then not again until they come
back. "Coming back" is a decision made after the reminder, so the rule reads only
`Member.reminded_at` and the stream items: the approval code needs no hook.

Both are outbox emails with a unique key (`nudge:{member}:{ISO week}`,
`reminder:{member}:{date}`), and both claim the member's row first with a conditional
UPDATE, so two requests, two chiefs or two beats at once send one email, not two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from tribe.alliance.health import BALANCE_DAYS, Health, Who, aware, last_decisions
from tribe.alliance.letters import letter
from tribe.core import timefmt
from tribe.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tribe.core.kinds import StreamState
from tribe.infra.models import Member, StreamItem, Tribe
from tribe.infra.outbox import enqueue
from tribe.members.tribes import active_membership
from tribe.stream.items import count_pending

NUDGE_EVERY = timedelta(days=7)
REMIND_AFTER = timedelta(days=7)
MESSAGE_MOST = 4000  # characters of a nudge's message


def _posts(n: int) -> str:
    return f"{n} post{'s' * (n != 1)}"


def settings_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/settings"


def stream_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/stream"


# The nudge


def nudge_key(member_id: int, now: datetime) -> str:
    """One nudge per member and ISO week (UTC): the outbox sends a key once."""
    year, week, _ = now.astimezone(UTC).isocalendar()
    return f"nudge:{member_id}:{year}-W{week:02d}"


@dataclass(frozen=True)
class NudgeState:
    """Whether a member can be nudged now, and if not, why (in words for the chief)."""

    allowed: bool
    reason: str  # why not; "" when allowed
    last: datetime | None  # the last nudge they got
    next_at: datetime | None  # when the next one may go; None: now, or never (opted out)


def nudge_state(member: Member, *, now: datetime, zone: str = "UTC") -> NudgeState:
    """Can `member` be nudged at `now`? Times in the reason are written in `zone`."""
    last = aware(member.nudged_at) if member.nudged_at else None
    if not member.nudges:
        return NudgeState(
            False, f"{member.display_name} turned nudges off, so none can be sent", last, None
        )
    if last is not None and now < last + NUDGE_EVERY:
        next_at = last + NUDGE_EVERY
        return NudgeState(
            False,
            f"{member.display_name} was nudged {timefmt.moment(last, zone, now=now)}; "
            f"a nudge goes at most once a week: the next can be sent from "
            f"{timefmt.moment(next_at, zone, now=now)}",
            last,
            next_at,
        )
    return NudgeState(True, "", last, None)


def default_message(health: Health, who: Who, *, chief_name: str) -> str:
    """The nudge the panel proposes: friendly, naming what it saw, no guilt. One
    paragraph per finding, so the chief can drop or reword each."""
    member_id = who.member_id
    said = [f"I was looking at how {health.name} is doing and wanted to say hello."]
    said += [
        f"It's been a little while since you went through your stream: "
        f"{_posts(q.waiting)} from the tribe came in since. Whenever you have a moment, "
        "a few shares would mean a lot."
        for q in health.quiet
        if q.who.member_id == member_id
    ]
    said += [
        f"Your feed {f.title or f.url} isn't reaching tribe at the moment (it says: {f.error}), so "
        "your new posts can't reach us. It's probably a small fix, and the Feeds page can "
        "check it again."
        for f in health.failing_feeds
        if f.who.member_id == member_id
    ]
    if any(w.member_id == member_id for w in health.no_account):
        said.append(
            "You have no social account connected right now, so the posts you approve "
            "can't go out. Connecting one on the Accounts page takes a minute."
        )
    said += [
        f"The tribe has shared your posts {i.received} times over the last {BALANCE_DAYS} "
        "days. If you feel like returning the favour, your tribemates would love it."
        for i in health.imbalance
        if i.who.member_id == member_id
    ]
    return "\n\n".join(
        [f"Hi {who.name},", *said, f"Thanks for being part of the tribe!\n{chief_name}"]
    )


def check_message(message: str) -> str:
    """The chief's words, tidied: line ends made plain, ends trimmed; never empty."""
    text = message.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise InvalidInputError("write a few words for the nudge: the message is empty")
    if len(text) > MESSAGE_MOST:
        raise InvalidInputError(
            f"the message is {len(text)} characters long; a nudge takes at most {MESSAGE_MOST}"
        )
    return text


def paragraphs(text: str) -> list[list[str]]:
    """The message as paragraphs of lines, for the HTML part."""
    return [block.split("\n") for block in text.split("\n\n") if block.strip()]


@dataclass(frozen=True)
class NudgeSent:
    key: str  # the outbox row's
    to: str
    next_at: datetime  # when the member can be nudged again


def nudge(
    session: Session,
    tribe: Tribe,
    chief: Member,
    member: Member,
    *,
    message: str,
    now: datetime,
    sender: str,
    base_url: str,
) -> NudgeSent:
    """Queue the chief's nudge to `member`: only a chief of a tribe the member is active
    in, at most once a week per member, never to a member who turned nudges off."""
    if tribe.chief_id != chief.id:
        raise ForbiddenError(f"only the chief of {tribe.slug} can nudge its members")
    if member.id == chief.id:
        raise InvalidInputError("a nudge is for a tribemate; you cannot nudge yourself")
    if active_membership(session, tribe, member) is None:
        # The same words as for an id nobody has: a chief learns nothing about people
        # outside their tribe (not their address, not that they exist).
        raise NotFoundError(f"no member #{member.id} in {tribe.slug}")
    text = check_message(message)
    state = nudge_state(member, now=now, zone=chief.timezone)
    if not state.allowed:
        raise ConflictError(state.reason)
    assert member.id is not None
    # The claim: of two nudges at once (two chiefs, a double click), one moves the row.
    claimed = session.exec(
        update(Member)
        .where(
            col(Member.id) == member.id,
            col(Member.nudges).is_(True),
            col(Member.nudged_at).is_(None) | (col(Member.nudged_at) <= now - NUDGE_EVERY),
        )
        .values(nudged_at=now)
        .returning(col(Member.id))
    ).first()
    session.refresh(member)
    if claimed is None:
        raise ConflictError(f"{member.display_name} was nudged a moment ago; nothing more was sent")
    mail = letter(
        "nudge",
        to=member.email,
        subject=f"A note from {chief.display_name}, chief of {tribe.name}",
        context={
            "member_name": member.display_name,
            "chief_name": chief.display_name,
            "tribe_name": tribe.name,
            "message": text,
            "paragraphs": paragraphs(text),
            "stream_url": stream_url(base_url),
            "settings_url": settings_url(base_url),
        },
        headers={"Reply-To": chief.email},
    )
    key = nudge_key(member.id, now)
    if not enqueue(
        session, key=key, kind="nudge", letter=mail, sender=sender, member_id=member.id, due_at=now
    ):
        raise ConflictError(f"{member.display_name} was already nudged this week")
    return NudgeSent(key=key, to=member.email, next_at=now + NUDGE_EVERY)


@dataclass(frozen=True)
class NudgeCard:
    """One flagged member on the panel: what was seen, and the nudge the chief may send."""

    who: Who
    findings: list[str]
    state: NudgeState
    message: str  # the proposed text, for the chief to edit
    is_chief: bool  # the chief themself: no nudge


def nudge_cards(
    session: Session, health: Health, chief: Member, *, now: datetime
) -> list[NudgeCard]:
    """A card for each member the panel flagged, chief's own last."""
    cards = []
    for who in health.flagged:
        member = session.get(Member, who.member_id)
        assert member is not None
        cards.append(
            NudgeCard(
                who=who,
                findings=health.findings(who.member_id),
                state=nudge_state(member, now=now, zone=chief.timezone),
                message=default_message(health, who, chief_name=chief.display_name),
                is_chief=who.member_id == chief.id,
            )
        )
    return sorted(cards, key=lambda c: c.is_chief)


# The reminder


def reminder_key(member_id: int, now: datetime) -> str:
    """One reminder per member and day (UTC)."""
    return f"reminder:{member_id}:{now.astimezone(UTC).date().isoformat()}"


def reminder_due(
    *,
    last_decision: datetime | None,
    joined: datetime,
    reminded_at: datetime | None,
    now: datetime,
    after: timedelta = REMIND_AFTER,
) -> bool:
    """Is a member with pending items due a reminder? When they decided nothing for
    `after` (counted from their latest decision, or from when they joined tribe if they
    never decided), and were not reminded since that decision."""
    quiet_since = last_decision or joined
    if now - quiet_since < after:
        return False
    return reminded_at is None or (last_decision is not None and last_decision > reminded_at)


def _with_pending(session: Session) -> list[Member]:
    """Members with reminders on and at least one pending item."""
    pending = (
        select(col(StreamItem.member_id))
        .where(col(StreamItem.state) == StreamState.PENDING)
        .distinct()
    )
    return list(
        session.exec(
            select(Member)
            .where(col(Member.reminders).is_(True), col(Member.id).in_(pending))
            .order_by(col(Member.id))
        ).all()
    )


def _claim_reminder(session: Session, member: Member, now: datetime) -> bool:
    """Mark the member reminded, if nobody did since we read the row."""
    was = member.reminded_at
    unchanged = col(Member.reminded_at).is_(None) if was is None else col(Member.reminded_at) == was
    claimed = session.exec(
        update(Member)
        .where(col(Member.id) == member.id, unchanged)
        .values(reminded_at=now)
        .returning(col(Member.id))
    ).first()
    return claimed is not None


def queue_reminders(
    session: Session,
    *,
    now: datetime,
    sender: str,
    base_url: str,
    after: timedelta = REMIND_AFTER,
) -> int:
    """Queue one reminder for each member due one (`reminder_due`); how many were queued."""
    members = _with_pending(session)
    decided = last_decisions(session, [m.id or 0 for m in members], now=now)
    queued = 0
    for member in members:
        assert member.id is not None
        last = decided.get(member.id)
        reminded = aware(member.reminded_at) if member.reminded_at else None
        if not reminder_due(
            last_decision=last,
            joined=aware(member.created_at),
            reminded_at=reminded,
            now=now,
            after=after,
        ):
            continue
        waiting = count_pending(session, member=member)
        if not waiting or not _claim_reminder(session, member, now):
            continue
        mail = letter(
            "reminder",
            to=member.email,
            subject=f"{_posts(waiting)} from your tribe waiting in your stream",
            context={
                "member_name": member.display_name,
                "waiting": waiting,
                "last_decision": timefmt.day(last, member.timezone, now=now) if last else "",
                "stream_url": stream_url(base_url),
                "settings_url": settings_url(base_url),
            },
        )
        key = reminder_key(member.id, now)
        if enqueue(
            session,
            key=key,
            kind="reminder",
            letter=mail,
            sender=sender,
            member_id=member.id,
            due_at=now,
        ):
            queued += 1
    return queued
