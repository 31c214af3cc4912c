"""Feed ingestion: claim due feeds, fetch politely, parse, record, fan out.

The functions here are what the Celery tasks, the CLI and (later) the web app call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from config import Settings, get_settings
from tribe.core.polling import PollConfig
from tribe.infra.db import session_scope
from tribe.infra.identity import user_agent
from tribe.infra.netguard import AddressPolicy
from tribe.ingest.claims import FeedClaim, claim_due_feeds
from tribe.ingest.fetch import FetchConfig, Fetcher

_fetcher: Fetcher | None = None
_pool: ThreadPoolExecutor | None = None
_fetcher_lock = threading.Lock()


def fetch_config(settings: Settings) -> FetchConfig:
    return FetchConfig(
        user_agent=user_agent(settings),
        policy=AddressPolicy.from_settings(
            settings.TRIBE_ALLOW_PRIVATE_ADDRESSES, settings.TRIBE_ALLOWED_NETWORKS
        ),
        timeout=settings.TRIBE_FETCH_TIMEOUT.total_seconds(),
        deadline=settings.TRIBE_FETCH_DEADLINE.total_seconds(),
        max_bytes=settings.TRIBE_FETCH_MAX_BYTES,
    )


def process_fetcher() -> Fetcher:
    """The process's HTTP client, shared by its threads (connections are reused)."""
    global _fetcher  # noqa: PLW0603 - one client per process, created on first use
    with _fetcher_lock:
        if _fetcher is None:
            _fetcher = Fetcher(fetch_config(get_settings()))
        return _fetcher


def process_fetch_pool() -> ThreadPoolExecutor:
    """The process's fetching threads (TRIBE_FETCH_CONCURRENCY): every batch shares them."""
    global _pool  # noqa: PLW0603 - one pool per process, created on first use
    with _fetcher_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=get_settings().TRIBE_FETCH_CONCURRENCY, thread_name_prefix="fetch"
            )
        return _pool


def _forget_fetcher_in_child() -> None:
    global _fetcher, _pool
    _fetcher, _pool = None, None


os.register_at_fork(after_in_child=_forget_fetcher_in_child)


def poll_config() -> PollConfig:
    return poll_config_of(get_settings())


def poll_config_of(settings: Settings) -> PollConfig:
    """The polling rules as the operator set them."""
    return PollConfig(
        interval=settings.TRIBE_POLL_INTERVAL,
        min_interval=settings.TRIBE_POLL_MIN_INTERVAL,
        max_interval=settings.TRIBE_POLL_MAX_INTERVAL,
        max_entry_age=settings.TRIBE_MAX_ENTRY_AGE,
        per_host=settings.TRIBE_POLL_PER_HOST,
        max_in_flight=settings.TRIBE_POLL_MAX_IN_FLIGHT,
        lease=settings.TRIBE_POLL_LEASE,
        batch=settings.TRIBE_POLL_BATCH,
        check_every=settings.TRIBE_CHECK_EVERY,
    )


def claim_feeds(
    limit: int, config: PollConfig | None = None, feed_ids: Collection[int] | None = None
) -> list[FeedClaim]:
    """Claim up to `limit` due feeds (of `feed_ids`, if given) in one short transaction."""
    config = config or poll_config()
    with session_scope() as session:
        return claim_due_feeds(
            session,
            now=datetime.now(UTC),
            limit=limit,
            per_host=config.per_host,
            max_in_flight=config.max_in_flight,
            lease=config.lease,
            feed_ids=feed_ids,
        )
