"""`tribe poll`: poll feeds now, concurrently, with the workers' own rules.

It claims feeds exactly as the workers do (leases, per-host lanes, in-flight cap), so
running it next to live workers never polls a feed twice; and for the same reason a
big sweep can run in several processes (one per core by default, `sweep_in_processes`)
without any other coordination: parsing is CPU work, and one process has one GIL.
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import sys
import threading
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import col, select

from tribe.core.errors import NotFoundError, TribeError
from tribe.core.kinds import PollOutcome
from tribe.core.polling import PollConfig
from tribe.infra.db import session_scope
from tribe.infra.models import Feed
from tribe.ingest import claim_feeds
from tribe.ingest.claims import FeedClaim, due_filter, make_due_now
from tribe.ingest.fetch import Fetcher
from tribe.ingest.poll import poll_claims
from tribe.ingest.stages import PollSummary


@dataclass
class SweepSummary:
    polled: int = 0
    not_modified: int = 0
    new_posts: int = 0
    announced: int = 0
    errors: int = 0

    def merge(self, other: SweepSummary) -> None:
        self.polled += other.polled
        self.not_modified += other.not_modified
        self.new_posts += other.new_posts
        self.announced += other.announced
        self.errors += other.errors

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


# Batches in flight at once: while one waits on its slowest feed, the others go on.
LANES = 4


def sweep(
    *,
    fetcher: Fetcher,
    config: PollConfig,
    workers: int,
    feed_ids: Collection[int] | None = None,
    on_done: Callable[[PollSummary], None] | None = None,
) -> SweepSummary:
    """Poll every due feed (of `feed_ids`, if given) until none is left to claim.

    As the workers do (`workers/tasks.py` `poll_feeds`): feeds are claimed in batches of
    TRIBE_POLL_BATCH under one token, each batch begun in one transaction and recorded in
    one, its fetches side by side on `workers` threads, and the next batch claimed in the
    recording transaction. A few batches are in flight at once (`LANES`), so one slow
    host does not hold up the rest; a lane that finds nothing to claim while others still
    poll (a host's lane is full) looks again when one of them has recorded.
    """
    total = SweepSummary()
    rng = random.Random()
    lock = threading.Condition()
    polling = 0  # lanes between their claim and their record

    def claim(limit: int) -> list[FeedClaim]:
        return claim_feeds(limit, config, feed_ids)

    def lane(pool: ThreadPoolExecutor) -> None:
        nonlocal polling
        claims: list[FeedClaim] = []
        while True:
            with lock:
                if not claims:
                    claims = claim(config.batch)
                    while not claims and polling:
                        lock.wait(timeout=1.0)  # another lane's record frees a host
                        claims = claim(config.batch)
                    if not claims:
                        lock.notify_all()
                        return
                polling += 1
            try:
                polled = poll_claims(
                    claims, fetcher=fetcher, config=config, pool=pool, rng=rng,
                    # The next batch in the same transaction (not for named feeds: it
                    # would claim others).
                    claim_next=config.batch if feed_ids is None else 0,
                    delivered_once=True,  # claimed right here, by this sweep
                )  # fmt: skip
            finally:
                with lock:
                    polling -= 1
                    lock.notify_all()
            with lock:
                for summary in polled.summaries:
                    total.add(summary)
                    if on_done:
                        on_done(summary)
            claims = list(polled.next_claims)

    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool,
        ThreadPoolExecutor(max_workers=LANES, thread_name_prefix="batch") as lanes,
    ):
        for running in [lanes.submit(lane, pool) for _ in range(LANES)]:
            running.result()
    return total


def processes_for(due: int, *, wanted: int, batch: int, feed_ids: Collection[int] | None) -> int:
    """How many processes a sweep of `due` feeds is worth: each needs two batches to keep
    busy, and named feeds (`--feed`) are polled in this one."""
    if feed_ids is not None:
        return 1
    return max(1, min(wanted, due // (2 * batch)))


def sweep_in_processes(
    processes: int,
    *,
    workers: int,
    on_done: Callable[[PollSummary], None] | None = None,
) -> SweepSummary:
    """`sweep` in `processes` child processes at once, each with `workers` fetch threads;
    their feeds come back to `on_done` here, as they are recorded.

    On Linux the children are forked: they start at once with everything this process
    has loaded (it runs no threads yet, and database engines are disposed in a forked
    child, see `tribe.infra.db`). Elsewhere they are spawned, and read the same settings
    from the environment. A child that fails leaves its claimed feeds to their leases,
    as a worker that dies does.
    """
    context = (
        multiprocessing.get_context("fork")
        if sys.platform == "linux"
        else multiprocessing.get_context("spawn")
    )
    events = context.Queue()
    children = [
        context.Process(target=_sweep_child, args=(workers, events), name=f"tribe-poll-{n}")
        for n in range(processes)
    ]
    for child in children:
        child.start()
    total = SweepSummary()
    running = len(children)
    try:
        while running:
            try:
                kind, value = events.get(timeout=1.0)
            except queue.Empty:
                failed = [c for c in children if c.exitcode not in (None, 0)]
                if failed:
                    raise TribeError(
                        f"a polling process stopped with status {failed[0].exitcode} (its "
                        "error is above); the feeds it had claimed are polled again when "
                        "their leases run out"
                    ) from None
                continue
            if kind == "feed":
                if on_done:
                    on_done(value)
            else:
                total.merge(value)
                running -= 1
    finally:
        for child in children:
            if child.is_alive() and running:
                child.terminate()
            child.join()
    return total


def _sweep_child(workers: int, events: multiprocessing.Queue[tuple[str, object]]) -> None:
    from tribe.ingest import poll_config, process_fetcher

    summary = sweep(
        fetcher=process_fetcher(),
        config=poll_config(),
        workers=workers,
        on_done=lambda polled: events.put(("feed", polled)),
    )
    events.put(("done", summary))
