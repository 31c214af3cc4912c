"""The stages of a poll as plain data: what a poll knows of a feed, what its network
half brought back, and what it did."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from tribe.core.errors import FeedError
from tribe.core.kinds import PollOutcome
from tribe.ingest.fetch import FetchResult, Validators
from tribe.ingest.parse import ParsedFeed

KnownKeys = Callable[[int, Sequence[str]], Collection[str]]


@dataclass(frozen=True)
class FeedToPoll:
    """What a poll needs to know about a feed, read when the poll begins."""

    id: int
    url: str
    validators: Validators
    content_hash: str | None
    token: str = ""  # the lease token this poll holds; recording checks it is still ours


@dataclass(frozen=True)
class Fetched:
    """The outcome of the network half of a poll; exactly one of the cases holds."""

    feed: FeedToPoll
    result: FetchResult | None = None
    parsed: ParsedFeed | None = None  # None with a result: nothing changed
    content_hash: str | None = None
    error: FeedError | None = None


@dataclass(frozen=True)
class PollSummary:
    feed_id: int
    outcome: PollOutcome
    new_posts: int = 0
    announced: int = 0
    stream_items: int = 0
    error: str | None = None
    without_link: tuple[str, ...] = ()  # titles of new entries not announced for want of a link
