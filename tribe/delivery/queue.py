"""A member's queue as they see it: upcoming deliveries per account, in their own time
zone; what went out (the history); how far out each account's queue reaches; and the
notices about what only they can settle. The changes to it are `tribe/delivery/changes.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from tribe.core import timefmt
from tribe.core.kinds import Connection, DeliveryState, ReshareKind
from tribe.delivery.placing import EDITABLE, PlacementConfig
from tribe.infra.models import Account, Delivery, Member, Post
from tribe.members.accounts import limit_of, member_accounts, mention

UPCOMING = (
    DeliveryState.QUEUED,
    DeliveryState.SENDING,
    DeliveryState.HELD,
    DeliveryState.UNCONFIRMED,
)
PAST = (
    DeliveryState.SENT,
    DeliveryState.FAILED,
    DeliveryState.UNCONFIRMED,
    DeliveryState.CANCELLED,
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


def entry_of(
    session: Session,
    member: Member,
    delivery: Delivery,
    account: Account,
    *,
    now: datetime | None = None,
) -> QueueEntry:
    """One of the member's deliveries as they see it, in their time zone."""
    post = session.get(Post, delivery.post_id)
    assert post is not None
    return _entry(delivery, account, post, ZoneInfo(member.timezone), now or datetime.now(UTC))


def list_queue(
    session: Session,
    *,
    member: Member,
    everything: bool = False,
    account_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[QueueEntry]:
    """Upcoming deliveries (or all of them) by account, then due time; of one account
    when `account_id` is given; a page of them with `limit` and `offset` (the count of
    upcoming ones is `count_upcoming`)."""
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
    if limit is not None:
        query = query.limit(limit).offset(offset)
    zone, now = ZoneInfo(member.timezone), datetime.now(UTC)
    return [_entry(d, a, p, zone, now) for d, a, p in session.exec(query).all()]


def history(
    session: Session, *, member: Member, limit: int = 100, offset: int = 0
) -> list[QueueEntry]:
    """Deliveries that went out, failed, were cancelled or await the member's word; newest
    first."""
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
    session: Session, *, member: Member, states: tuple[DeliveryState, ...] = UPCOMING
) -> int:
    """How many of the member's deliveries are in `states` (by default: still to go out)."""
    return session.exec(
        select(func.count())
        .select_from(Delivery)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .where(col(Account.member_id) == member.id, col(Delivery.state).in_(states))
    ).one()


def reach(session: Session, *, member: Member, now: datetime | None = None) -> list[Reach]:
    """For each active account: how many deliveries wait and how far out the last one is."""
    now = now or datetime.now(UTC)
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


def reach_notices(reaches: list[Reach], config: PlacementConfig) -> list[str]:
    """What to tell a member whose queue is getting long (past half the horizon)."""
    horizon_days = config.horizon.total_seconds() / 86400
    return [
        f"your {r.account} queue reaches {r.days_out:g} days out (until {r.last_due_local}); "
        f"approvals find no time past {horizon_days:g} days"
        for r in reaches
        if r.days_out >= horizon_days / 2
    ]


def member_notices(session: Session, *, member: Member, config: PlacementConfig) -> list[str]:
    """What `tribe stream` and `tribe queue` tell a member besides the listing: long
    queues, accounts to reconnect, and posts whose fate only they can settle."""
    notices = reach_notices(reach(session, member=member), config)
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
