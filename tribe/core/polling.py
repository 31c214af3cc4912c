"""Pure decisions of the poller: when to come back, and which new entries to announce.

No I/O here, so each rule is tested as a function of its inputs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

JITTER = 0.1  # up to 10% later, so feeds added together do not stay in lockstep
MAX_BACKOFF_DOUBLINGS = 10


@dataclass(frozen=True)
class PollConfig:
    """The polling rules an operator can tune (see `.env.example`)."""

    interval: timedelta = timedelta(minutes=15)
    min_interval: timedelta = timedelta(minutes=5)
    max_interval: timedelta = timedelta(hours=24)
    max_entry_age: timedelta = timedelta(days=3)
    per_host: int = 2
    max_in_flight: int = 200
    lease: timedelta = timedelta(minutes=10)
    batch: int = 20
    check_every: timedelta = timedelta(minutes=1)  # "Check now" fetches a feed at most this often


def _clamp(delay: timedelta, config: PollConfig) -> timedelta:
    return min(max(delay, config.min_interval), config.max_interval)


def _jittered(delay: timedelta, rng: random.Random) -> timedelta:
    return delay * (1 + rng.uniform(0, JITTER))


def delay_after_success(
    config: PollConfig,
    *,
    max_age: timedelta | None = None,
    ttl: timedelta | None = None,
    rng: random.Random,
) -> timedelta:
    """The base interval, pushed later by Cache-Control max-age or RSS <ttl>."""
    delay = max([config.interval, *(d for d in (max_age, ttl) if d is not None)])
    return _clamp(_jittered(delay, rng), config)


def delay_after_error(
    config: PollConfig,
    *,
    error_count: int,
    retry_after: timedelta | None = None,
    rng: random.Random,
) -> timedelta:
    """Exponential backoff from the base interval; the server's Retry-After if later."""
    doublings = min(max(error_count - 1, 0), MAX_BACKOFF_DOUBLINGS)
    delay = config.interval * (2**doublings)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return _clamp(_jittered(delay, rng), config)


@dataclass(frozen=True)
class Candidate:
    """A newly recorded entry: its key, (clamped) publication time, and whether it has a
    web (http or https) link."""

    key: str
    published_at: datetime | None
    has_link: bool = True


def effective_published(published_at: datetime | None, now: datetime) -> datetime | None:
    """A date in the future is a mistake of the feed; it counts as now."""
    if published_at is None:
        return None
    return min(published_at, now)


def entries_to_announce(
    new_entries: Iterable[Candidate],
    *,
    is_baseline: bool,
    now: datetime,
    max_age: timedelta,
) -> set[str]:
    """Which of the entries first seen in this poll reach the tribemates' streams.

    The first successful poll of a feed is a baseline: a blogger who joins with 20
    posts in their feed must not flood the tribe with 20 old links. It announces at
    most the newest entry, and only when it is fresh. Later polls announce every new
    entry that is not older than `max_age` (an undated new entry is new by definition).
    """
    entries = list(new_entries)
    if is_baseline:
        dated = [e for e in entries if e.published_at is not None]
        if not dated:
            return set()
        newest = max(dated, key=lambda e: e.published_at or now)
        fresh = newest.published_at is not None and now - newest.published_at <= max_age
        return {newest.key} if fresh else set()
    return {e.key for e in entries if e.published_at is None or now - e.published_at <= max_age}


@dataclass(frozen=True)
class Announcement:
    """What a poll announces, and what it holds back for want of a link."""

    keys: frozenset[str]  # reach the tribemates' streams
    # Due to be announced, but without a web link: a `javascript:` or `mailto:` link, or
    # none, leaves tribemates nothing to share. Recorded all the same (so they are not
    # looked at again every poll), and the feed's owner is told.
    without_link: frozenset[str]


def announcement(
    new_entries: Iterable[Candidate],
    *,
    is_baseline: bool,
    now: datetime,
    max_age: timedelta,
) -> Announcement:
    """`entries_to_announce`, less the entries that have no web link."""
    entries = list(new_entries)
    due = entries_to_announce(entries, is_baseline=is_baseline, now=now, max_age=max_age)
    linkless = {e.key for e in entries if not e.has_link}
    return Announcement(keys=frozenset(due - linkless), without_link=frozenset(due & linkless))
