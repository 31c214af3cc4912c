"""The polling task itself: how far it goes with the batches it claims."""

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from config import get_settings
from tests import builders as b
from tests.builders import posts, rss
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tribe.infra.db import session_scope
from tribe.ingest import claim_feeds, fetch_config, poll_config
from tribe.ingest.claims import FeedClaim, to_message
from tribe.ingest.fetch import Fetcher
from workers import tasks
from workers.app import stopping

pytestmark = pytest.mark.usefixtures("db")


@pytest.mark.parametrize("shutting_down", [False, True], ids=["running", "shutting-down"])
def test_a_polling_task_goes_on_with_what_it_claims_then_hands_on_the_rest(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch, shutting_down: bool
) -> None:
    """Twelve due feeds on one host, two at a time (TRIBE_POLL_PER_HOST): the task polls
    the batch it was sent and the ones it claims after it, up to CHAIN_BATCHES in all,
    then enqueues the next; a worker shutting down stops after the batch in hand."""
    now = datetime.now(UTC)
    with session_scope() as s:
        owner = b.member(s, "Owner")
        for i in range(12):
            server.routes[f"/feed{i}.xml"] = Served(rss(posts(1, prefix=f"f{i}")))
            b.feed(s, owner, server.url(f"/feed{i}.xml"), next_poll_at=now)
    handed_on: list[list[FeedClaim]] = []

    def enqueue(claims: Sequence[FeedClaim], batch: int) -> None:
        handed_on.append(list(claims))

    fetcher = Fetcher(fetch_config(get_settings()))
    monkeypatch.setattr(tasks, "_enqueue", enqueue)
    monkeypatch.setattr(tasks, "process_fetcher", lambda: fetcher)
    monkeypatch.setattr(tasks, "process_fetch_pool", lambda: None)
    config = poll_config()
    assert config.per_host == 2
    assert 1 < tasks.CHAIN_BATCHES < 6  # a chain of batches, ended by its bound (6 are due)
    first = claim_feeds(2, config)
    if shutting_down:
        stopping.set()
    try:
        polled = tasks.poll_feeds([c.feed_id for c in first], first[0].token, to_message(first))
    finally:
        stopping.clear()
    batches = 1 if shutting_down else tasks.CHAIN_BATCHES
    assert polled == 2 * batches
    assert sum(server.hits(f"/feed{i}.xml") for i in range(12)) == 2 * batches
    (rest,) = handed_on
    assert len(rest) == 2  # the next batch, claimed and leased, for another task
