"""Feed ingestion: claim due feeds, fetch politely, parse, record, fan out.

The functions here are what the Celery tasks, the CLI and (later) the web app call.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from config import Settings, get_settings
from tribe.db import session_scope
from tribe.feeds.claims import FeedClaim, claim_due_feeds
from tribe.feeds.decide import PollConfig
from tribe.feeds.fetch import FetchConfig, Fetcher
from tribe.feeds.netguard import AddressPolicy

_fetcher: Fetcher | None = None
_pool: ThreadPoolExecutor | None = None
_fetcher_lock = threading.Lock()


def fetch_config(settings: Settings) -> FetchConfig:
    return FetchConfig(
        user_agent=settings.user_agent,
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
    return PollConfig.from_settings(get_settings())


def claim_feeds(limit: int, config: PollConfig | None = None) -> list[FeedClaim]:
    """Claim up to `limit` due feeds in one short transaction."""
    config = config or poll_config()
    with session_scope() as session:
        return claim_due_feeds(
            session,
            now=datetime.now(UTC),
            limit=limit,
            per_host=config.per_host,
            max_in_flight=config.max_in_flight,
            lease=config.lease,
        )
