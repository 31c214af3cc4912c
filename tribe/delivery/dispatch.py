"""Due deliveries go out: claim, then call, then record (DESIGN.md, "Rules that keep data right").

1. `dispatch` (beat, every few seconds) claims due deliveries in one statement: they
   move `queued -> sending` with a lease and a token, and are committed before anyone
   is told. Then one `publish_delivery(id, token)` task is enqueued per claim.
2. `begin` (in the task) marks the call as started, in its own committed transaction,
   and reads everything the call needs. No session is held during the network call.
3. `record` writes the outcome in one short transaction.

The lease is what makes this safe when processes die or messages are lost:
- leased, never started, lease ran out: the message was lost; claim it again.
- started, lease ran out: the call may have happened. Where the network makes the
  write idempotent (Mastodon's Idempotency-Key, Bluesky's fixed record key) it is
  simply queued again; on X it becomes `unconfirmed` and is reconciled by looking for
  the post on the account (`reconcile`), and sent again only when provably absent.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Integer, and_, bindparam, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, UTCDateTime, col, select

from config import Settings, SettingsError, get_settings
from tribe.core.errors import TribeError
from tribe.core.kinds import Connection, DeliveryState, Network, ReshareKind
from tribe.core.outcomes import (
    AccountContext,
    Credentials,
    NeedsReconnect,
    Publication,
    Publisher,
    PublishError,
    RateLimited,
    Rejected,
    Sent,
    Unknown,
)
from tribe.delivery.queue import DRY_RUN_REASON, resume_account
from tribe.infra.db import serialize, session_scope
from tribe.infra.models import Account, Delivery, Feed, Member, Post
from tribe.infra.vault import Vault
from tribe.members.accounts import mention
from tribe.stream.approvals import ApprovalConfig, find_time

log = logging.getLogger("tribe.publishing")

_CLAIM_LOCK = "tribe.publishing.claim"
# Mastodon keeps an Idempotency-Key for about an hour: past this, a call that may have
# posted is looked for before it is sent again, as on X.
MASTODON_KEY_WINDOW = timedelta(minutes=45)
# How long a repost waits for the author's own post before sharing in own words.
REPOST_WAIT = timedelta(days=1)
# What the member reads is kept to the column's size.
_REASON = 300


@dataclass(frozen=True)
class PublishConfig:
    dry_run: bool
    timeout: float
    lease: timedelta
    max_attempts: int
    retry_base: timedelta
    batch: int
    x_daily_per_account: int
    x_daily_per_app: int
    approvals: ApprovalConfig = field(default_factory=ApprovalConfig)

    @classmethod
    def from_settings(cls, settings: Settings) -> PublishConfig:
        return cls(
            dry_run=settings.dry_run,
            timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds(),
            lease=settings.TRIBE_PUBLISH_LEASE,
            max_attempts=settings.TRIBE_PUBLISH_MAX_ATTEMPTS,
            retry_base=settings.TRIBE_PUBLISH_RETRY_BASE,
            batch=settings.TRIBE_DISPATCH_BATCH,
            x_daily_per_account=settings.TRIBE_X_DAILY_POSTS_PER_ACCOUNT,
            x_daily_per_app=settings.TRIBE_X_DAILY_POSTS_PER_APP,
            approvals=ApprovalConfig.from_settings(settings),
        )


def publish_config() -> PublishConfig:
    return PublishConfig.from_settings(get_settings())


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    token: str
    reconcile: bool = False  # look for it on the network instead of sending


# Claiming ---------------------------------------------------------------------------


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


@cache
def _claim_statement(dry_run: bool) -> Any:
    """Parameters: now, day_ago, per_account, app_budget, limit, lease_until, token.

    X's daily post limits hold in the claim itself: an X account's candidates are
    numbered, and only as many are taken as its posts in the last 24 hours (sent, or on
    their way) leave room for; X candidates as a whole are cut at the app's budget.
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
    within_limits = or_(
        candidates.c.network != Network.X.value,
        and_(
            candidates.c.used + candidates.c.account_rank
            <= bindparam("per_account", type_=Integer()),
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


def _sweep_started(session: Session, now: datetime, config: PublishConfig) -> int:
    """Calls that started and never reported back (the worker died mid-call).

    X has no idempotency key, so there the post is looked for first; elsewhere the same
    key makes sending again safe. A delivery whose calls keep killing workers is left
    unconfirmed for the member to decide (it may or may not be out).
    """
    stuck = session.exec(
        select(Delivery, Account)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .where(
            col(Delivery.state) == DeliveryState.SENDING,
            col(Delivery.started_at).is_not(None),
            col(Delivery.lease_until) <= now,
        )
        .with_for_update(skip_locked=True, of=Delivery)
    ).all()
    for delivery, account in stuck:
        if delivery.attempts >= config.max_attempts:
            delivery.state = DeliveryState.UNCONFIRMED
            delivery.lease_until = None  # no automatic check: the member decides
            delivery.reason = (
                f"the worker stopped during each of {delivery.attempts} tries; "
                "look at the account, then say whether it is there (History page, or "
                "tribe queue confirm / retry)"
            )
        elif not safe_to_resend(account.network, delivery.first_started_at, now):
            delivery.state = DeliveryState.UNCONFIRMED
            delivery.lease_until = now  # look for it at once
            delivery.reason = "the worker stopped during the call; checking whether it is out"
        else:
            delivery.state = DeliveryState.QUEUED
            delivery.due_at = now
            delivery.lease_until = None
            delivery.reason = "the worker stopped during the call; sending again (same key)"
        delivery.lease_token, delivery.started_at, delivery.updated_at = None, None, now
    return len(stuck)


def _claim_unconfirmed(session: Session, now: datetime, config: PublishConfig) -> list[Claim]:
    """X deliveries whose outcome is unknown and whose next check is due."""
    rows = session.exec(
        select(Delivery)
        .where(
            col(Delivery.state) == DeliveryState.UNCONFIRMED,
            col(Delivery.lease_until) <= now,
        )
        .order_by(col(Delivery.lease_until))
        .limit(config.batch)
        .with_for_update(skip_locked=True)
    ).all()
    claims = []
    for delivery in rows:
        assert delivery.id is not None
        delivery.lease_token = str(uuid.uuid4())
        delivery.lease_until = now + config.lease
        delivery.updated_at = now
        claims.append(Claim(delivery.id, delivery.lease_token, reconcile=True))
    return claims


def claim_due(session: Session, *, now: datetime, config: PublishConfig) -> list[Claim]:
    """Lease what is due (and recover what crashed), at most `config.batch` deliveries."""
    serialize(session, _CLAIM_LOCK)
    _sweep_started(session, now, config)
    day_ago = now - timedelta(days=1)
    token = str(uuid.uuid4())
    claimed = session.exec(
        _claim_statement(config.dry_run),
        params={
            "now": now,
            "day_ago": day_ago,
            "per_account": config.x_daily_per_account,
            "app_budget": config.x_daily_per_app - _x_used_today(session, day_ago),
            "limit": config.batch,
            "lease_until": now + config.lease,
            "token": token,
        },
    ).scalars()
    claims = [Claim(delivery_id, token) for delivery_id in sorted(claimed)]
    return claims + _claim_unconfirmed(session, now, config)


# One call -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One started call: what to send, with whose credentials, and how to record it."""

    claim: Claim
    network: Network
    account: AccountContext
    publication: Publication


def _target(
    session: Session, account: Account, post: Post
) -> tuple[Delivery | None, Delivery | None]:
    """For a repost: (the author's own post of the article when it is out, the author's
    own post when it is still to go out)."""
    feed = session.get(Feed, post.feed_id)
    assert feed is not None
    own = session.exec(
        select(Delivery)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .where(
            col(Delivery.post_id) == post.id,
            col(Delivery.kind) == ReshareKind.ANNOUNCE,
            col(Account.member_id) == feed.owner_id,
            col(Account.network) == account.network,
        )
    ).first()
    if own is None:
        return None, None
    if own.state == DeliveryState.SENT:
        # Confirmed by hand (or a dry run): no remote id to point at.
        return (own, None) if own.remote_id else (None, None)
    if own.state in (DeliveryState.QUEUED, DeliveryState.SENDING):
        return None, own
    return None, None  # held, unconfirmed, failed or cancelled: do not wait on it


def _job(
    session: Session,
    claim: Claim,
    delivery: Delivery,
    account: Account,
    post: Post,
    *,
    kind: ReshareKind,
    target: Delivery | None,
    config: PublishConfig,
    vault: Vault | None,
) -> Job:
    assert account.id is not None
    credentials: Credentials = {}
    if account.credentials and vault is not None:
        credentials = vault.open(account.credentials)
    context = AccountContext(
        account_id=account.id,
        handle=account.handle,
        remote_user_id=account.remote_user_id,
        base_url=account.base_url,
        credentials=credentials,
        timeout=config.timeout,
        refresh=credential_updater(vault, account.id),
    )
    publication = Publication(
        delivery_id=claim.delivery_id,
        kind=kind,
        text=delivery.text,
        link=post.url,
        title=post.title,
        summary=post.summary,
        target_id=_target_id(target, account, session),
        target_cid=target.remote_cid if target else None,
        key=delivery.key,
        created_at=delivery.first_started_at or delivery.created_at,
    )
    return Job(claim, account.network, context, publication)


def begin(claim: Claim, *, now: datetime, config: PublishConfig, vault: Vault | None) -> Job | None:
    """Mark the call as started (committed) and gather what it needs; None: not ours."""
    with session_scope() as session:
        delivery = session.get(Delivery, claim.delivery_id, with_for_update=True)
        if (
            delivery is None
            or delivery.lease_token != claim.token
            or delivery.state != DeliveryState.SENDING
            or delivery.started_at is not None
        ):
            return None  # another claim took it over, or it is recorded already
        account = session.get(Account, delivery.account_id)
        post = session.get(Post, delivery.post_id)
        assert account is not None
        assert post is not None
        kind, target = delivery.kind, None
        if kind == ReshareKind.REPOST:
            target, pending = _target(session, account, post)
            if pending is not None and _wait_for_author(
                session, delivery, account, post, pending, now, config
            ):
                return None
            if target is None:
                # The author has no post of it: share in own words, and keep that choice
                # for every retry (a second kind would be a second post).
                kind = delivery.kind = ReshareKind.POST
        delivery.started_at = now
        # The lease counts from the start of the call, however long the task waited.
        delivery.lease_until = now + config.lease
        delivery.first_started_at = delivery.first_started_at or now
        delivery.attempts += 1
        delivery.updated_at = now
        return _job(
            session, claim, delivery, account, post,
            kind=kind, target=target, config=config, vault=vault,
        )  # fmt: skip


def _wait_for_author(
    session: Session,
    delivery: Delivery,
    account: Account,
    post: Post,
    pending: Delivery,
    now: datetime,
    config: PublishConfig,
) -> bool:
    """Give a repost a later time in its schedule, after the author's own post.

    False (share in own words now) once it has waited `REPOST_WAIT`, or when the
    schedule has no time left within the horizon.
    """
    if now - delivery.created_at >= REPOST_WAIT:
        return False
    member = session.get(Member, account.member_id)
    assert member is not None
    after = max(now, pending.due_at + config.approvals.stagger)
    placement = find_time(
        session, account=account, member=member, post=post, now=after,
        config=config.approvals, ignore=delivery.id,
    )  # fmt: skip
    if placement.due_at is None:
        return False
    delivery.state, delivery.due_at = DeliveryState.QUEUED, placement.due_at
    delivery.lease_token = delivery.lease_until = None
    delivery.reason = _trim(f"waiting for the author's own post to repost it; {placement.reason}")
    delivery.updated_at = now
    return True


def _target_id(target: Delivery | None, account: Account, session: Session) -> str | None:
    if target is None:
        return None
    if account.network == Network.MASTODON:
        # A status id is only good on its own instance; elsewhere the instance looks
        # the post up by its URL.
        origin = session.get(Account, target.account_id)
        if origin is not None and origin.base_url != account.base_url:
            return target.remote_url
    return target.remote_id


def backoff(attempts: int, base: timedelta) -> timedelta:
    """Exponential, with full jitter in [0.5, 1.5) so retries of many deliveries spread."""
    factor: float = 2 ** max(attempts - 1, 0) * (0.5 + random.random())
    return base * factor


def safe_to_resend(network: Network, first_started_at: datetime | None, now: datetime) -> bool:
    """Whether sending again with the same key cannot make a second post."""
    if network == Network.X:
        return False  # no idempotency key at all
    if network == Network.MASTODON:
        return first_started_at is None or now - first_started_at < MASTODON_KEY_WINDOW
    return True  # Bluesky: putRecord at a fixed record key


def _trim(text: str) -> str:
    return text if len(text) <= _REASON else text[: _REASON - 1] + "\u2026"


def record(
    job: Job,
    outcome: Sent | PublishError,
    *,
    now: datetime,
    config: PublishConfig,
    idempotent: bool,
) -> DeliveryState:
    """Write what happened in one short transaction; returns the delivery's new state."""
    with session_scope() as session:
        delivery = session.get(Delivery, job.claim.delivery_id, with_for_update=True)
        assert delivery is not None
        if isinstance(outcome, Sent):
            # The network has it: that is the truth, whoever holds the lease by now.
            delivery.state = DeliveryState.SENT
            delivery.sent_at = now
            delivery.remote_id = outcome.remote_id or None
            delivery.remote_url = outcome.remote_url or None
            delivery.remote_cid = outcome.remote_cid
            delivery.kind = job.publication.kind
            delivery.dry_run = config.dry_run
            delivery.reason = DRY_RUN_REASON if config.dry_run else "sent"
        elif delivery.lease_token != job.claim.token or delivery.state != DeliveryState.SENDING:
            log.warning(
                "delivery %s: outcome %r arrived after its lease ended; left as %s",
                delivery.id,
                outcome,
                delivery.state.value,
            )
            return delivery.state
        else:
            resend = idempotent and safe_to_resend(job.network, delivery.first_started_at, now)
            _record_error(session, delivery, job, outcome, now, config, resend)
        delivery.lease_token, delivery.updated_at = None, now
        if delivery.state != DeliveryState.UNCONFIRMED:
            delivery.lease_until = None
        return delivery.state


def _retry_or_fail(delivery: Delivery, message: str, now: datetime, config: PublishConfig) -> None:
    if delivery.attempts >= config.max_attempts:
        delivery.state = DeliveryState.FAILED
        delivery.reason = _trim(f"gave up after {delivery.attempts} tries: {message}")
        return
    delivery.state = DeliveryState.QUEUED
    delivery.due_at = now + backoff(delivery.attempts, config.retry_base)
    delivery.reason = _trim(f"will try again at {delivery.due_at:%H:%M} UTC: {message}")


def _record_error(
    session: Session,
    delivery: Delivery,
    job: Job,
    error: PublishError,
    now: datetime,
    config: PublishConfig,
    idempotent: bool,
) -> None:
    message = str(error) or type(error).__name__
    if isinstance(error, RateLimited):
        account = session.get(Account, delivery.account_id)
        assert account is not None
        account.rate_limited_until = error.until
        delivery.state, delivery.due_at = DeliveryState.QUEUED, error.until
        delivery.attempts -= 1  # waiting out a limit is not a failed try
        delivery.reason = _trim(f"rate limited until {error.until:%H:%M} UTC: {message}")
        session.flush()
        # What fell due meanwhile gets new times after the reset: no burst then.
        member = session.get(Member, account.member_id)
        assert member is not None
        resume_account(
            session, member=member, account=account, config=config.approvals, now=error.until
        )
    elif isinstance(error, NeedsReconnect):
        _hold_account(session, delivery.account_id, message, now)
        delivery.state = DeliveryState.HELD
        delivery.reason = _trim(f"held: reconnect this account ({message})")
    elif isinstance(error, Rejected):
        delivery.state, delivery.reason = DeliveryState.FAILED, _trim(message)
    elif isinstance(error, Unknown) and not idempotent:
        delivery.state = DeliveryState.UNCONFIRMED
        delivery.lease_until = now + backoff(1, config.retry_base)  # then look for it
        delivery.reason = _trim(f"the network's answer was lost ({message}); checking")
    else:  # Transient, or Unknown where a retry cannot post twice
        _retry_or_fail(delivery, message, now, config)


def _hold_account(session: Session, account_id: int, message: str, now: datetime) -> None:
    """The account's credentials were refused: hold its queue and tell the member."""
    account = session.get(Account, account_id)
    assert account is not None
    account.connection = Connection.NEEDS_RECONNECT
    account.connection_note = _trim(message)
    session.exec(
        update(Delivery)
        .where(
            col(Delivery.account_id) == account_id,
            col(Delivery.state) == DeliveryState.QUEUED,
        )
        .values(
            state=DeliveryState.HELD,
            reason=f"held: {mention(account)} needs reconnecting",
            updated_at=now,
        )
    )


def record_check(
    job: Job, found: Sent | PublishError | None, *, now: datetime, config: PublishConfig
) -> DeliveryState:
    """Write what looking for an unconfirmed post on the network showed."""
    if isinstance(found, Sent):
        return record(job, found, now=now, config=config, idempotent=False)
    with session_scope() as session:
        delivery = session.get(Delivery, job.claim.delivery_id, with_for_update=True)
        assert delivery is not None
        if delivery.lease_token != job.claim.token or delivery.state != DeliveryState.UNCONFIRMED:
            return delivery.state
        delivery.lease_token, delivery.updated_at = None, now
        if found is None:
            delivery.state, delivery.due_at, delivery.lease_until = (
                DeliveryState.QUEUED,
                now,
                None,
            )
            delivery.reason = "not on the network after all; sending again"
        elif delivery.attempts >= config.max_attempts:
            delivery.lease_until = None  # no more automatic checks: the member decides
            delivery.reason = _trim(
                f"could not tell whether it was posted ({found}); look at the account, then "
                f"say whether it is there (History page, or tribe queue confirm / retry "
                f"{delivery.id})"
            )
        else:
            delivery.attempts += 1
            delivery.lease_until = now + backoff(delivery.attempts, config.retry_base)
            delivery.reason = _trim(f"still checking whether it was posted: {found}")
        return delivery.state


def begin_check(claim: Claim, *, config: PublishConfig, vault: Vault | None) -> Job | None:
    """Gather what looking for an unconfirmed delivery needs (no state change)."""
    with session_scope() as session:
        delivery = session.get(Delivery, claim.delivery_id)
        if (
            delivery is None
            or delivery.lease_token != claim.token
            or delivery.state != DeliveryState.UNCONFIRMED
        ):
            return None
        account = session.get(Account, delivery.account_id)
        post = session.get(Post, delivery.post_id)
        assert account is not None
        assert post is not None
        target = None
        if delivery.kind == ReshareKind.REPOST:
            target, _pending = _target(session, account, post)
        kind = (
            ReshareKind.POST
            if delivery.kind == ReshareKind.REPOST and not target
            else delivery.kind
        )
        return _job(
            session, claim, delivery, account, post,
            kind=kind, target=target, config=config, vault=vault,
        )  # fmt: skip


def run_claims(
    claims: Sequence[Claim],
    *,
    publishers: Callable[[Network], Publisher],
    config: PublishConfig,
    vault: Vault | None,
) -> list[DeliveryState]:
    """Publish (or check) each claimed delivery: begin, call, record."""
    states = []
    for claim in claims:
        if claim.reconcile:
            try:
                job = begin_check(claim, config=config, vault=vault)
            except Exception as error:
                states.append(_could_not_start(claim, error))
                continue
            if job is None:
                continue
            try:
                found: Sent | PublishError | None = publishers(job.network).find(
                    job.account, job.publication
                )
            except PublishError as error:
                found = error
            except Exception as error:
                log.exception("delivery %s: unexpected error looking for it", claim.delivery_id)
                found = Unknown(f"unexpected error: {error}")
            states.append(record_check(job, found, now=datetime.now(UTC), config=config))
            continue
        try:
            started = begin(claim, now=datetime.now(UTC), config=config, vault=vault)
        except Exception as error:  # nothing was sent: say why instead of looping
            states.append(_could_not_start(claim, error))
            continue
        if started is None:
            continue
        publisher = publishers(started.network)
        outcome: Sent | PublishError
        try:
            outcome = publisher.publish(started.account, started.publication)
        except PublishError as error:
            outcome = error
        except Exception as error:  # a bug, or a library error we do not know yet
            log.exception("delivery %s: unexpected error", claim.delivery_id)
            outcome = Unknown(f"unexpected error: {error}")
        states.append(
            record(
                started,
                outcome,
                now=datetime.now(UTC),
                config=config,
                idempotent=publisher.idempotent,
            )
        )
    return states


def _could_not_start(claim: Claim, error: Exception) -> DeliveryState:
    """A delivery that cannot even be prepared (credentials that do not decrypt, a bug):
    held or failed with the reason, instead of being claimed again and again."""
    log.error("delivery %s could not be prepared: %s", claim.delivery_id, error)
    now = datetime.now(UTC)
    with session_scope() as session:
        delivery = session.get(Delivery, claim.delivery_id, with_for_update=True)
        if delivery is None or delivery.lease_token != claim.token:
            return delivery.state if delivery else DeliveryState.FAILED
        if isinstance(error, SettingsError):  # the operator's keys: fixable, so hold
            delivery.state = DeliveryState.HELD
            delivery.reason = _trim(f"held: {error}")
        else:
            delivery.state = DeliveryState.FAILED
            delivery.reason = _trim(f"could not be prepared ({type(error).__name__}: {error})")
        delivery.lease_token = delivery.lease_until = None
        delivery.updated_at = now
        return delivery.state


def _check_moved_server(url: str) -> None:
    """A Bluesky session may name a new PDS on refresh: it must be a public server too."""
    from tribe.networks.connect import check_server  # the CLI's module; imported when it matters

    try:
        check_server(url, get_settings())
    except TribeError as error:
        raise NeedsReconnect(f"the account's server moved to {url}: {error}") from None


def credential_updater(
    vault: Vault | None, account_id: int
) -> Callable[[Callable[[Credentials], Credentials | None]], Credentials]:
    """`AccountContext.refresh`: read, update and save one account's credentials under a lock.

    The lock is the account row's (and an advisory lock on PostgreSQL; SQLite's write
    lock on SQLite), held while `update` runs, so two workers never both spend a
    single-use refresh token.
    """

    def refresh(update_: Callable[[Credentials], Credentials | None]) -> Credentials:
        if vault is None:
            raise NeedsReconnect("credentials cannot be refreshed without TRIBE_SECRET_KEYS")
        with session_scope() as session:
            serialize(session, f"tribe.account.{account_id}.credentials")
            account = session.get(Account, account_id, with_for_update=True)
            assert account is not None
            current = vault.open(account.credentials) if account.credentials else {}
            new = update_(current)
            if new is None:
                return current
            moved_to = new.get("pds_url")
            if moved_to and moved_to != current.get("pds_url"):
                _check_moved_server(str(moved_to))
            account.credentials = vault.seal(new)
            return new

    return refresh
