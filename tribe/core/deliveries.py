"""Pure decisions of the dispatcher: what a delivery becomes after something happened to it.

Something happens (a call ended in one of the outcomes of `tribe/core/outcomes.py`, a
look on the network found the post or not, a worker died mid-call, a call could not even
be prepared, a repost waits for the author's own post); the decider answers with one
`Change`: the next state, a due time or a time to look again, the reason the member reads,
and what happens to the account. `tribe/delivery/dispatch.py` writes it, in one place.

No I/O here, and time and randomness come in: every rule is tested as a function of its
inputs (tests/test_deliveries.py). See docs/architecture.md, "Rules that keep data
right", rules 2 and 4.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tribe.core.errors import SettingsError
from tribe.core.kinds import DeliveryState, Network, ReshareKind
from tribe.core.outcomes import (
    NeedsReconnect,
    PublishError,
    RateLimited,
    Rejected,
    Sent,
    Unknown,
)
from tribe.core.schedule import Placement

# Mastodon keeps an Idempotency-Key for about an hour: past this, a call that may have
# posted is looked for before it is sent again, as on X.
MASTODON_KEY_WINDOW = timedelta(minutes=45)
# How long a repost waits for the author's own post before sharing in own words.
REPOST_WAIT = timedelta(days=1)
# What the member reads is kept to the column's size.
REASON_LENGTH = 300
# The reason on a delivery a dry run (TRIBE_DRY_RUN) only logged: it is `sent`, flagged
# `dry_run`, and the history says "dry run — not sent".
DRY_RUN_REASON = "dry run: logged, not sent"
_ASK_THE_MEMBER = (
    "look at the account, then say whether it is there (History page, or tribe queue "
    "confirm / retry"
)


@dataclass(frozen=True)
class Rules:
    """The operator's limits on trying (TRIBE_PUBLISH_MAX_ATTEMPTS, _RETRY_BASE, TRIBE_DRY_RUN)."""

    max_attempts: int
    retry_base: timedelta
    dry_run: bool = False


@dataclass(frozen=True)
class Facts:
    """What the decider needs to know of one delivery when something happened to it."""

    delivery_id: int
    network: Network
    kind: ReshareKind  # what the call published (a repost with no target goes as a post)
    attempts: int  # calls started so far, the one that just ended included
    first_started_at: datetime | None  # the first call: where Mastodon's key window starts
    # The adapter's word that retrying an Unknown outcome cannot post twice
    # (`Publisher.idempotent`); the network's own key rules (`safe_to_resend`) hold too.
    idempotent: bool = True
    # The lease is still this call's: no sweep or later claim took the delivery over.
    ours: bool = True


@dataclass(frozen=True)
class Change:
    """What a delivery (and its account) becomes, with the reason the member reads."""

    state: DeliveryState
    reason: str
    attempts: int  # a rate limit gives its try back; each look on the network counts one
    due_at: datetime | None = None  # a new time in the queue; None: keep the old one
    # Unconfirmed: when to look for it on the network; None: no automatic look (the
    # member decides). It is the row's lease, so nothing else claims it meanwhile.
    check_at: datetime | None = None
    sent: Sent | None = None  # the post the network has (state `sent`)
    kind: ReshareKind | None = None  # what went out (state `sent`)
    dry_run: bool = False  # only logged (state `sent`)
    # The account: the network's limit to wait out (what fell due meanwhile gets new
    # times after it), or the note of refused credentials (its queue is held).
    rate_limited_until: datetime | None = None
    reconnect_note: str | None = None


def trim(text: str) -> str:
    return text if len(text) <= REASON_LENGTH else text[: REASON_LENGTH - 1] + "\u2026"


def backoff(attempts: int, base: timedelta, rng: random.Random) -> timedelta:
    """Exponential, with full jitter in [0.5, 1.5) so retries of many deliveries spread."""
    factor: float = 2 ** max(attempts - 1, 0) * (0.5 + rng.random())
    return base * factor


def safe_to_resend(network: Network, first_started_at: datetime | None, now: datetime) -> bool:
    """Whether sending again with the same key cannot make a second post."""
    if network == Network.MASTODON:
        return first_started_at is None or now - first_started_at < MASTODON_KEY_WINDOW
    # Bluesky: putRecord at a fixed record key. X, LinkedIn, Facebook and Threads have
    # no idempotency key at all (a Threads container is published once, kept in
    # `progress`, but the publish call itself has no key).
    return network == Network.BLUESKY


def _sent(found: Sent, facts: Facts, rules: Rules) -> Change:
    return Change(
        state=DeliveryState.SENT,
        reason=DRY_RUN_REASON if rules.dry_run else "sent",
        attempts=facts.attempts,
        sent=found,
        kind=facts.kind,
        dry_run=rules.dry_run,
    )


def after_call(
    outcome: Sent | PublishError, facts: Facts, rules: Rules, *, now: datetime, rng: random.Random
) -> Change | None:
    """What the outcome of a call makes of the delivery; None: leave it as it is (the call
    ended after its lease, and whoever holds the delivery now records it)."""
    if isinstance(outcome, Sent):
        return _sent(outcome, facts, rules)  # the network has it, whoever holds the lease
    if not facts.ours:
        return None
    return _after_error(outcome, facts, rules, now=now, rng=rng)


def _after_error(
    error: PublishError, facts: Facts, rules: Rules, *, now: datetime, rng: random.Random
) -> Change:
    message = str(error) or type(error).__name__
    if isinstance(error, RateLimited):
        return Change(
            state=DeliveryState.QUEUED,
            reason=trim(f"rate limited until {error.until:%H:%M} UTC: {message}"),
            attempts=facts.attempts - 1,  # waiting out a limit is not a failed try
            due_at=error.until,
            rate_limited_until=error.until,
        )
    if isinstance(error, NeedsReconnect):
        return Change(
            state=DeliveryState.HELD,
            reason=trim(f"held: reconnect this account ({message})"),
            attempts=facts.attempts,
            reconnect_note=trim(message),
        )
    if isinstance(error, Rejected):
        return Change(DeliveryState.FAILED, trim(message), facts.attempts)
    resend = facts.idempotent and safe_to_resend(facts.network, facts.first_started_at, now)
    if isinstance(error, Unknown) and not resend:
        return Change(
            state=DeliveryState.UNCONFIRMED,
            reason=trim(f"the network's answer was lost ({message}); checking"),
            attempts=facts.attempts,
            check_at=now + backoff(1, rules.retry_base, rng),  # then look for it
        )
    return _retry_or_fail(message, facts, rules, now=now, rng=rng)


def _retry_or_fail(
    message: str, facts: Facts, rules: Rules, *, now: datetime, rng: random.Random
) -> Change:
    """Transient, or Unknown where a retry cannot post twice: later, or never again."""
    if facts.attempts >= rules.max_attempts:
        return Change(
            DeliveryState.FAILED,
            trim(f"gave up after {facts.attempts} tries: {message}"),
            facts.attempts,
        )
    due_at = now + backoff(facts.attempts, rules.retry_base, rng)
    return Change(
        state=DeliveryState.QUEUED,
        reason=trim(f"will try again at {due_at:%H:%M} UTC: {message}"),
        attempts=facts.attempts,
        due_at=due_at,
    )


def after_check(
    found: Sent | PublishError | None,
    facts: Facts,
    rules: Rules,
    *,
    now: datetime,
    rng: random.Random,
) -> Change | None:
    """What looking for an unconfirmed delivery on the network makes of it (`found`: the
    post, None when it is provably absent, or why the look failed); None: leave it."""
    if isinstance(found, Sent):
        return _sent(found, facts, rules)
    if not facts.ours:
        return None
    if found is None:
        return Change(
            state=DeliveryState.QUEUED,
            reason="not on the network after all; sending again",
            attempts=facts.attempts,
            due_at=now,
        )
    if facts.attempts >= rules.max_attempts:  # no more automatic looks: the member decides
        return Change(
            state=DeliveryState.UNCONFIRMED,
            reason=trim(
                f"could not tell whether it was posted ({found}); {_ASK_THE_MEMBER} "
                f"{facts.delivery_id})"
            ),
            attempts=facts.attempts,
        )
    attempts = facts.attempts + 1
    return Change(
        state=DeliveryState.UNCONFIRMED,
        reason=trim(f"still checking whether it was posted: {found}"),
        attempts=attempts,
        check_at=now + backoff(attempts, rules.retry_base, rng),
    )


def after_crash(facts: Facts, rules: Rules, *, now: datetime) -> Change:
    """A call started and never reported back (the worker died mid-call; its lease ran out).

    Where the network's key makes sending again safe, it is queued again; otherwise the
    post is looked for first. A delivery whose calls keep killing workers is left
    unconfirmed for the member to decide (it may or may not be out).
    """
    if facts.attempts >= rules.max_attempts:
        return Change(
            state=DeliveryState.UNCONFIRMED,
            reason=trim(
                f"the worker stopped during each of {facts.attempts} tries; {_ASK_THE_MEMBER})"
            ),
            attempts=facts.attempts,
        )
    if not (facts.idempotent and safe_to_resend(facts.network, facts.first_started_at, now)):
        return Change(
            state=DeliveryState.UNCONFIRMED,
            reason="the worker stopped during the call; checking whether it is out",
            attempts=facts.attempts,
            check_at=now,  # look for it at once
        )
    return Change(
        state=DeliveryState.QUEUED,
        reason="the worker stopped during the call; sending again (same key)",
        attempts=facts.attempts,
        due_at=now,
    )


def could_not_start(error: Exception, facts: Facts) -> Change | None:
    """A delivery that cannot even be prepared (credentials that do not decrypt, a bug):
    held or failed with the reason, never claimed again and again; None: not ours."""
    if not facts.ours:
        return None
    if isinstance(error, SettingsError):  # the operator's keys: fixable, so hold
        return Change(DeliveryState.HELD, trim(f"held: {error}"), facts.attempts)
    return Change(
        DeliveryState.FAILED,
        trim(f"could not be prepared ({type(error).__name__}: {error})"),
        facts.attempts,
    )


def repost_may_wait(created_at: datetime, now: datetime) -> bool:
    """Whether a repost may still wait for the author's own post (else: own words now)."""
    return now - created_at < REPOST_WAIT


def wait_for_author(placement: Placement, facts: Facts) -> Change | None:
    """A repost moves to `placement` (a time after the author's own post); None when its
    schedule has no time left within the horizon (it shares in own words now)."""
    if placement.due_at is None:
        return None
    return Change(
        state=DeliveryState.QUEUED,
        reason=trim(f"waiting for the author's own post to repost it; {placement.reason}"),
        attempts=facts.attempts,
        due_at=placement.due_at,
    )
