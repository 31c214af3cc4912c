"""The delivery decider, without a database: every outcome kind, idempotent adapter or not,
tries left or not, inside Mastodon's key window or not, dry run or not; the look on the
network, the worker that died mid-call, the call that could not start, the waiting repost;
and jitter that comes from the injected random generator only."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from tribe.core.deliveries import (
    DRY_RUN_REASON,
    MASTODON_KEY_WINDOW,
    REASON_LENGTH,
    REPOST_WAIT,
    Change,
    Facts,
    Rules,
    after_call,
    after_check,
    after_crash,
    backoff,
    could_not_start,
    repost_may_wait,
    safe_to_resend,
    trim,
    wait_for_author,
)
from tribe.core.errors import SettingsError
from tribe.core.kinds import DeliveryState, Network, ReshareKind
from tribe.core.outcomes import (
    NeedsReconnect,
    PublishError,
    RateLimited,
    Rejected,
    Sent,
    Transient,
    Unknown,
)
from tribe.core.schedule import Placement

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BASE = timedelta(minutes=1)
RULES = Rules(max_attempts=3, retry_base=BASE)
RESET = NOW + timedelta(minutes=7)
SENT = Sent("r1", "https://m.social/@bob/1", None)


class Fixed(random.Random):
    """A generator whose every draw is `value`: the jitter's ends, exactly."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def facts(
    *,
    network: Network = Network.MASTODON,
    attempts: int = 1,
    first_started_at: datetime | None = NOW,
    idempotent: bool = True,
    ours: bool = True,
    kind: ReshareKind = ReshareKind.POST,
) -> Facts:
    return Facts(
        delivery_id=7,
        network=network,
        kind=kind,
        attempts=attempts,
        first_started_at=first_started_at,
        idempotent=idempotent,
        ours=ours,
    )


OUTCOMES: dict[str, Sent | PublishError] = {
    "sent": SENT,
    "transient": Transient("mastodon.social is unreachable"),
    "unknown": Unknown("timed out"),
    "rate_limited": RateLimited("429 from mastodon.social", RESET),
    "needs_reconnect": NeedsReconnect("The access token was revoked"),
    "rejected": Rejected("duplicate"),
}


@pytest.mark.parametrize(
    ("kind", "idempotent", "tries_left", "in_window", "dry_run"),
    list(itertools.product(OUTCOMES, (True, False), (True, False), (True, False), (True, False))),
)
def test_every_outcome_of_a_call(
    kind: str, idempotent: bool, tries_left: bool, in_window: bool, dry_run: bool
) -> None:
    outcome = OUTCOMES[kind]
    attempts = 2 if tries_left else 3
    started = NOW - (timedelta(minutes=10) if in_window else MASTODON_KEY_WINDOW)
    rules = Rules(RULES.max_attempts, BASE, dry_run=dry_run)
    fact = facts(attempts=attempts, first_started_at=started, idempotent=idempotent)
    change = after_call(outcome, fact, rules, now=NOW, rng=random.Random(1))
    assert change is not None
    # The account is touched by a rate limit and by refused credentials only.
    assert (change.rate_limited_until is not None) == (kind == "rate_limited")
    assert (change.reconnect_note is not None) == (kind == "needs_reconnect")
    # Only `sent` says what went out.
    assert (change.sent, change.kind) == (
        (SENT, ReshareKind.POST) if kind == "sent" else (None, None)
    )
    assert len(change.reason) <= REASON_LENGTH
    if kind == "sent":
        assert change.state == DeliveryState.SENT
        assert change.reason == (DRY_RUN_REASON if dry_run else "sent")
        assert change.dry_run == dry_run
        assert (change.attempts, change.due_at, change.check_at) == (attempts, None, None)
        return
    assert not change.dry_run  # a dry run changes only what a success says
    if kind == "rate_limited":
        assert change.state == DeliveryState.QUEUED
        assert (change.due_at, change.rate_limited_until) == (RESET, RESET)
        assert change.attempts == attempts - 1  # waiting out a limit is not a failed try
        assert change.reason == "rate limited until 12:07 UTC: 429 from mastodon.social"
        return
    assert change.attempts == attempts
    if kind == "needs_reconnect":
        assert change.state == DeliveryState.HELD
        assert change.reason == "held: reconnect this account (The access token was revoked)"
        assert change.reconnect_note == "The access token was revoked"
        return
    if kind == "rejected":
        assert (change.state, change.reason, change.due_at) == (
            DeliveryState.FAILED,
            "duplicate",
            None,
        )
        return
    # Transient, or Unknown: sent again only where no second post can come of it.
    if kind == "unknown" and not (idempotent and in_window):
        assert change.state == DeliveryState.UNCONFIRMED
        assert change.reason == "the network's answer was lost (timed out); checking"
        assert change.check_at is not None
        assert NOW + BASE * 0.5 <= change.check_at < NOW + BASE * 1.5
        assert change.due_at is None
        return
    assert change.check_at is None
    if not tries_left:
        assert change.state == DeliveryState.FAILED
        assert change.reason == f"gave up after 3 tries: {outcome}"
        assert change.due_at is None
        return
    assert change.state == DeliveryState.QUEUED
    assert change.due_at is not None
    assert NOW + BASE * 2 * 0.5 <= change.due_at < NOW + BASE * 2 * 1.5  # 2nd try: 2 x base
    assert change.reason == f"will try again at {change.due_at:%H:%M} UTC: {outcome}"


@pytest.mark.parametrize("outcome", [o for o in OUTCOMES.values() if not isinstance(o, Sent)])
def test_an_error_after_the_lease_ended_changes_nothing(outcome: PublishError) -> None:
    assert after_call(outcome, facts(ours=False), RULES, now=NOW, rng=random.Random()) is None


def test_a_success_after_the_lease_ended_is_still_the_truth() -> None:
    change = after_call(SENT, facts(ours=False), RULES, now=NOW, rng=random.Random())
    assert change is not None
    assert change.state == DeliveryState.SENT


def test_the_kind_that_went_out_is_what_the_call_published() -> None:
    fallback = facts(kind=ReshareKind.POST)  # a repost whose author had no post of it
    change = after_call(SENT, fallback, RULES, now=NOW, rng=random.Random())
    assert change is not None
    assert change.kind == ReshareKind.POST


@pytest.mark.parametrize("network", list(Network))
@pytest.mark.parametrize("idempotent", [True, False])
def test_an_unknown_outcome_is_sent_again_only_where_it_cannot_post_twice(
    network: Network, idempotent: bool
) -> None:
    change = after_call(
        Unknown("503"),
        facts(network=network, idempotent=idempotent),
        RULES,
        now=NOW,
        rng=random.Random(),
    )
    assert change is not None
    # Only Mastodon's Idempotency-Key and Bluesky's fixed record key make a resend safe.
    resent = idempotent and network in (Network.MASTODON, Network.BLUESKY)
    assert change.state == (DeliveryState.QUEUED if resent else DeliveryState.UNCONFIRMED)


def test_an_empty_error_message_names_the_error() -> None:
    change = after_call(Rejected(""), facts(), RULES, now=NOW, rng=random.Random())
    assert change is not None
    assert change.reason == "Rejected"


def test_a_long_reason_is_cut_to_the_column() -> None:
    change = after_call(Rejected("x" * 1000), facts(), RULES, now=NOW, rng=random.Random())
    assert change is not None
    assert len(change.reason) == REASON_LENGTH
    assert change.reason.endswith("\u2026")
    assert trim("short") == "short"


# --- jitter -------------------------------------------------------------------------------


def test_jitter_comes_from_the_injected_generator() -> None:
    first = after_call(Transient("down"), facts(), RULES, now=NOW, rng=random.Random(42))
    again = after_call(Transient("down"), facts(), RULES, now=NOW, rng=random.Random(42))
    assert first is not None
    assert again is not None
    assert first.due_at == again.due_at  # the same seed: the same time, nothing else drawn
    draw = random.Random(42).random()
    assert first.due_at == NOW + BASE * (0.5 + draw)


def test_jitter_never_touches_the_global_generator() -> None:
    random.seed(7)
    expected = random.random()
    random.seed(7)
    after_call(Transient("down"), facts(), RULES, now=NOW, rng=random.Random(1))
    after_call(Unknown("lost"), facts(network=Network.X), RULES, now=NOW, rng=random.Random(1))
    assert random.random() == expected


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.5), (0.5, 1.0), (0.999, 1.499)])
def test_backoff_doubles_with_full_jitter(draw: float, factor: float) -> None:
    for attempts, doubling in ((0, 1), (1, 1), (2, 2), (3, 4), (5, 16)):
        assert backoff(attempts, BASE, Fixed(draw)) == BASE * doubling * factor


# --- Mastodon's key window ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("network", "started", "safe"),
    [
        (Network.X, None, False),
        (Network.X, NOW, False),
        (Network.BLUESKY, NOW - timedelta(days=3), True),
        (Network.MASTODON, None, True),
        (Network.MASTODON, NOW - MASTODON_KEY_WINDOW + timedelta(seconds=1), True),
        (Network.MASTODON, NOW - MASTODON_KEY_WINDOW, False),
        (Network.MASTODON, NOW - timedelta(hours=2), False),
    ],
)
def test_safe_to_resend(network: Network, started: datetime | None, safe: bool) -> None:
    assert safe_to_resend(network, started, NOW) is safe


# --- looking for an unconfirmed post ------------------------------------------------------


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_post_found_on_the_network_is_sent(dry_run: bool) -> None:
    rules = Rules(3, BASE, dry_run=dry_run)
    change = after_check(SENT, facts(network=Network.X), rules, now=NOW, rng=random.Random())
    assert change is not None
    assert (change.state, change.sent, change.check_at) == (DeliveryState.SENT, SENT, None)


def test_a_post_provably_absent_is_queued_at_once() -> None:
    change = after_check(None, facts(network=Network.X), RULES, now=NOW, rng=random.Random())
    assert change == Change(
        DeliveryState.QUEUED, "not on the network after all; sending again", 1, due_at=NOW
    )


def test_a_look_that_fails_looks_again_later_counting_a_try() -> None:
    change = after_check(
        Unknown("timeline down"),
        facts(network=Network.X, attempts=1),
        RULES,
        now=NOW,
        rng=Fixed(0.0),
    )
    assert change == Change(
        DeliveryState.UNCONFIRMED,
        "still checking whether it was posted: timeline down",
        attempts=2,
        check_at=NOW + BASE * 2 * 0.5,
    )


def test_when_the_looks_run_out_the_member_decides() -> None:
    change = after_check(
        Unknown("timeline down"),
        facts(network=Network.X, attempts=3),
        RULES,
        now=NOW,
        rng=random.Random(),
    )
    assert change is not None
    assert (change.state, change.check_at, change.attempts) == (DeliveryState.UNCONFIRMED, None, 3)
    assert change.reason == (
        "could not tell whether it was posted (timeline down); look at the account, then say "
        "whether it is there (History page, or tribe queue confirm / retry 7)"
    )


@pytest.mark.parametrize("found", [None, Unknown("timeline down")])
def test_a_look_after_the_lease_ended_changes_nothing(found: PublishError | None) -> None:
    late = facts(network=Network.X, ours=False)
    assert after_check(found, late, RULES, now=NOW, rng=random.Random()) is None


# --- a worker that died mid-call ----------------------------------------------------------


@pytest.mark.parametrize(
    ("network", "started", "state", "check_at", "due_at"),
    [
        (Network.MASTODON, NOW - timedelta(minutes=5), DeliveryState.QUEUED, None, NOW),
        (Network.BLUESKY, NOW - timedelta(hours=5), DeliveryState.QUEUED, None, NOW),
        (Network.MASTODON, NOW - timedelta(hours=1), DeliveryState.UNCONFIRMED, NOW, None),
        (Network.X, NOW - timedelta(minutes=5), DeliveryState.UNCONFIRMED, NOW, None),
    ],
)
def test_a_call_that_never_reported_back_is_never_blindly_resent(
    network: Network,
    started: datetime,
    state: DeliveryState,
    check_at: datetime | None,
    due_at: datetime | None,
) -> None:
    change = after_crash(facts(network=network, first_started_at=started), RULES, now=NOW)
    assert (change.state, change.check_at, change.due_at) == (state, check_at, due_at)
    assert change.reason.startswith("the worker stopped during the call")


@pytest.mark.parametrize("network", list(Network))
def test_calls_that_keep_killing_workers_are_left_for_the_member(network: Network) -> None:
    change = after_crash(facts(network=network, attempts=3), RULES, now=NOW)
    assert (change.state, change.check_at) == (DeliveryState.UNCONFIRMED, None)
    assert change.reason == (
        "the worker stopped during each of 3 tries; look at the account, then say whether it "
        "is there (History page, or tribe queue confirm / retry)"
    )


# --- a call that could not start ----------------------------------------------------------


def test_the_operators_keys_hold_what_cannot_start() -> None:
    change = could_not_start(SettingsError("TRIBE_SECRET_KEYS cannot decrypt it"), facts())
    assert change is not None
    assert (change.state, change.reason) == (
        DeliveryState.HELD,
        "held: TRIBE_SECRET_KEYS cannot decrypt it",
    )


def test_a_bug_fails_what_cannot_start_with_the_reason() -> None:
    change = could_not_start(KeyError("text"), facts())
    assert change is not None
    assert (change.state, change.reason) == (
        DeliveryState.FAILED,
        "could not be prepared (KeyError: 'text')",
    )


def test_a_start_failure_of_a_claim_taken_over_changes_nothing() -> None:
    assert could_not_start(ValueError("x"), facts(ours=False)) is None


# --- a repost waiting for the author's own post ---------------------------------------------


def test_a_repost_waits_a_day_at_most() -> None:
    assert repost_may_wait(NOW - REPOST_WAIT + timedelta(seconds=1), NOW)
    assert not repost_may_wait(NOW - REPOST_WAIT, NOW)


def test_a_waiting_repost_takes_the_time_its_schedule_gives() -> None:
    later = NOW + timedelta(hours=2)
    change = wait_for_author(Placement(later, "next slot"), facts(attempts=0))
    assert change == Change(
        DeliveryState.QUEUED,
        "waiting for the author's own post to repost it; next slot",
        attempts=0,
        due_at=later,
    )
    assert wait_for_author(Placement(None, "queue full"), facts()) is None
