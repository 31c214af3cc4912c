"""A member's changes to their queue: move a delivery, send it next, edit its text, cancel
it; pause and resume; confirm or retry what tribe could not settle; a new schedule.

Every new time comes from `tribe/delivery/placing.py`, so a change by hand keeps the
same rules as an approval (daily cap, gaps, the stagger from tribemates).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from tribe.core import timefmt
from tribe.core.errors import ConflictError, InvalidInputError, NotFoundError
from tribe.core.kinds import Connection, DeliveryState, ReshareKind, ScheduleMode
from tribe.core.schedule import Placement, Schedule
from tribe.core.sharetext import check_own_text
from tribe.delivery.placing import (
    EDITABLE,
    PlacementConfig,
    Retimed,
    find_time,
    resume_account,
    retime_account,
)
from tribe.delivery.queue import QueueEntry, entry_of
from tribe.infra.models import Account, Delivery, Member, Post
from tribe.members.accounts import (
    AccountInfo,
    ScheduleChange,
    limit_of,
    member_accounts,
    mention,
    schedule_of,
    set_schedule,
)


def _own_delivery(session: Session, member: Member, delivery_id: int) -> tuple[Delivery, Account]:
    row = session.exec(
        select(Delivery, Account)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .where(col(Delivery.id) == delivery_id, col(Account.member_id) == member.id)
        # The state is checked and changed under the row lock: a dispatcher or a check
        # on the network cannot change it in between (PostgreSQL; SQLite's write lock).
        .with_for_update(of=Delivery)
    ).first()
    if row is None:
        raise NotFoundError(f"no delivery #{delivery_id} in {member.email}'s queue")
    return row[0], row[1]


def move(session: Session, *, member: Member, delivery_id: int, direction: str) -> QueueEntry:
    """Swap due times with the previous (up) or next (down) queued delivery of the account."""
    if direction not in ("up", "down"):
        raise InvalidInputError("move a delivery 'up' or 'down'")
    delivery, account = _own_delivery(session, member, delivery_id)
    if delivery.state != DeliveryState.QUEUED:
        raise ConflictError(
            f"delivery #{delivery_id} is {delivery.state.value}; only queued ones move"
        )
    queued = session.exec(
        select(Delivery)
        .where(col(Delivery.account_id) == account.id, col(Delivery.state) == DeliveryState.QUEUED)
        .order_by(col(Delivery.due_at), col(Delivery.id))
    ).all()
    position = [d.id for d in queued].index(delivery.id)
    other_position = position - 1 if direction == "up" else position + 1
    if not 0 <= other_position < len(queued):
        raise ConflictError(
            f"delivery #{delivery_id} is already {'first' if direction == 'up' else 'last'}"
        )
    other = queued[other_position]
    now = datetime.now(UTC)
    delivery.due_at, other.due_at = other.due_at, delivery.due_at
    delivery.reason, other.reason = "moved by you", "moved by you"
    delivery.updated_at = other.updated_at = now
    session.flush()
    return entry_of(session, member, delivery, account)


def cancel(session: Session, *, member: Member, delivery_id: int) -> QueueEntry:
    """Cancel a queued or held delivery (again: nothing happens); returns it as it is now."""
    delivery, account = _own_delivery(session, member, delivery_id)
    if delivery.state == DeliveryState.CANCELLED:
        return entry_of(session, member, delivery, account)
    if delivery.state not in (DeliveryState.QUEUED, DeliveryState.HELD):
        raise ConflictError(
            f"delivery #{delivery_id} is {delivery.state.value}; it cannot be cancelled"
        )
    delivery.state, delivery.updated_at = DeliveryState.CANCELLED, datetime.now(UTC)
    session.flush()
    return entry_of(session, member, delivery, account)


def edit_text(session: Session, *, member: Member, delivery_id: int, text: str) -> QueueEntry:
    """The member's own words for a queued (or held) reshare: never cut, so a text that
    does not fit the account is refused with its counted length, as on approval."""
    delivery, account = _own_delivery(session, member, delivery_id)
    if delivery.state not in EDITABLE:
        raise ConflictError(
            f"delivery #{delivery_id} is {delivery.state.value}; only a queued or held "
            "reshare's text can be changed"
        )
    if delivery.kind == ReshareKind.REPOST:
        raise ConflictError(
            f"delivery #{delivery_id} is a repost of the author's own post: it has no text "
            "of its own to edit (switch the account to sharing in your own words on the "
            "Accounts page)"
        )
    post = session.get(Post, delivery.post_id)
    assert post is not None
    delivery.text = check_own_text(text, post.url, limit_of(account))
    # What an earlier try made for the old words (a Threads container, never published
    # while the reshare is queued) must not go out with them: the next try starts over.
    delivery.progress = None
    delivery.updated_at = datetime.now(UTC)
    session.flush()
    return entry_of(session, member, delivery, account, now=delivery.updated_at)


def send_next(
    session: Session,
    *,
    member: Member,
    delivery_id: int,
    config: PlacementConfig,
    now: datetime | None = None,
) -> QueueEntry:
    """Move a queued delivery to its account's next allowed time: the schedule's next free
    time from now, placed as an approval would be (daily cap, gaps and the stagger from
    tribemates sharing the same post all hold). Refused, with the reason, when that is
    not earlier than its time."""
    now = now or datetime.now(UTC)
    delivery, account = _own_delivery(session, member, delivery_id)
    if delivery.state != DeliveryState.QUEUED:
        raise ConflictError(
            f"delivery #{delivery_id} is {delivery.state.value}; only a queued one is sent next"
        )
    zone = ZoneInfo(member.timezone)
    when = timefmt.moment(delivery.due_at, zone, now=now)
    if delivery.due_at <= now:
        paused = account.paused or member.queue_paused
        raise ConflictError(
            f"#{delivery_id} is due already ({when}); "
            + ("resume the queue and it goes out" if paused else "it goes out in a moment")
        )
    post = session.get(Post, delivery.post_id)
    assert post is not None
    placement = find_time(
        session,
        account=account,
        member=member,
        post=post,
        now=now,
        config=config,
        ignore=delivery.id,
    )
    if placement.due_at is None:
        raise ConflictError(f"#{delivery_id} cannot go earlier: {placement.reason}")
    if placement.due_at >= delivery.due_at:
        why = _not_earlier(placement, schedule_of(account, member), config, zone, now)
        if placement.due_at == delivery.due_at and not why:
            raise ConflictError(
                f"#{delivery_id} cannot go earlier: the next allowed time is already its "
                f"time ({when})"
            )
        if placement.due_at == delivery.due_at:
            raise ConflictError(f"#{delivery_id} cannot go earlier than {when}: {why}")
        later = timefmt.moment(placement.due_at, zone, now=now)
        raise ConflictError(
            f"#{delivery_id} cannot go earlier: the next allowed time, {later}, is after its "
            f"time ({when})" + (f"; {why}" if why else "")
        )
    delivery.due_at, delivery.updated_at = placement.due_at, now
    delivery.reason = f"sent next by you: {placement.reason}"
    session.flush()
    return entry_of(session, member, delivery, account, now=now)


def _days(days: tuple[date, ...], zone: ZoneInfo, now: datetime) -> str:
    names = [timefmt.day(datetime.combine(d, time(12), zone), zone, now=now) for d in days]
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]} to {names[-1]}"


def _not_earlier(
    placement: Placement,
    schedule: Schedule,
    config: PlacementConfig,
    zone: ZoneInfo,
    now: datetime,
) -> str:
    """What kept every earlier time from a delivery, in the member's words."""
    notes = []
    if placement.capped_days:
        notes.append(
            f"the daily cap of {schedule.daily_cap} is reached on "
            + _days(placement.capped_days, zone, now)
        )
    if "gap" in placement.skipped:
        if schedule.mode == ScheduleMode.SLOTS:
            notes.append("the earlier slots are taken by your other reshares (move it up instead)")
        else:
            gap = int(schedule.min_gap.total_seconds() // 60)
            notes.append(
                f"the earlier times are within {gap} min of your other reshares "
                "(move it up instead)"
            )
    if "stagger" in placement.skipped:
        stagger = int(config.stagger.total_seconds() // 60)
        notes.append(
            f"the earlier times are within {stagger} min of a tribemate's share of the same post"
        )
    return "; ".join(notes)


# --- pause and resume -------------------------------------------------------------------------


def _accounts(session: Session, member: Member, account_id: int | None) -> list[Account]:
    accounts = member_accounts(session, member, active_only=False)
    if account_id is None:
        return accounts
    chosen = [a for a in accounts if a.id == account_id]
    if not chosen:
        raise NotFoundError(f"{member.email} has no account #{account_id}")
    return chosen


def pause(session: Session, *, member: Member, account_id: int | None = None) -> None:
    """Nothing is sent while paused (the whole queue, or one account); deliveries keep
    their place."""
    if account_id is None:
        member.queue_paused = True
    else:
        _accounts(session, member, account_id)[0].paused = True
    session.flush()


def resume(
    session: Session,
    *,
    member: Member,
    config: PlacementConfig,
    now: datetime | None = None,
    account_id: int | None = None,
) -> tuple[int, int]:
    """Unpause; deliveries whose time passed meanwhile get new times, so nothing goes out
    in a burst. Returns how many moved and how many found no time (those are cancelled,
    with the reason on the delivery)."""
    now = now or datetime.now(UTC)
    accounts = _accounts(session, member, account_id)
    if account_id is not None and member.queue_paused:
        # One account of a wholly paused queue: the others stay paused, each on its own
        # now, so that this one can go.
        for other in _accounts(session, member, None):
            if other.id != account_id:
                other.paused = True
    member.queue_paused = False
    for account in accounts:
        account.paused = False
    moved = dropped = 0
    for account in accounts:
        m, d = resume_account(session, member=member, account=account, config=config, now=now)
        moved, dropped = moved + m, dropped + d
    return moved, dropped


# --- what tribe could not settle --------------------------------------------------------------


def confirm(session: Session, *, member: Member, delivery_id: int) -> None:
    """The member saw an unconfirmed delivery on the network: record it as sent."""
    delivery, _ = _own_delivery(session, member, delivery_id)
    if delivery.state != DeliveryState.UNCONFIRMED:
        raise ConflictError(
            f"delivery #{delivery_id} is {delivery.state.value}; only unconfirmed ones are "
            "confirmed"
        )
    now = datetime.now(UTC)
    delivery.state, delivery.sent_at, delivery.updated_at = DeliveryState.SENT, now, now
    delivery.lease_until = delivery.lease_token = None
    delivery.reason = "confirmed by you"
    session.flush()


def retry(
    session: Session, *, member: Member, delivery_id: int, config: PlacementConfig
) -> QueueEntry:
    """Queue a failed, held or unconfirmed delivery again, at the account's next free time.

    For an unconfirmed one the member says: I looked, it is not there.
    """
    delivery, account = _own_delivery(session, member, delivery_id)
    retriable = (DeliveryState.FAILED, DeliveryState.HELD, DeliveryState.UNCONFIRMED)
    if delivery.state not in retriable:
        raise ConflictError(
            f"delivery #{delivery_id} is {delivery.state.value}; only failed, held or "
            "unconfirmed ones are retried"
        )
    if account.connection != Connection.CONNECTED:
        raise ConflictError(
            f"{mention(account)} is {account.connection.value.replace('_', ' ')}: "
            "connect it first (Accounts page, or tribe account connect)"
        )
    post = session.get(Post, delivery.post_id)
    assert post is not None
    now = datetime.now(UTC)
    placement = find_time(
        session,
        account=account,
        member=member,
        post=post,
        now=now,
        config=config,
        ignore=delivery.id,
    )
    if placement.due_at is None:
        raise ConflictError(f"no free time for #{delivery_id}: {placement.reason}")
    delivery.state, delivery.due_at = DeliveryState.QUEUED, placement.due_at
    delivery.reason, delivery.attempts, delivery.updated_at = "retried by you", 0, now
    delivery.lease_until = delivery.lease_token = None
    session.flush()
    return entry_of(session, member, delivery, account)


# --- a new schedule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleSaved:
    accounts: list[AccountInfo]
    retimed: Retimed


def save_schedule(
    session: Session,
    *,
    member: Member,
    change: ScheduleChange,
    config: PlacementConfig,
    account_id: int | None = None,
    now: datetime | None = None,
) -> ScheduleSaved:
    """Change a schedule (one account's, or every account's), then give the deliveries
    that no longer fit it new times. A new time zone moves every account's slots."""
    now = now or datetime.now(UTC)
    infos = set_schedule(session, member=member, change=change, account_id=account_id)
    changed = {info.id for info in infos}
    retimed = Retimed()
    for account in member_accounts(session, member, active_only=False):
        if change.timezone is not None or account.id in changed:
            retimed += retime_account(
                session, member=member, account=account, config=config, now=now
            )
    return ScheduleSaved(infos, retimed)
