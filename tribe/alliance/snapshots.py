"""Reach snapshots: each connected account's followers, read from its network once a UTC day.

Where the counts of tribe/alliance/reach.py come from. An account is *due* a reading when
it is active and connected, its network has not asked tribe to slow down
(`rate_limited_until`), and it has no reading for today (UTC) or was connected (again)
after today's reading: connecting is what first makes it due. Beat's `tribe.reach.daily`
looks every ten minutes (`REACH_EVERY`, workers/queues.py) and enqueues one
`tribe.reach.snapshot(account_id)` per due account, so an account connected on the
Accounts page is read within minutes and a missed beat is caught up; `tribe account
connect` reads at once and prints the count.

A reading is like a delivery: read what the call needs, call with no session open, record
(docs/architecture.md). `snapshot_account` checks again that the account is due (a task
can arrive twice), asks the network's `FollowerCounter` (tribe/networks/*/followers.py:
the same sign-in, token refresh, guard and timeout as a post), and keeps the day's row:

- a count replaces the day's earlier reading: one row per account and day, whose history
  feeds the charts;
- an unknown the network gives for the whole day (X below the access level that returns
  `public_metrics`, a sign-in to renew, dry run) is kept with its reason, but never over
  a count read earlier that day;
- an unknown "for now" (the network not reached, in trouble, or rate limiting) is not
  kept: the account stays due and the next pass reads it again, while the last count
  read stands.

Nothing here changes an account's state (renewed credentials are stored, as when
posting): a refused sign-in is left for publishing to find, and hold the queue; a
reading's rate limit is not the account's posting limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from config import Settings, SettingsError
from tribe.core.kinds import Connection, Network
from tribe.core.outcomes import AccountContext
from tribe.delivery.calls import credential_updater
from tribe.infra.db import dialect_insert, read_scope, session_scope
from tribe.infra.models import Account, ReachSnapshot
from tribe.infra.netguard import AddressPolicy
from tribe.infra.vault import Vault
from tribe.networks.base import FollowerCounter, Followers, address_policy
from tribe.networks.registry import make_follower_counters

log = logging.getLogger("tribe.reach")

SCAN_BATCH = 200  # accounts enqueued per pass at most; the rest wait for the next pass
NOTE_LENGTH = 300  # ReachSnapshot.note


@dataclass(frozen=True)
class ReachConfig:
    """What a reading needs besides the account, read from the settings."""

    timeout: float  # seconds, for every network call (TRIBE_PUBLISH_TIMEOUT)
    policy: AddressPolicy  # where a refreshed Bluesky session's server may be
    counters: Callable[[Network], FollowerCounter]

    @classmethod
    def from_settings(cls, settings: Settings) -> ReachConfig:
        return cls(
            timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds(),
            policy=address_policy(settings),
            counters=make_follower_counters(settings),
        )


@dataclass(frozen=True)
class Reading:
    """One account's followers as just read, and whether it became the day's snapshot."""

    account_id: int
    day: date  # UTC
    followers: int | None  # None: unknown, `note` says why
    note: str
    kept: bool  # False: unknown for now only; the next pass reads the account again


@dataclass(frozen=True)
class _Due:
    """What reading one account needs, read before the call."""

    account_id: int
    network: Network
    handle: str
    remote_user_id: str | None
    base_url: str | None
    sealed: str | None  # the credentials, still encrypted


def utc_day(now: datetime) -> date:
    """The day a reading at `now` counts for (UTC, whatever the member's zone)."""
    return now.astimezone(UTC).date()


def snapshot_due(
    session: Session, *, now: datetime, limit: int, account_ids: Sequence[int] | None = None
) -> list[int]:
    """The accounts due a reading at `now` (see the module docstring), at most `limit`,
    the most recently connected first; `account_ids` narrows the search to those."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    todays = (col(ReachSnapshot.account_id) == col(Account.id)) & (
        col(ReachSnapshot.day) == utc_day(now)
    )
    query = (
        select(col(Account.id))
        .outerjoin(ReachSnapshot, todays)
        .where(
            col(Account.active).is_(True),
            col(Account.connection) == Connection.CONNECTED,
            or_(col(Account.rate_limited_until).is_(None), col(Account.rate_limited_until) <= now),
            or_(
                col(ReachSnapshot.id).is_(None),
                col(Account.connected_at) > col(ReachSnapshot.taken_at),
            ),
        )
        .order_by(
            func.coalesce(col(Account.connected_at), col(Account.created_at)).desc(),
            col(Account.id),
        )
        .limit(limit)
    )
    if account_ids is not None:
        query = query.where(col(Account.id).in_(account_ids))
    return [account_id for account_id in session.exec(query).all() if account_id is not None]


def snapshot_account(
    account_id: int, *, now: datetime, config: ReachConfig, vault: Vault | None
) -> Reading | None:
    """Read one account's followers and keep the day's snapshot. None when the account
    is not due (read today already, switched off, disconnected, rate limited, gone).

    Never raises for what a network answers, nor for one account's odd answer: the
    daily pass goes on, and a connect that asked for the reading has still succeeded.
    """
    with read_scope() as session:
        if not snapshot_due(session, now=now, limit=1, account_ids=[account_id]):
            return None
        account = session.get(Account, account_id)
        assert account is not None
        due = _Due(
            account_id=account_id,
            network=account.network,
            handle=account.handle,
            remote_user_id=account.remote_user_id,
            base_url=account.base_url,
            sealed=account.credentials,
        )
    followers = _read(due, config=config, vault=vault)  # no session open
    day = utc_day(now)
    if followers.again:
        log.info("followers of account %s unknown for now: %s", account_id, followers.note)
        return Reading(account_id, day, None, followers.note, kept=False)
    with session_scope() as session:
        keep_reading(session, account_id=account_id, followers=followers, now=now)
    return Reading(account_id, day, followers.count, followers.note, kept=True)


def _read(due: _Due, *, config: ReachConfig, vault: Vault | None) -> Followers:
    """The network's answer. Whatever else goes wrong is unknown for now, and logged."""
    try:
        context = AccountContext(
            account_id=due.account_id,
            handle=due.handle,
            remote_user_id=due.remote_user_id,
            base_url=due.base_url,
            credentials=vault.open(due.sealed) if vault is not None and due.sealed else {},
            timeout=config.timeout,
            refresh=credential_updater(
                vault, due.account_id, policy=config.policy, timeout=config.timeout
            ),
        )
        return config.counters(due.network).followers(context)
    except SettingsError as error:  # a key taken away: the operator's to put back
        log.warning("cannot read the followers of account %s: %s", due.account_id, error)
        return Followers(None, str(error), again=True)
    except Exception:
        # An answer no adapter foresaw must not stop the pass, nor fail a connect.
        log.exception("reading the followers of account %s failed", due.account_id)
        return Followers(None, "tribe could not read the count (see its log)", again=True)


def keep_reading(session: Session, *, account_id: int, followers: Followers, now: datetime) -> None:
    """Upsert the account's row for the day of `now`: a count replaces the day's reading;
    an unknown replaces an unknown only (the count read earlier that day stays)."""
    insert = dialect_insert(session, ReachSnapshot).values(
        account_id=account_id,
        day=utc_day(now),
        followers=followers.count,
        note=followers.note[:NOTE_LENGTH],
        taken_at=now,
    )
    new, old = insert.excluded, ReachSnapshot.__table__.c  # type: ignore[attr-defined]
    keeps_count = new.followers.is_(None) & old.followers.is_not(None)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["account_id", "day"],
            set_={
                "followers": func.coalesce(new.followers, old.followers),
                "note": case((keeps_count, old.note), else_=new.note),
                "taken_at": new.taken_at,
            },
        )
    )
