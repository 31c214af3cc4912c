import random
from datetime import UTC, datetime, timedelta

import pytest

from tribe.core.polling import (
    Candidate,
    PollConfig,
    announcement,
    delay_after_error,
    delay_after_success,
    effective_published,
    entries_to_announce,
)

CONFIG = PollConfig()
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def rng() -> random.Random:
    return random.Random(7)


def test_success_waits_the_base_interval_plus_at_most_ten_percent() -> None:
    delays = [delay_after_success(CONFIG, rng=random.Random(i)) for i in range(200)]
    assert min(delays) >= CONFIG.interval
    assert max(delays) <= CONFIG.interval * 1.1
    assert len(set(delays)) > 100  # jitter really varies


@pytest.mark.parametrize(
    ("max_age", "ttl", "at_least"),
    [
        (timedelta(hours=2), None, timedelta(hours=2)),
        (None, timedelta(hours=1), timedelta(hours=1)),
        (timedelta(minutes=1), timedelta(minutes=2), CONFIG.interval),  # never sooner
        (timedelta(days=9), None, CONFIG.max_interval),  # clamped to the ceiling
    ],
)
def test_cache_control_and_ttl_push_the_next_poll_later(
    max_age: timedelta | None, ttl: timedelta | None, at_least: timedelta
) -> None:
    delay = delay_after_success(CONFIG, max_age=max_age, ttl=ttl, rng=rng())
    assert at_least <= delay <= max(at_least * 1.1, at_least)
    assert delay <= CONFIG.max_interval


def test_errors_back_off_exponentially_up_to_the_ceiling() -> None:
    delays = [delay_after_error(CONFIG, error_count=n, rng=rng()) for n in range(1, 12)]
    assert delays[0] >= CONFIG.interval
    assert delays[1] >= 2 * CONFIG.interval
    assert delays[2] >= 4 * CONFIG.interval
    assert delays == sorted(delays[:7]) + delays[7:]
    assert all(d <= CONFIG.max_interval for d in delays)
    assert delays[-1] == CONFIG.max_interval


def test_retry_after_wins_when_later_and_is_clamped_both_ways() -> None:
    assert delay_after_error(
        CONFIG, error_count=1, retry_after=timedelta(hours=3), rng=rng()
    ) >= timedelta(hours=3)
    assert (
        delay_after_error(CONFIG, error_count=1, retry_after=timedelta(seconds=5), rng=rng())
        >= CONFIG.interval
    )
    assert (
        delay_after_error(CONFIG, error_count=1, retry_after=timedelta(days=30), rng=rng())
        == CONFIG.max_interval
    )


def test_a_short_interval_is_clamped_to_the_floor() -> None:
    eager = PollConfig(interval=timedelta(seconds=10))
    assert delay_after_success(eager, rng=rng()) == eager.min_interval


def test_the_baseline_announces_only_the_newest_entry_when_it_is_fresh() -> None:
    entries = [
        Candidate("old", NOW - timedelta(days=30)),
        Candidate("new", NOW - timedelta(hours=2)),
        Candidate("middle", NOW - timedelta(days=2)),
        Candidate("undated", None),
    ]
    assert entries_to_announce(
        entries, is_baseline=True, now=NOW, max_age=CONFIG.max_entry_age
    ) == {"new"}


def test_a_stale_baseline_announces_nothing() -> None:
    entries = [Candidate(f"e{i}", NOW - timedelta(days=10 + i)) for i in range(20)]
    assert not entries_to_announce(entries, is_baseline=True, now=NOW, max_age=timedelta(days=3))


def test_a_baseline_of_undated_entries_announces_nothing() -> None:
    entries = [Candidate("a", None), Candidate("b", None)]
    assert not entries_to_announce(entries, is_baseline=True, now=NOW, max_age=timedelta(days=3))


def test_later_polls_announce_every_new_entry_younger_than_the_max_age() -> None:
    entries = [
        Candidate("fresh", NOW - timedelta(hours=1)),
        Candidate("also-fresh", NOW - timedelta(days=2, hours=23)),
        Candidate("too-old", NOW - timedelta(days=3, minutes=1)),
        Candidate("undated", None),
    ]
    assert entries_to_announce(entries, is_baseline=False, now=NOW, max_age=timedelta(days=3)) == {
        "fresh",
        "also-fresh",
        "undated",
    }


def test_a_date_in_the_future_counts_as_now() -> None:
    assert effective_published(NOW + timedelta(days=365), NOW) == NOW
    assert effective_published(NOW - MINUTE, NOW) == NOW - MINUTE
    assert effective_published(None, NOW) is None


def test_entries_without_a_web_link_are_held_back_and_named() -> None:
    entries = [
        Candidate("js", NOW - timedelta(hours=1), has_link=False),
        Candidate("real", NOW - timedelta(hours=2)),
        Candidate("old-and-bare", NOW - timedelta(days=9), has_link=False),
    ]
    decided = announcement(entries, is_baseline=False, now=NOW, max_age=timedelta(days=3))
    assert decided.keys == {"real"}
    assert decided.without_link == {"js"}  # the old one was never due anyway


def test_a_baseline_whose_newest_entry_has_no_link_announces_nothing() -> None:
    entries = [
        Candidate("bare", NOW - timedelta(hours=1), has_link=False),
        Candidate("older", NOW - timedelta(hours=2)),
    ]
    decided = announcement(entries, is_baseline=True, now=NOW, max_age=timedelta(days=3))
    assert (decided.keys, decided.without_link) == (frozenset(), frozenset({"bare"}))
