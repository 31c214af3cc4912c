"""Thin tasks: ids in, call the functions in `tribe/`, enqueue what comes next."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from config import get_settings
from tribe.alliance import herding, icons, renewal
from tribe.alliance.digest import DigestConfig, queue_due_digests_in_batches
from tribe.alliance.sending import LetterConfig, tick
from tribe.alliance.snapshots import (
    SCAN_BATCH,
    ReachConfig,
    snapshot_account,
    snapshot_due,
)
from tribe.delivery.claims import Claim
from tribe.delivery.dispatch import claim_due, publish_config, run_claims
from tribe.infra.db import read_scope, session_scope
from tribe.infra.health import SWEEP_HEARTBEAT, beat
from tribe.infra.keys import keyring_for
from tribe.infra.mail import transport_for
from tribe.infra.outbox import MailClaim, outbox_config, send_claimed
from tribe.infra.outbox import claim_due as claim_due_mail
from tribe.infra.vault import process_vault
from tribe.ingest import claim_feeds, poll_config, process_fetch_pool, process_fetcher
from tribe.ingest.claims import FeedClaim, from_message, to_message
from tribe.ingest.poll import poll_claims
from tribe.networks.registry import process_publishers
from tribe.stream.approvals import approval_config, expire_stale
from tribe.stream.preferences import auto_approve_pending
from workers import selfcheck
from workers.app import SELF_CHECK_TASK, app, stopping
from workers.queues import ICONS_EVERY, REACH_EVERY, RENEW_EVERY

if TYPE_CHECKING:
    from celery import Task


def _enqueue(claims: Sequence[FeedClaim], batch: int) -> None:
    # One claim call leases its feeds under one token. What it read of them goes along:
    # the poller starts from it, without reading the feeds again.
    for start in range(0, len(claims), batch):
        group = claims[start : start + batch]
        poll_feeds.delay([c.feed_id for c in group], group[0].token, to_message(group))


@app.task(name="tribe.feeds.poll_due_feeds")
def poll_due_feeds() -> int:
    """Claim due feeds (up to the in-flight cap) and enqueue them in batches."""
    config = poll_config()
    claims = claim_feeds(config.max_in_flight, config)
    _enqueue(claims, config.batch)
    with session_scope() as session:
        beat(session, SWEEP_HEARTBEAT)
    return len(claims)


# How many batches a task polls of those it claims itself, and for how long at most,
# before it hands the next to the queue. Each message costs the broker's bookkeeping
# (delivering, acknowledging, sending the next: a fifth of a worker's time in a warm
# sweep on Redis); a short chain spares most of it, and a message then lets other
# tasks, the other workers (a worker waiting on the queue is served first) and a
# shutdown have their turn.
CHAIN_BATCHES = 5
CHAIN_FOR = 5.0


@app.task(name="tribe.feeds.poll_feeds", bind=True)
def poll_feeds(
    self: Task[Any, Any],
    feed_ids: list[int],
    token: str,
    read: list[list[str | None]] | None = None,
) -> int:
    """Poll a batch of claimed feeds, then claim as many again so the pipeline stays full.

    Taking the next feeds here, not only every few seconds in the sweep, is what lets a
    host's lane (at most TRIBE_POLL_PER_HOST polls at once) move at full speed. The task
    polls up to CHAIN_BATCHES batches of what it claimed itself, then enqueues the next.
    A message the broker redelivers (its worker was lost) may be running elsewhere too:
    only then is the batch begun with a write that makes it this task's alone.
    """
    config = poll_config()
    claims = from_message(feed_ids, token, read)
    delivered_once = not (self.request.delivery_info or {}).get("redelivered")
    polled = 0
    until = time.monotonic() + CHAIN_FOR
    for _ in range(CHAIN_BATCHES):
        batch = poll_claims(
            claims,
            fetcher=process_fetcher(),
            config=config,
            pool=process_fetch_pool(),
            claim_next=len(claims),
            delivered_once=delivered_once,
        )
        polled += len(batch.summaries)
        claims = batch.next_claims
        if not claims or time.monotonic() >= until or stopping.is_set():
            break
        delivered_once = True  # claimed right here
    _enqueue(claims, config.batch)
    return polled


@app.task(name="tribe.stream.expire_items")
def expire_items() -> int:
    """Pending stream items older than TRIBE_STREAM_EXPIRY become expired."""
    config = approval_config()
    with session_scope() as session:
        return expire_stale(session, now=datetime.now(UTC), expiry=config.expiry)


@app.task(name="tribe.approvals.auto_approve")
def auto_approve() -> int:
    """Approve what members asked to approve automatically, within their caps."""
    with session_scope() as session:
        return auto_approve_pending(session, now=datetime.now(UTC), config=approval_config())


@app.task(name="tribe.publishing.dispatch")
def dispatch() -> int:
    """Claim due deliveries (and recover crashed ones), then one task per claim.

    Claims are committed before any task is enqueued; a message that is lost leaves a
    lease that runs out, and the next dispatch claims the delivery again.
    """
    with session_scope() as session:
        claims = claim_due(session, now=datetime.now(UTC), config=publish_config())
    for claim in claims:
        publish_delivery.delay(claim.delivery_id, claim.token, claim.reconcile)
    return len(claims)


@app.task(name="tribe.publishing.publish_delivery")
def publish_delivery(delivery_id: int, token: str, reconcile: bool = False) -> str | None:
    """Send one claimed delivery (or look for an unconfirmed one) and record the outcome."""
    states = run_claims(
        [Claim(delivery_id, token, reconcile)],
        publishers=process_publishers(),
        config=publish_config(),
        vault=process_vault(),
    )
    return states[0].value if states else None


@app.task(name="tribe.mail.dispatch")
def dispatch_mail() -> int:
    """Claim due emails of the outbox (and recover a crashed sender's), a task per batch.

    As for deliveries, the claim is committed before the task is enqueued: a lost message
    leaves a lease that runs out, and the next dispatch claims the emails again.
    """
    settings = get_settings()
    config = outbox_config(settings)
    # Paced (TRIBE_MAIL_RATE), one sender at a time keeps the pace; unpaced, a batch for
    # each of a worker's threads, so a letter's thousands go out side by side.
    batches = 1 if config.rate > 0 else settings.TRIBE_WORKER_CONCURRENCY
    claimed = 0
    for _ in range(batches):
        with session_scope() as session:
            claims = claim_due_mail(session, now=datetime.now(UTC), config=config)
        if not claims:
            break
        send_mail.delay([c.id for c in claims], claims[0].token)
        claimed += len(claims)
    return claimed


@app.task(name="tribe.mail.send")
def send_mail(mail_ids: list[int], token: str) -> int:
    """Hand a claimed batch of emails to the SMTP server (or the outbox folder)."""
    settings = get_settings()
    report = send_claimed(
        [MailClaim(mail_id, token) for mail_id in mail_ids],
        transport_for(settings),
        config=outbox_config(settings),
    )
    return report.sent


@app.task(name="tribe.reminders.queue")
def queue_reminders() -> int:
    """Queue the gentle reminder for members with pending items and a week without a
    decision (once until they come back); `tribe.mail.dispatch` sends them."""
    settings = get_settings()
    with session_scope() as session:
        return herding.queue_reminders(
            session,
            now=datetime.now(UTC),
            sender=settings.TRIBE_SMTP_FROM,
            base_url=settings.TRIBE_BASE_URL,
        )


@app.task(name="tribe.digest.queue")
def queue_digests() -> int:
    """Queue the digest of each member whose local hour has come, once per member and
    period (the outbox key); `tribe.mail.dispatch` sends them."""
    settings = get_settings()
    return queue_due_digests_in_batches(
        now=datetime.now(UTC),
        keys=keyring_for(settings),
        config=DigestConfig.from_settings(settings),
    )


@app.task(name="tribe.letter.tick")
def letter_tick() -> int:
    """Every tribe's letter one step on: open the next edition and tell its editor,
    remind them, at the deadline send or skip, queue a frozen edition's recipients;
    `tribe.mail.dispatch` sends them. How many editions were frozen to go out."""
    settings = get_settings()
    report = tick(
        now=datetime.now(UTC),
        keys=keyring_for(settings),
        config=LetterConfig.from_settings(settings),
    )
    return len(report.frozen)


@app.task(name="tribe.reach.daily")
def reach_daily() -> int:
    """Enqueue a reading of every account due one: not read yet today (UTC), or connected
    since. Each account is read once a day; looking every few minutes reads a new account
    soon after it connects and catches up a missed beat (tribe/alliance/snapshots.py)."""
    with read_scope() as session:
        due = snapshot_due(session, now=datetime.now(UTC), limit=SCAN_BATCH)
    for account_id in due:
        # A message older than a pass is replaced by the next pass's, if still due.
        snapshot_reach.apply_async((account_id,), expires=REACH_EVERY)
    return len(due)


@app.task(name="tribe.reach.snapshot")
def snapshot_reach(account_id: int) -> int | None:
    """Read one account's followers and keep the day's snapshot (if it is still due)."""
    reading = snapshot_account(
        account_id,
        now=datetime.now(UTC),
        config=ReachConfig.from_settings(get_settings()),
        vault=process_vault(),
    )
    return reading.followers if reading is not None else None


@app.task(name="tribe.icons.scan")
def scan_icons() -> int:
    """Enqueue an icon fetch for each feed shown on a public tribe's page whose icon is
    missing or a week old (tribe/alliance/icons.py)."""
    with read_scope() as session:
        due = icons.icons_due(session, now=datetime.now(UTC))
    for feed_id in due:
        # A message older than a pass is replaced by the next pass's, if still due.
        fetch_icon.apply_async((feed_id,), expires=ICONS_EVERY)
    return len(due)


@app.task(name="tribe.icons.fetch")
def fetch_icon(feed_id: int) -> bool:
    """Fetch and keep one feed's icon if it is still due; whether an image was kept."""
    fetched = icons.refresh_icon(
        feed_id, now=datetime.now(UTC), config=icons.IconConfig.from_settings(get_settings())
    )
    return fetched is not None and bool(fetched.content_type)


@app.task(name="tribe.accounts.renewals")
def renewals() -> int:
    """Enqueue a renewal of each account whose long-lived sign-in runs out within
    TRIBE_RENEW_AHEAD (tribe/alliance/renewal.py)."""
    settings = get_settings()
    with read_scope() as session:
        due = renewal.renewals_due(session, now=datetime.now(UTC), ahead=settings.TRIBE_RENEW_AHEAD)
    for account_id in due:
        # A message older than a pass is replaced by the next pass's, if still due.
        renew_account.apply_async((account_id,), expires=RENEW_EVERY)
    return len(due)


@app.task(name="tribe.accounts.renew")
def renew_account(account_id: int) -> str | None:
    """Renew one account's sign-in if it is still due; what came of it."""
    done = renewal.renew_account(
        account_id,
        now=datetime.now(UTC),
        config=renewal.RenewConfig.from_settings(get_settings()),
        vault=process_vault(),
    )
    return done.value if done is not None else None


@app.task(name=SELF_CHECK_TASK, ignore_result=True)
def self_check(token: str) -> None:
    """A worker's probe of itself came back through the broker (see workers/selfcheck.py)."""
    selfcheck.answer(token)
