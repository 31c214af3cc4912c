"""Due deliveries go out: claim, then call, then record.

(docs/architecture.md, "Rules that keep data right", rules 1 and 2.)

1. `claim_due` (beat, every few seconds) leases due deliveries in one statement
   (`tribe/delivery/claims.py`): they move `queued -> sending` with a lease and a
   token, and are committed before anyone is told. Then one `publish_delivery(id, token)`
   task is enqueued per claim.
2. `begin` (in the task) marks the call as started, in its own committed transaction,
   and reads everything the call needs. No session is held during the network call.
3. `record` writes the outcome in one short transaction.

What each outcome makes of the delivery is decided by the pure decider
(`tribe/core/deliveries.py`) and written by `_apply`, the one place it is written.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlmodel import Session

from config import Settings, get_settings
from tribe.core import deliveries
from tribe.core.deliveries import Change, Facts, Rules
from tribe.core.kinds import Connection, DeliveryState, Network, ReshareKind
from tribe.core.outcomes import Publisher, PublishError, Sent, Unknown
from tribe.core.urls import shown_link
from tribe.delivery.calls import Job, begin_check, find_target, job_for
from tribe.delivery.claims import Claim, DailyLimits, lease_due, lease_unconfirmed, stuck_calls
from tribe.delivery.placing import (
    PlacementConfig,
    find_time,
    hold_queue,
    resume_account,
)
from tribe.infra.db import serialize, session_scope
from tribe.infra.models import Account, Delivery, Member, Post
from tribe.infra.netguard import AddressPolicy
from tribe.infra.vault import Vault

log = logging.getLogger("tribe.publishing")

_CLAIM_LOCK = "tribe.publishing.claim"


@dataclass(frozen=True)
class PublishConfig:
    """The dispatcher's limits, read once from the settings (`publish_config`)."""

    dry_run: bool
    timeout: float  # seconds, for every network call (and the check of a moved server)
    lease: timedelta
    max_attempts: int
    retry_base: timedelta
    batch: int
    x_daily_per_account: int
    x_daily_per_app: int
    linkedin_daily_per_account: int = 150
    threads_daily_per_account: int = 250
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    policy: AddressPolicy = field(default_factory=AddressPolicy)  # where a moved server may be

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
            linkedin_daily_per_account=settings.TRIBE_LINKEDIN_DAILY_POSTS_PER_ACCOUNT,
            threads_daily_per_account=settings.TRIBE_THREADS_DAILY_POSTS_PER_ACCOUNT,
            placement=PlacementConfig.from_settings(settings),
            policy=AddressPolicy.from_settings(
                settings.TRIBE_ALLOW_PRIVATE_ADDRESSES, settings.TRIBE_ALLOWED_NETWORKS
            ),
        )

    @property
    def rules(self) -> Rules:
        return Rules(self.max_attempts, self.retry_base, self.dry_run)


@lru_cache(maxsize=1)
def _publish_config_of(settings: Settings) -> PublishConfig:
    return PublishConfig.from_settings(settings)


def publish_config() -> PublishConfig:
    """The dispatcher's limits, built once per settings (tests change the settings)."""
    return _publish_config_of(get_settings())


def _facts(
    delivery: Delivery,
    network: Network,
    *,
    kind: ReshareKind | None = None,
    idempotent: bool = True,
    ours: bool = True,
) -> Facts:
    assert delivery.id is not None
    return Facts(
        delivery_id=delivery.id,
        network=network,
        kind=kind or delivery.kind,
        attempts=delivery.attempts,
        first_started_at=delivery.first_started_at,
        idempotent=idempotent,
        ours=ours,
    )


def _apply(
    session: Session, delivery: Delivery, change: Change, *, now: datetime, config: PublishConfig
) -> DeliveryState:
    """Write a decided change: the one place where what happened changes a delivery (and
    its account). The call's lease ends here; an unconfirmed delivery keeps one until
    its next look on the network."""
    delivery.state, delivery.reason = change.state, change.reason
    delivery.attempts = change.attempts
    if change.due_at is not None:
        delivery.due_at = change.due_at
    if change.sent is not None:
        delivery.sent_at = now
        delivery.remote_id = change.sent.remote_id or None
        delivery.remote_url = shown_link(change.sent.remote_url)
        delivery.remote_cid = change.sent.remote_cid
        delivery.dry_run = change.dry_run
    if change.kind is not None:
        delivery.kind = change.kind
    delivery.lease_token, delivery.lease_until = None, change.check_at
    delivery.started_at, delivery.updated_at = None, now
    if change.reconnect_note is None and change.rate_limited_until is None:
        return delivery.state
    account = session.get(Account, delivery.account_id)
    assert account is not None
    if change.reconnect_note is not None:
        hold_queue(
            session,
            account=account,
            connection=Connection.NEEDS_RECONNECT,
            note=change.reconnect_note,
            now=now,
        )
    if change.rate_limited_until is not None:
        account.rate_limited_until = change.rate_limited_until
        session.flush()
        # What fell due meanwhile gets new times after the reset: no burst then.
        member = session.get(Member, account.member_id)
        assert member is not None
        resume_account(
            session,
            member=member,
            account=account,
            config=config.placement,
            now=change.rate_limited_until,
        )
    return delivery.state


# Claiming -----------------------------------------------------------------------------


def claim_due(session: Session, *, now: datetime, config: PublishConfig) -> list[Claim]:
    """Lease what is due (and recover what crashed), at most `config.batch` deliveries."""
    serialize(session, _CLAIM_LOCK)
    # Calls that started and never reported back: the worker died mid-call.
    for delivery, account in stuck_calls(session, now):
        crashed = deliveries.after_crash(_facts(delivery, account.network), config.rules, now=now)
        _apply(session, delivery, crashed, now=now, config=config)
    claims = lease_due(
        session,
        now=now,
        lease=config.lease,
        limit=config.batch,
        dry_run=config.dry_run,
        limits=DailyLimits(
            x_per_account=config.x_daily_per_account,
            x_per_app=config.x_daily_per_app,
            linkedin_per_account=config.linkedin_daily_per_account,
            threads_per_account=config.threads_daily_per_account,
        ),
    )
    return claims + lease_unconfirmed(session, now=now, lease=config.lease, limit=config.batch)


# One call -----------------------------------------------------------------------------


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
            target, pending = find_target(session, account, post)
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
        return job_for(
            session,
            claim,
            delivery,
            account,
            post,
            kind=kind,
            target=target,
            timeout=config.timeout,
            policy=config.policy,
            vault=vault,
            lease=config.lease,
        )


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
    if not deliveries.repost_may_wait(delivery.created_at, now):
        return False
    member = session.get(Member, account.member_id)
    assert member is not None
    after = max(now, pending.due_at + config.placement.stagger)
    placement = find_time(
        session,
        account=account,
        member=member,
        post=post,
        now=after,
        config=config.placement,
        ignore=delivery.id,
    )
    waiting = deliveries.wait_for_author(placement, _facts(delivery, account.network))
    if waiting is None:
        return False
    _apply(session, delivery, waiting, now=now, config=config)
    return True


def record(
    job: Job,
    outcome: Sent | PublishError,
    *,
    now: datetime,
    config: PublishConfig,
    idempotent: bool,
    rng: random.Random,
) -> DeliveryState:
    """Write what happened in one short transaction; returns the delivery's new state."""
    with session_scope() as session:
        delivery = session.get(Delivery, job.claim.delivery_id, with_for_update=True)
        assert delivery is not None
        ours = delivery.lease_token == job.claim.token and delivery.state == DeliveryState.SENDING
        facts = _facts(
            delivery, job.network, kind=job.publication.kind, idempotent=idempotent, ours=ours
        )
        change = deliveries.after_call(outcome, facts, config.rules, now=now, rng=rng)
        if change is None:
            log.warning(
                "delivery %s: outcome %r arrived after its lease ended; left as %s",
                delivery.id,
                outcome,
                delivery.state.value,
            )
            return delivery.state
        return _apply(session, delivery, change, now=now, config=config)


def record_check(
    job: Job,
    found: Sent | PublishError | None,
    *,
    now: datetime,
    config: PublishConfig,
    rng: random.Random,
) -> DeliveryState:
    """Write what looking for an unconfirmed post on the network showed."""
    with session_scope() as session:
        delivery = session.get(Delivery, job.claim.delivery_id, with_for_update=True)
        assert delivery is not None
        ours = (
            delivery.lease_token == job.claim.token and delivery.state == DeliveryState.UNCONFIRMED
        )
        facts = _facts(delivery, job.network, kind=job.publication.kind, ours=ours)
        change = deliveries.after_check(found, facts, config.rules, now=now, rng=rng)
        if change is None:
            return delivery.state
        return _apply(session, delivery, change, now=now, config=config)


def _could_not_start(claim: Claim, error: Exception, config: PublishConfig) -> DeliveryState:
    """A delivery that cannot even be prepared (credentials that do not decrypt, a bug):
    held or failed with the reason, instead of being claimed again and again."""
    log.error("delivery %s could not be prepared: %s", claim.delivery_id, error)
    now = datetime.now(UTC)
    with session_scope() as session:
        delivery = session.get(Delivery, claim.delivery_id, with_for_update=True)
        if delivery is None:
            return DeliveryState.FAILED
        account = session.get(Account, delivery.account_id)
        assert account is not None
        facts = _facts(delivery, account.network, ours=delivery.lease_token == claim.token)
        change = deliveries.could_not_start(error, facts)
        if change is None:
            return delivery.state
        return _apply(session, delivery, change, now=now, config=config)


def _publish(
    claim: Claim,
    publishers: Callable[[Network], Publisher],
    config: PublishConfig,
    vault: Vault | None,
    rng: random.Random,
) -> DeliveryState | None:
    """Begin, call, record one claimed delivery; None: it was not ours to send."""
    try:
        started = begin(claim, now=datetime.now(UTC), config=config, vault=vault)
    except Exception as error:  # nothing was sent: say why instead of looping
        return _could_not_start(claim, error, config)
    if started is None:
        return None
    publisher = publishers(started.network)
    outcome: Sent | PublishError
    try:
        outcome = publisher.publish(started.account, started.publication)
    except PublishError as error:
        outcome = error
    except Exception as error:  # a bug, or a library error we do not know yet
        log.exception("delivery %s: unexpected error", claim.delivery_id)
        outcome = Unknown(f"unexpected error: {error}")
    return record(
        started,
        outcome,
        now=datetime.now(UTC),
        config=config,
        idempotent=publisher.idempotent,
        rng=rng,
    )


def _reconcile(
    claim: Claim,
    publishers: Callable[[Network], Publisher],
    config: PublishConfig,
    vault: Vault | None,
    rng: random.Random,
) -> DeliveryState | None:
    """Look for one unconfirmed delivery on the network and record what was found."""
    try:
        job = begin_check(
            claim, timeout=config.timeout, policy=config.policy, vault=vault, lease=config.lease
        )
    except Exception as error:
        return _could_not_start(claim, error, config)
    if job is None:
        return None
    try:
        found: Sent | PublishError | None = publishers(job.network).find(
            job.account, job.publication
        )
    except PublishError as error:
        found = error
    except Exception as error:
        log.exception("delivery %s: unexpected error looking for it", claim.delivery_id)
        found = Unknown(f"unexpected error: {error}")
    return record_check(job, found, now=datetime.now(UTC), config=config, rng=rng)


def run_claims(
    claims: Sequence[Claim],
    *,
    publishers: Callable[[Network], Publisher],
    config: PublishConfig,
    vault: Vault | None,
    rng: random.Random | None = None,
) -> list[DeliveryState]:
    """Publish (or check) each claimed delivery: begin, call, record."""
    rng = rng or random.Random()
    states = []
    for claim in claims:
        step = _reconcile if claim.reconcile else _publish
        state = step(claim, publishers, config, vault, rng)
        if state is not None:
            states.append(state)
    return states
