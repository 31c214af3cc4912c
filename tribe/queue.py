"""A member's queue: upcoming deliveries per account, in their own time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from tribe.accounts import member_accounts, mention
from tribe.approvals import ApprovalConfig, find_time
from tribe.errors import ConflictError, InvalidInputError, NotFoundError
from tribe.members import get_member
from tribe.models import Account, Connection, Delivery, DeliveryState, Member, Post

UPCOMING = (
    DeliveryState.QUEUED,
    DeliveryState.SENDING,
    DeliveryState.HELD,
    DeliveryState.UNCONFIRMED,
)


@dataclass(frozen=True)
class QueueEntry:
    """One delivery as `tribe queue` shows it."""

    id: int
    account_id: int
    network: str
    handle: str
    title: str
    url: str
    text: str
    state: DeliveryState
    due_at: datetime
    due_local: str
    reason: str
    remote_url: str | None = None
    sent_local: str | None = None


@dataclass(frozen=True)
class Reach:
    """How far out an account's queue reaches."""

    account: str
    queued: int
    last_due_local: str | None
    days_out: float


def _entry(delivery: Delivery, account: Account, post: Post, zone: ZoneInfo) -> QueueEntry:
    assert delivery.id is not None
    assert account.id is not None
    return QueueEntry(
        id=delivery.id,
        account_id=account.id,
        network=account.network.value,
        handle=mention(account),
        title=post.title,
        url=post.url,
        text=delivery.text,
        state=delivery.state,
        due_at=delivery.due_at,
        due_local=_local(delivery.due_at, zone),
        reason=delivery.reason,
        remote_url=delivery.remote_url,
        sent_local=_local(delivery.sent_at, zone) if delivery.sent_at else None,
    )


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def list_queue(session: Session, *, email: str, everything: bool = False) -> list[QueueEntry]:
    """Upcoming deliveries (or all of them) by account, then due time."""
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
    zone = ZoneInfo(member.timezone)
    return [_entry(d, a, p, zone) for d, a, p in session.exec(query).all()]


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
    zone = ZoneInfo(member.timezone)
    return [_entry(d, a, p, zone) for d, a, p in rows]


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
    post = session.get(Post, delivery.post_id)
    assert post is not None
    return _entry(delivery, account, post, ZoneInfo(member.timezone))


def cancel(session: Session, *, email: str, delivery_id: int) -> None:
    member = get_member(session, email)
    delivery, _ = _own_delivery(session, member, delivery_id)
    if delivery.state == DeliveryState.CANCELLED:
        return
    if delivery.state not in (DeliveryState.QUEUED, DeliveryState.HELD):
        raise ConflictError(
            f"delivery #{delivery_id} is {delivery.state.value}; it cannot be cancelled"
        )
    delivery.state, delivery.updated_at = DeliveryState.CANCELLED, datetime.now(UTC)
    session.flush()


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
                last_due_local=last.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")
                if last
                else None,
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
    return _entry(delivery, account, post, ZoneInfo(member.timezone))


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
