"""Claiming due deliveries: the SQL that leases them to one publisher each.

A claim is one committed statement (`UPDATE … RETURNING`, rows picked `FOR UPDATE SKIP
LOCKED` on PostgreSQL): the deliveries move `queued -> sending` with a lease and a token
before anyone is told, and X's daily post limits hold inside the statement itself, so
two dispatchers never claim one delivery twice nor together pass a limit. The loop that
uses these (and records what happened) is `tribe/delivery/dispatch.py`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Integer, and_, bindparam, case, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, UTCDateTime, col, select

from tribe.core.kinds import Connection, DeliveryState, Network
from tribe.infra.models import Account, Delivery, Member


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    token: str
    reconcile: bool = False  # look for it on the network instead of sending


def _sendable(now: Any, dry_run: bool) -> Any:
    """The account may send now: switched on, unpaused, connected, not rate limited."""
    connected = (
        col(Account.connection) != Connection.NEEDS_RECONNECT
        if dry_run
        else col(Account.connection) == Connection.CONNECTED
    )
    return and_(
        col(Account.active).is_(True),
        col(Account.paused).is_(False),
        col(Member.queue_paused).is_(False),
        connected,
        or_(col(Account.rate_limited_until).is_(None), col(Account.rate_limited_until) <= now),
    )


# Networks that limit an account's posts in 24 hours (their budgets: `DailyLimits`).
DAILY_LIMITED = (Network.X, Network.LINKEDIN, Network.THREADS)


@dataclass(frozen=True)
class DailyLimits:
    """Posts per account in 24 hours on the networks that limit them, and X's per app."""

    x_per_account: int
    x_per_app: int
    linkedin_per_account: int
    threads_per_account: int

    def per_account(self) -> dict[str, int]:
        return {
            "per_account_x": self.x_per_account,
            "per_account_linkedin": self.linkedin_per_account,
            "per_account_threads": self.threads_per_account,
        }


@cache
def _claim_statement(dry_run: bool) -> Any:
    """Parameters: now, day_ago, per_account_<network> (each of `DAILY_LIMITED`),
    app_budget, limit, lease_until, token.

    Daily post limits hold in the claim itself: an account's candidates are numbered,
    and on a network that limits posts per account a day (X, LinkedIn, Threads) only as
    many are taken as its posts in the last 24 hours (sent, or on their way) leave room
    for; X candidates as a whole are also cut at the app's budget.
    """
    now = bindparam("now", type_=UTCDateTime())
    today = Delivery.__table__.alias("today")  # type: ignore[attr-defined]
    used_by_account = (
        select(func.count())
        .select_from(today)
        .where(
            today.c.account_id == col(Delivery.account_id),
            or_(
                today.c.sent_at > bindparam("day_ago", type_=UTCDateTime()),
                today.c.state.in_([DeliveryState.SENDING.value, DeliveryState.UNCONFIRMED.value]),
            ),
        )
        .scalar_subquery()
    )
    due = and_(col(Delivery.state) == DeliveryState.QUEUED, col(Delivery.due_at) <= now)
    # A claim whose message was lost: leased, never started, lease ran out.
    lost = and_(
        col(Delivery.state) == DeliveryState.SENDING,
        col(Delivery.started_at).is_(None),
        col(Delivery.lease_until) <= now,
    )
    order = (col(Delivery.due_at), col(Delivery.id))
    candidates = (
        sa_select(
            col(Delivery.id),
            col(Delivery.due_at),
            col(Account.network),
            used_by_account.label("used"),
            func.row_number()
            .over(partition_by=col(Delivery.account_id), order_by=order)
            .label("account_rank"),
            func.row_number()
            .over(partition_by=col(Account.network), order_by=order)
            .label("network_rank"),
        )
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .join(Member, col(Member.id) == col(Account.member_id))
        .where(or_(due, lost), _sendable(now, dry_run))
        .subquery()
    )
    per_account = case(
        *(
            (
                candidates.c.network == network.value,
                bindparam(f"per_account_{network.value}", type_=Integer()),
            )
            for network in DAILY_LIMITED
        ),
        else_=None,
    )
    within_limits = and_(
        or_(per_account.is_(None), candidates.c.used + candidates.c.account_rank <= per_account),
        or_(
            candidates.c.network != Network.X.value,
            candidates.c.network_rank <= bindparam("app_budget", type_=Integer()),
        ),
    )
    picked = (
        select(candidates.c.id)
        .where(within_limits)
        .order_by(candidates.c.due_at, candidates.c.id)
        .limit(bindparam("limit", type_=Integer()))
    )
    # SKIP LOCKED on PostgreSQL (SQLAlchemy leaves it out on SQLite, where claims are
    # serialized by the write lock anyway): never wait on a row another claim writes.
    lockable = (
        select(col(Delivery.id))
        .where(col(Delivery.id).in_(picked))
        .with_for_update(skip_locked=True)
    )
    return (
        update(Delivery)
        .where(col(Delivery.id).in_(lockable))
        .values(
            state=DeliveryState.SENDING,
            lease_until=bindparam("lease_until", type_=UTCDateTime()),
            lease_token=bindparam("token"),
            started_at=None,
            updated_at=now,
        )
        .returning(col(Delivery.id))
    )


def _x_used_today(session: Session, day_ago: datetime) -> int:
    """X posts of the whole app in the last 24 hours, sent or on their way."""
    return session.exec(
        select(func.count())
        .select_from(Delivery)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .where(
            col(Account.network) == Network.X,
            or_(
                col(Delivery.sent_at) > day_ago,
                col(Delivery.state).in_([DeliveryState.SENDING, DeliveryState.UNCONFIRMED]),
            ),
        )
    ).one()


def lease_due(
    session: Session,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    dry_run: bool,
    limits: DailyLimits,
) -> list[Claim]:
    """Lease up to `limit` due deliveries (and lost claims) under one new token."""
    day_ago = now - timedelta(days=1)
    token = str(uuid.uuid4())
    claimed = session.exec(
        _claim_statement(dry_run),
        params={
            "now": now,
            "day_ago": day_ago,
            **limits.per_account(),
            "app_budget": limits.x_per_app - _x_used_today(session, day_ago),
            "limit": limit,
            "lease_until": now + lease,
            "token": token,
        },
    ).scalars()
    return [Claim(delivery_id, token) for delivery_id in sorted(claimed)]


def stuck_calls(session: Session, now: datetime) -> list[tuple[Delivery, Account]]:
    """Calls that started and never reported back (the worker died mid-call), locked."""
    return list(
        session.exec(
            select(Delivery, Account)
            .join(Account, col(Account.id) == col(Delivery.account_id))
            .where(
                col(Delivery.state) == DeliveryState.SENDING,
                col(Delivery.started_at).is_not(None),
                col(Delivery.lease_until) <= now,
            )
            .with_for_update(skip_locked=True, of=Delivery)
        ).all()
    )


def lease_unconfirmed(
    session: Session, *, now: datetime, lease: timedelta, limit: int
) -> list[Claim]:
    """Lease unconfirmed deliveries whose next look on the network is due."""
    rows = session.exec(
        select(Delivery)
        .where(
            col(Delivery.state) == DeliveryState.UNCONFIRMED,
            col(Delivery.lease_until) <= now,
        )
        .order_by(col(Delivery.lease_until))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claims = []
    for delivery in rows:
        assert delivery.id is not None
        delivery.lease_token = str(uuid.uuid4())
        delivery.lease_until = now + lease
        delivery.updated_at = now
        claims.append(Claim(delivery.id, delivery.lease_token, reconcile=True))
    return claims
