"""A member's queue: upcoming deliveries per account, in their own time zone; what went
out (the history); and the changes to it — moved, sent next, edited, cancelled, paused by
the member, or re-timed when a new schedule leaves them outside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from tribe.core import timefmt
from tribe.core.errors import ConflictError, InvalidInputError, NotFoundError
from tribe.core.kinds import Connection, DeliveryState, ReshareKind, ScheduleMode
from tribe.core.schedule import Placement, Schedule, misfit
from tribe.core.sharetext import check_own_text
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
from tribe.members.people import get_member
from tribe.stream.approvals import HOLDS_TIME, ApprovalConfig, find_time

# The reason the dispatcher writes on a delivery it only logged (TRIBE_DRY_RUN): such a
# delivery is `sent`, flagged `dry_run`, and the history says "dry run — not sent".
DRY_RUN_REASON = "dry run: logged, not sent"

UPCOMING = (
    DeliveryState.QUEUED,
    DeliveryState.SENDING,
    DeliveryState.HELD,
    DeliveryState.UNCONFIRMED,
)
# Still waiting for their time: the member may change their text, and a new schedule
# their time.
EDITABLE = (DeliveryState.QUEUED, DeliveryState.HELD)


@dataclass(frozen=True)
class QueueEntry:
    """One delivery as `tribe queue` shows it."""

    id: int
    account_id: int
    network: str
    handle: str
    title: str
    url: str
    text: str  # what goes (or went) out; a repost posts none of its own
    kind: str  # post, repost (the network's native reshare) or announce (the author's own)
    state: DeliveryState
    due_at: datetime
    due_local: str
    reason: str
    maximum: int  # the account's limit and what a link costs in it, for editing the text
    url_cost: int | None
    remote_url: str | None = None
    sent_at: datetime | None = None
    sent_local: str | None = None
    dry_run: bool = False  # "sent" by a dry run: logged, never posted

    @property
    def editable(self) -> bool:
        return self.state in EDITABLE and self.kind != ReshareKind.REPOST.value


@dataclass(frozen=True)
class Reach:
    """How far out an account's queue reaches."""

    account: str
    queued: int
    last_due_local: str | None
    days_out: float


def is_dry_run(delivery: Delivery) -> bool:
    """Logged by a dry run, never posted (the dispatcher marks it so)."""
    return delivery.state == DeliveryState.SENT and delivery.dry_run


def _entry(
    delivery: Delivery, account: Account, post: Post, zone: ZoneInfo, now: datetime
) -> QueueEntry:
    assert delivery.id is not None
    assert account.id is not None
    limit = limit_of(account)
    return QueueEntry(
        id=delivery.id,
        account_id=account.id,
        network=account.network.value,
        handle=mention(account),
        title=post.title,
        url=post.url,
        text=delivery.text,
        kind=delivery.kind.value,
        state=delivery.state,
        due_at=delivery.due_at,
        due_local=timefmt.moment(delivery.due_at, zone, now=now),
        reason=delivery.reason,
        maximum=limit.maximum,
        url_cost=limit.url_cost,
        remote_url=delivery.remote_url,
        sent_at=delivery.sent_at,
        sent_local=timefmt.moment(delivery.sent_at, zone, now=now) if delivery.sent_at else None,
        dry_run=is_dry_run(delivery),
    )


def _entry_of(session: Session, member: Member, delivery: Delivery, account: Account) -> QueueEntry:
    post = session.get(Post, delivery.post_id)
    assert post is not None
    return _entry(delivery, account, post, ZoneInfo(member.timezone), datetime.now(UTC))


def list_queue(
    session: Session, *, email: str, everything: bool = False, account_id: int | None = None
) -> list[QueueEntry]:
    """Upcoming deliveries (or all of them) by account, then due time; of one account
    when `account_id` is given."""
    member = get_member(session, email)
    query = (
        select(Delivery, Account, Post)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .join(Post, col(Post.id) == col(Delivery.post_id))
        .where(col(Account.member_id) == member.id)
        .order_by(col(Account.id), col(Delivery.due_at), col(Delivery.id))
    )
    if not everything:
        query = query.where(col(Delivery.state).in_(UPCOMING))
    if account_id is not None:
        query = query.where(col(Account.id) == account_id)
    zone, now = ZoneInfo(member.timezone), datetime.now(UTC)
    return [_entry(d, a, p, zone, now) for d, a, p in session.exec(query).all()]


PAST = (
    DeliveryState.SENT,
    DeliveryState.FAILED,
    DeliveryState.UNCONFIRMED,
    DeliveryState.CANCELLED,
)


def history(session: Session, *, email: str, limit: int = 100, offset: int = 0) -> list[QueueEntry]:
    """Deliveries that went out, failed, were cancelled or await the member's word; newest
    first."""
    member = get_member(session, email)
    rows = session.exec(
        select(Delivery, Account, Post)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .join(Post, col(Post.id) == col(Delivery.post_id))
        .where(col(Account.member_id) == member.id, col(Delivery.state).in_(PAST))
        .order_by(col(Delivery.updated_at).desc(), col(Delivery.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    zone, now = ZoneInfo(member.timezone), datetime.now(UTC)
    return [_entry(d, a, p, zone, now) for d, a, p in rows]


def count_upcoming(
    session: Session, *, email: str, states: tuple[DeliveryState, ...] = UPCOMING
) -> int:
    """How many of the member's deliveries are in `states` (by default: still to go out)."""
    member = get_member(session, email)
    return session.exec(
        select(func.count())
        .select_from(Delivery)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .where(col(Account.member_id) == member.id, col(Delivery.state).in_(states))
    ).one()


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


def move(session: Session, *, email: str, delivery_id: int, direction: str) -> QueueEntry:
    """Swap due times with the previous (up) or next (down) queued delivery of the account."""
    if direction not in ("up", "down"):
        raise InvalidInputError("move a delivery 'up' or 'down'")
    member = get_member(session, email)
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
    return _entry_of(session, member, delivery, account)


def cancel(session: Session, *, email: str, delivery_id: int) -> QueueEntry:
    """Cancel a queued or held delivery (again: nothing happens); returns it as it is now."""
    member = get_member(session, email)
    delivery, account = _own_delivery(session, member, delivery_id)
    if delivery.state == DeliveryState.CANCELLED:
        return _entry_of(session, member, delivery, account)
    if delivery.state not in (DeliveryState.QUEUED, DeliveryState.HELD):
        raise ConflictError(
            f"delivery #{delivery_id} is {delivery.state.value}; it cannot be cancelled"
        )
    delivery.state, delivery.updated_at = DeliveryState.CANCELLED, datetime.now(UTC)
    session.flush()
    return _entry_of(session, member, delivery, account)


def _accounts(session: Session, member: Member, account_id: int | None) -> list[Account]:
    accounts = member_accounts(session, member, active_only=False)
    if account_id is None:
        return accounts
    chosen = [a for a in accounts if a.id == account_id]
    if not chosen:
        raise NotFoundError(f"{member.email} has no account #{account_id}")
    return chosen


def pause(session: Session, *, email: str, account_id: int | None = None) -> None:
    """Nothing is sent while paused (the whole queue, or one account); deliveries keep
    their place."""
    member = get_member(session, email)
    if account_id is None:
        member.queue_paused = True
    else:
        _accounts(session, member, account_id)[0].paused = True
    session.flush()


def resume(
    session: Session,
    *,
    email: str,
    config: ApprovalConfig,
    now: datetime | None = None,
    account_id: int | None = None,
) -> tuple[int, int]:
    """Unpause; deliveries whose time passed meanwhile get new times, so nothing goes out
    in a burst. Returns how many moved and how many found no time (those are cancelled,
    with the reason on the delivery)."""
    now = now or datetime.now(UTC)
    member = get_member(session, email)
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


def resume_account(
    session: Session,
    *,
    member: Member,
    account: Account,
    config: ApprovalConfig,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Queued deliveries whose time passed get new times; those that find none are cancelled."""
    now = now or datetime.now(UTC)
    moved = dropped = 0
    overdue = session.exec(
        select(Delivery)
        .where(
            col(Delivery.account_id) == account.id,
            col(Delivery.state) == DeliveryState.QUEUED,
            col(Delivery.due_at) < now,
        )
        .order_by(col(Delivery.due_at))
    ).all()
    for delivery in overdue:
        post = session.get(Post, delivery.post_id)
        assert post is not None
        placement = find_time(
            session, account=account, member=member, post=post, now=now, config=config,
            ignore=delivery.id,
        )  # fmt: skip
        if placement.due_at is None:
            delivery.state = DeliveryState.CANCELLED
            delivery.reason = f"cancelled after the pause: {placement.reason}"
            dropped += 1
        else:
            delivery.due_at, delivery.reason = placement.due_at, placement.reason
            moved += 1
        delivery.updated_at = now
        session.flush()
    return moved, dropped


def reach(session: Session, *, email: str, now: datetime | None = None) -> list[Reach]:
    """For each active account: how many deliveries wait and how far out the last one is."""
    now = now or datetime.now(UTC)
    member = get_member(session, email)
    zone = ZoneInfo(member.timezone)
    result = []
    for account in member_accounts(session, member):
        dues = session.exec(
            select(col(Delivery.due_at)).where(
                col(Delivery.account_id) == account.id, col(Delivery.state) == DeliveryState.QUEUED
            )
        ).all()
        last = max(dues) if dues else None
        result.append(
            Reach(
                account=f"{account.network.value} {mention(account)}",
                queued=len(dues),
                last_due_local=timefmt.moment(last, zone, now=now) if last else None,
                days_out=round((last - now).total_seconds() / 86400, 1) if last else 0.0,
            )
        )
    return result


def reach_notices(reaches: list[Reach], config: ApprovalConfig) -> list[str]:
    """What to tell a member whose queue is getting long (past half the horizon)."""
    horizon_days = config.horizon.total_seconds() / 86400
    return [
        f"your {r.account} queue reaches {r.days_out:g} days out (until {r.last_due_local}); "
        f"approvals find no time past {horizon_days:g} days"
        for r in reaches
        if r.days_out >= horizon_days / 2
    ]


def confirm(session: Session, *, email: str, delivery_id: int) -> None:
    """The member saw an unconfirmed delivery on the network: record it as sent."""
    member = get_member(session, email)
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


def retry(session: Session, *, email: str, delivery_id: int, config: ApprovalConfig) -> QueueEntry:
    """Queue a failed, held or unconfirmed delivery again, at the account's next free time.

    For an unconfirmed one the member says: I looked, it is not there.
    """
    member = get_member(session, email)
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
        session, account=account, member=member, post=post, now=now, config=config,
        ignore=delivery.id,
    )  # fmt: skip
    if placement.due_at is None:
        raise ConflictError(f"no free time for #{delivery_id}: {placement.reason}")
    delivery.state, delivery.due_at = DeliveryState.QUEUED, placement.due_at
    delivery.reason, delivery.attempts, delivery.updated_at = "retried by you", 0, now
    delivery.lease_until = delivery.lease_token = None
    session.flush()
    return _entry_of(session, member, delivery, account)


def release_held(session: Session, *, account: Account, config: ApprovalConfig) -> int:
    """A reconnected account's held deliveries queue again; overdue ones get new times."""
    member = session.get(Member, account.member_id)
    assert member is not None
    held = session.exec(
        select(Delivery).where(
            col(Delivery.account_id) == account.id, col(Delivery.state) == DeliveryState.HELD
        )
    ).all()
    for delivery in held:
        delivery.state, delivery.reason = DeliveryState.QUEUED, "account reconnected"
    session.flush()
    # Held or merely waiting for the connection: what is overdue gets new times.
    resume_account(session, member=member, account=account, config=config)
    return len(held)


def member_notices(session: Session, *, email: str, config: ApprovalConfig) -> list[str]:
    """What `tribe stream` and `tribe queue` tell a member besides the listing: long
    queues, accounts to reconnect, and posts whose fate only they can settle."""
    member = get_member(session, email)
    notices = reach_notices(reach(session, email=email), config)
    for account in member_accounts(session, member):
        if account.connection == Connection.NEEDS_RECONNECT:
            notices.append(
                f"your {account.network.value} account {mention(account)} needs reconnecting "
                f"({account.connection_note}); its reshares are held until you connect it again "
                "(Accounts page, or tribe account connect)"
            )
    undecided = session.exec(
        select(col(Delivery.id))
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .where(
            col(Account.member_id) == member.id,
            col(Delivery.state) == DeliveryState.UNCONFIRMED,
            col(Delivery.lease_until).is_(None),
        )
    ).all()
    if undecided:
        ids = ", ".join(f"#{i}" for i in undecided)
        notices.append(
            f"tribe could not tell whether {ids} went out: look at the account, then say so "
            "on the History page or with tribe queue confirm (it is there) or tribe queue "
            "retry (it is not)"
        )
    return notices


# --- a member's changes to one delivery -------------------------------------------------------


def edit_text(session: Session, *, email: str, delivery_id: int, text: str) -> QueueEntry:
    """The member's own words for a queued (or held) reshare: never cut, so a text that
    does not fit the account is refused with its counted length, as on approval."""
    member = get_member(session, email)
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
    delivery.updated_at = datetime.now(UTC)
    session.flush()
    return _entry(delivery, account, post, ZoneInfo(member.timezone), delivery.updated_at)


def send_next(
    session: Session,
    *,
    email: str,
    delivery_id: int,
    config: ApprovalConfig,
    now: datetime | None = None,
) -> QueueEntry:
    """Move a queued delivery to its account's next allowed time: the schedule's next free
    time from now, placed as an approval would be (daily cap, gaps and the stagger from
    tribemates sharing the same post all hold). Refused, with the reason, when that is
    not earlier than its time."""
    now = now or datetime.now(UTC)
    member = get_member(session, email)
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
        session, account=account, member=member, post=post, now=now, config=config,
        ignore=delivery.id,
    )  # fmt: skip
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
    return _entry(delivery, account, post, zone, now)


def _days(days: tuple[date, ...], zone: ZoneInfo, now: datetime) -> str:
    names = [timefmt.day(datetime.combine(d, time(12), zone), zone, now=now) for d in days]
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]} to {names[-1]}"


def _not_earlier(
    placement: Placement, schedule: Schedule, config: ApprovalConfig, zone: ZoneInfo,
    now: datetime,
) -> str:  # fmt: skip
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


# --- a new schedule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Retimed:
    """What saving a schedule did to the deliveries waiting in it."""

    moved: int = 0
    stuck: tuple[str, ...] = ()  # deliveries that found no new time, and why (they keep theirs)

    def __add__(self, other: Retimed) -> Retimed:
        return Retimed(self.moved + other.moved, self.stuck + other.stuck)

    def message(self) -> str:
        """ "3 deliveries moved to the new times", or "" when nothing had to move."""
        parts = []
        if self.moved:
            parts.append(
                f"{self.moved} deliver{'y' if self.moved == 1 else 'ies'} moved to the new times"
            )
        if self.stuck:
            parts.append(
                f"{len(self.stuck)} found no new time and kept the old one "
                f"({'; '.join(self.stuck)})"
            )
        return "; ".join(parts)


@dataclass(frozen=True)
class ScheduleSaved:
    accounts: list[AccountInfo]
    retimed: Retimed


def save_schedule(
    session: Session,
    *,
    email: str,
    change: ScheduleChange,
    config: ApprovalConfig,
    account_id: int | None = None,
    now: datetime | None = None,
) -> ScheduleSaved:
    """Change a schedule (one account's, or every account's), then give the deliveries
    that no longer fit it new times. A new time zone moves every account's slots."""
    now = now or datetime.now(UTC)
    infos = set_schedule(session, email=email, change=change, account_id=account_id)
    member = get_member(session, email)
    changed = {info.id for info in infos}
    retimed = Retimed()
    for account in member_accounts(session, member, active_only=False):
        if change.timezone is not None or account.id in changed:
            retimed += retime_account(
                session, member=member, account=account, config=config, now=now
            )
    return ScheduleSaved(infos, retimed)


def retime_account(
    session: Session, *, member: Member, account: Account, config: ApprovalConfig, now: datetime
) -> Retimed:
    """Give the account's waiting deliveries that its schedule no longer allows (not one of
    its slots, outside its posting hours, over its cap, too close together) the next
    times it does allow, in their order; the others keep their times."""
    schedule = schedule_of(account, member)
    recent = now - max(timedelta(days=2), schedule.min_gap)  # as far back as a cap or gap looks
    rows = session.exec(
        select(Delivery)
        .where(
            col(Delivery.account_id) == account.id,
            col(Delivery.state).in_(HOLDS_TIME),
            col(Delivery.due_at) >= recent,
        )
        .order_by(col(Delivery.due_at), col(Delivery.id))
        .with_for_update()
    ).all()
    waiting = [d for d in rows if d.state in EDITABLE and d.due_at > now]
    ids = {d.id for d in waiting}
    kept = [d.due_at for d in rows if d.id not in ids]  # sent, sending, or due by now
    misfits = []
    for delivery in waiting:
        if misfit(schedule, delivery.due_at, taken=kept) is None:
            kept.append(delivery.due_at)
        else:
            misfits.append(delivery)
    if not misfits:
        return Retimed()
    # Each misfit steps out of the schedule first (inside this transaction only), so that
    # no misfit's old time counts against the cap or the gaps while the others are placed.
    states = {d.id: d.state for d in misfits}
    for delivery in misfits:
        delivery.state = DeliveryState.CANCELLED
    session.flush()
    moved, stuck = 0, []
    for delivery in misfits:
        post = session.get(Post, delivery.post_id)
        assert post is not None
        placement = find_time(
            session, account=account, member=member, post=post, now=now, config=config,
            ignore=delivery.id,
        )  # fmt: skip
        delivery.state = states[delivery.id]
        if placement.due_at is None:
            stuck.append(f"#{delivery.id}: {placement.reason}")
        else:
            delivery.due_at, delivery.updated_at = placement.due_at, now
            delivery.reason = f"schedule changed: {placement.reason}"
            moved += 1
        session.flush()
    return Retimed(moved, tuple(stuck))
