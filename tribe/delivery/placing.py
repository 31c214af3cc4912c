"""When a delivery goes: placing it in its account's schedule, and the rules that move it.

Every time a delivery gets comes from here: a new one (an approval, an author's own
post), one moved by the member (send next, retry), the overdue ones after a pause or a
rate limit (`resume_account`), the ones a new schedule no longer allows
(`retime_account`), and the held ones of an account connected again (`release_held`).
Holding an account's queue while it cannot send (`hold_queue`) lives here too, so each
rule is written once. The pure part — which time, and why — is `tribe/core/schedule.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import update
from sqlmodel import Session, col, select

from config import Settings, get_settings
from tribe.core.kinds import Connection, DeliveryState, ReshareKind
from tribe.core.schedule import Placement, misfit, place
from tribe.infra.db import serialize
from tribe.infra.models import Account, Delivery, Member, Post, StreamItem
from tribe.members.accounts import mention, schedule_of

# States in which a delivery holds its time in the account's schedule.
HOLDS_TIME = (
    DeliveryState.QUEUED,
    DeliveryState.SENDING,
    DeliveryState.SENT,
    DeliveryState.UNCONFIRMED,
    DeliveryState.HELD,
)
# Still waiting for their time: the member may change their text, and a new schedule
# their time.
EDITABLE = (DeliveryState.QUEUED, DeliveryState.HELD)
# Why an account's queue is held, by the state of its connection.
_HELD_BECAUSE = {
    Connection.NEEDS_RECONNECT: "needs reconnecting",
    Connection.UNCONNECTED: "was disconnected",
}


@dataclass(frozen=True)
class PlacementConfig:
    """How deliveries are placed: `stagger` apart from a tribemate's share of the same
    post on the same network, and never further ahead than `horizon`."""

    stagger: timedelta = timedelta(minutes=20)
    horizon: timedelta = timedelta(days=7)

    @classmethod
    def from_settings(cls, settings: Settings) -> PlacementConfig:
        return cls(stagger=settings.TRIBE_STAGGER, horizon=settings.TRIBE_QUEUE_HORIZON)


@lru_cache(maxsize=1)
def _placement_config_of(settings: Settings) -> PlacementConfig:
    return PlacementConfig.from_settings(settings)


def placement_config() -> PlacementConfig:
    """How deliveries are placed, built once per settings (tests change the settings)."""
    return _placement_config_of(get_settings())


def _times(session: Session, *conditions: object) -> list[datetime]:
    return list(
        session.exec(
            select(col(Delivery.due_at))
            .join(Account, col(Account.id) == col(Delivery.account_id))
            .where(col(Delivery.state).in_(HOLDS_TIME), *conditions)  # type: ignore[arg-type]
        ).all()
    )


def find_time(
    session: Session,
    *,
    account: Account,
    member: Member,
    post: Post,
    now: datetime,
    config: PlacementConfig,
    ignore: int | None = None,
) -> Placement:
    """The next time this account may share this post (`ignore`: a delivery being moved)."""
    serialize(session, f"tribe.queue.{account.id}")
    serialize(session, f"tribe.post.{post.id}.{account.network.value}")
    schedule = schedule_of(account, member)
    recent = now - max(timedelta(days=2), schedule.min_gap)
    others = [col(Delivery.id) != ignore] if ignore is not None else []
    taken = _times(
        session, col(Delivery.account_id) == account.id, col(Delivery.due_at) >= recent, *others
    )
    avoid = _times(
        session,
        col(Delivery.post_id) == post.id,
        col(Account.network) == account.network,
        col(Account.id) != account.id,
    )
    return place(
        schedule, now=now, taken=taken, avoid=avoid, stagger=config.stagger, horizon=config.horizon
    )


def schedule_delivery(
    session: Session,
    *,
    account: Account,
    member: Member,
    post: Post,
    item: StreamItem | None,
    text: str,
    now: datetime,
    config: PlacementConfig,
    kind: ReshareKind | None = None,
) -> Delivery | str:
    """Place one delivery; returns it, or the reason there was no room.

    Its kind is the account's choice (post or repost) unless given (an announcement).
    """
    placement = find_time(
        session, account=account, member=member, post=post, now=now, config=config
    )
    if placement.due_at is None:
        return placement.reason
    delivery = Delivery(
        account_id=account.id,  # type: ignore[arg-type]
        post_id=post.id,  # type: ignore[arg-type]
        stream_item_id=item.id if item else None,
        text=text,
        due_at=placement.due_at,
        reason=placement.reason,
        created_at=now,
        updated_at=now,
        kind=kind or account.reshare,
    )
    session.add(delivery)
    session.flush()
    return delivery


# --- an account that stops and starts again ------------------------------------------------


def hold_queue(
    session: Session, *, account: Account, connection: Connection, note: str, now: datetime
) -> None:
    """The account cannot send (its credentials were refused, or the member disconnected
    it): say so on the account, and hold its queued deliveries until it is connected
    again (`release_held`)."""
    account.connection = connection
    account.connection_note = note
    session.exec(
        update(Delivery)
        .where(
            col(Delivery.account_id) == account.id,
            col(Delivery.state) == DeliveryState.QUEUED,
        )
        .values(
            state=DeliveryState.HELD,
            reason=f"held: {mention(account)} {_HELD_BECAUSE[connection]}",
            updated_at=now,
        )
    )


def release_held(
    session: Session, *, account: Account, config: PlacementConfig, now: datetime | None = None
) -> int:
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
    resume_account(session, member=member, account=account, config=config, now=now)
    return len(held)


def resume_account(
    session: Session,
    *,
    member: Member,
    account: Account,
    config: PlacementConfig,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Queued deliveries whose time passed (a pause, a rate limit, a reconnection) get new
    times, so nothing goes out in a burst; those that find none are cancelled. Returns how
    many moved and how many were cancelled."""
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
            session,
            account=account,
            member=member,
            post=post,
            now=now,
            config=config,
            ignore=delivery.id,
        )
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


# --- a new schedule -------------------------------------------------------------------------


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


def retime_account(
    session: Session, *, member: Member, account: Account, config: PlacementConfig, now: datetime
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
            session,
            account=account,
            member=member,
            post=post,
            now=now,
            config=config,
            ignore=delivery.id,
        )
        delivery.state = states[delivery.id]
        if placement.due_at is None:
            stuck.append(f"#{delivery.id}: {placement.reason}")
        else:
            delivery.due_at, delivery.updated_at = placement.due_at, now
            delivery.reason = f"schedule changed: {placement.reason}"
            moved += 1
        session.flush()
    return Retimed(moved, tuple(stuck))
