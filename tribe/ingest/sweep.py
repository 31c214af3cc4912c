"""`tribe poll`: poll feeds in this process, concurrently, with the workers' own rules.

It claims feeds exactly as the workers do (leases, per-host lanes, in-flight cap), so
running it next to live workers never polls a feed twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import col, select

from tribe.core.errors import NotFoundError
from tribe.core.kinds import PollOutcome
from tribe.core.polling import PollConfig
from tribe.infra.db import session_scope
from tribe.infra.models import Feed
from tribe.ingest.claims import claim_due_feeds, due_filter, make_due_now
from tribe.ingest.fetch import Fetcher
from tribe.ingest.poll import poll_claimed_feed
from tribe.ingest.stages import PollSummary


@dataclass
class SweepSummary:
    polled: int = 0
    not_modified: int = 0
    new_posts: int = 0
    announced: int = 0
    errors: int = 0

    def add(self, summary: PollSummary) -> None:
        self.polled += 1
        self.new_posts += summary.new_posts
        self.announced += summary.announced
        if summary.outcome == PollOutcome.NOT_MODIFIED:
            self.not_modified += 1
        elif summary.outcome in (PollOutcome.ERROR, PollOutcome.GONE):
            self.errors += 1


def count_due(feed_ids: Collection[int] | None) -> int:
    now = datetime.now(UTC)
    with session_scope() as session:
        return session.exec(select(func.count()).where(due_filter(now, feed_ids))).one()


def prepare(*, feed_ids: Collection[int] | None, everything: bool) -> int:
    """Make the named feeds (or, with `everything`, all feeds) due now; return how many are due."""
    if feed_ids is not None or everything:
        with session_scope() as session:
            if feed_ids is not None:
                found = set(session.exec(select(col(Feed.id)).where(col(Feed.id).in_(feed_ids))))
                missing = sorted(set(feed_ids) - found)
                if missing:
                    raise NotFoundError("no feed with id " + ", ".join(map(str, missing)))
            make_due_now(session, now=datetime.now(UTC), feed_ids=feed_ids)
    return count_due(feed_ids)


def sweep(
    *,
    fetcher: Fetcher,
    config: PollConfig,
    workers: int,
    feed_ids: Collection[int] | None = None,
    on_done: Callable[[PollSummary], None] | None = None,
) -> SweepSummary:
    """Poll every due feed (of `feed_ids`, if given) until none is left to claim."""
    total = SweepSummary()
    rng = random.Random()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
        running: set[Future[PollSummary | None]] = set()
        while True:
            free = workers - len(running)
            if free > 0:
                with session_scope() as session:
                    claims = claim_due_feeds(
                        session,
                        now=datetime.now(UTC),
                        limit=free,
                        per_host=config.per_host,
                        max_in_flight=config.max_in_flight,
                        lease=config.lease,
                        feed_ids=feed_ids,
                    )
                running |= {
                    pool.submit(poll_claimed_feed, c, fetcher=fetcher, config=config, rng=rng)
                    for c in claims
                }
            if not running:
                return total
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                summary = future.result()
                if summary is not None:
                    total.add(summary)
                    if on_done:
                        on_done(summary)
