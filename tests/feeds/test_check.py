"""Check now: one feed polled at once, through the workers' claims, lanes and poll path,
at most once a minute per feed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config import get_settings
from tests import builders as b
from tests.builders import Item, ago, posts, rss
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tribe.core.errors import NotFoundError
from tribe.core.kinds import FeedStatus, PollOutcome
from tribe.infra.db import session_scope
from tribe.infra.models import Feed
from tribe.ingest import fetch_config, poll_config
from tribe.ingest.check import (
    CHECK_EVERY,
    CheckRefusedError,
    CheckResult,
    Refusal,
    check_now,
    describe,
    duration_words,
    refusal,
)
from tribe.ingest.claims import claim_due_feeds, make_due_now
from tribe.ingest.fetch import Fetcher
from tribe.ingest.stages import PollSummary

pytestmark = pytest.mark.usefixtures("db")
LINK = "https://blog.example/new"


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    client = Fetcher(fetch_config(get_settings()))
    yield client
    client.close()


def writers(server: FeedServer, *paths: str) -> dict[str, int]:
    """alice writes (one feed per path, on the test server); bob and carol are her
    tribemates; dave is a stranger. Returns ids by name, and feed ids by path."""
    with session_scope() as s:
        alice, bob, carol, dave = (b.member(s, n) for n in ("Alice", "Bob", "Carol", "Dave"))
        b.tribe(s, "Writers", alice, bob, carol)
        ids = {m.display_name.lower(): b.pk(m) for m in (alice, bob, carol, dave)}
        for path in paths:
            ids[path] = b.pk(b.feed(s, alice, server.url(path)))
        return ids


def baseline(server: FeedServer, path: str, feed_id: int) -> list[Item]:
    """The feed's first poll, by a worker, a while ago: old posts only."""
    old = posts(3)
    server.routes[path] = Served(rss(old))
    b.poll_now(feed_id)
    set_polled(feed_id, ago(minutes=5))
    return old


def set_polled(feed_id: int, when: datetime) -> None:
    with session_scope() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        feed.last_polled_at = when


def feed_row(feed_id: int) -> Feed:
    with session_scope() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        return feed


def check(ids: dict[str, int], feed_id: int, fetcher: Fetcher, **kwargs: Any) -> CheckResult:
    options: dict[str, Any] = {
        "member_id": ids["alice"],
        "any_owner": False,
        "config": poll_config(),
        **kwargs,
    }
    return check_now(feed_id=feed_id, fetcher=fetcher, **options)


def test_a_new_post_is_polled_at_once_and_announced_to_the_tribemates(
    server: FeedServer, fetcher: Fetcher
) -> None:
    ids = writers(server, "/a.xml")
    old = baseline(server, "/a.xml", ids["/a.xml"])
    server.routes["/a.xml"] = Served(
        rss([Item("Just out", guid="new", link=LINK, published=ago(minutes=2)), *old])
    )
    result = check_now(
        feed_id=ids["/a.xml"],
        member_id=ids["alice"],
        any_owner=False,
        fetcher=fetcher,
        config=poll_config(),
    )
    assert (result.outcome, result.new_posts, result.announced) == (PollOutcome.OK, 1, 1)
    assert result.tribemates == 2
    assert result.message == "1 new post, announced to 2 tribemates"
    assert not result.baseline
    feed = feed_row(ids["/a.xml"])
    assert feed.lease_until is None  # the claim was taken up and given back
    assert result.checked_at == feed.last_polled_at
    assert feed.last_polled_at is not None
    assert feed.last_polled_at > ago(seconds=30)
    assert feed.next_poll_at is not None
    assert feed.next_poll_at > ago(minutes=-14)  # the schedule starts again from this poll


def test_a_second_check_within_the_minute_fetches_nothing_and_says_when(
    server: FeedServer, fetcher: Fetcher
) -> None:
    ids = writers(server, "/a.xml")
    baseline(server, "/a.xml", ids["/a.xml"])
    hits = server.hits("/a.xml")
    check(ids, ids["/a.xml"], fetcher)
    assert server.hits("/a.xml") == hits + 1
    with pytest.raises(CheckRefusedError) as refused:
        check(ids, ids["/a.xml"], fetcher)
    assert server.hits("/a.xml") == hits + 1  # nothing fetched
    assert refused.value.reason == Refusal.TOO_SOON
    assert 50 <= refused.value.retry_after <= 60
    assert "at most once a minute" in str(refused.value)
    assert "try again in" in str(refused.value)


def test_a_workers_poll_a_moment_ago_counts_too(server: FeedServer, fetcher: Fetcher) -> None:
    ids = writers(server, "/a.xml")
    server.routes["/a.xml"] = Served(rss(posts(2)))
    b.poll_now(ids["/a.xml"])  # a worker, just now
    hits = server.hits("/a.xml")
    with pytest.raises(CheckRefusedError) as refused:
        check(ids, ids["/a.xml"], fetcher)
    assert refused.value.reason == Refusal.TOO_SOON
    assert server.hits("/a.xml") == hits


def test_after_a_minute_the_check_is_a_conditional_get(
    server: FeedServer, fetcher: Fetcher
) -> None:
    ids = writers(server, "/a.xml")
    served = Served(rss(posts(2)))
    server.routes["/a.xml"] = served
    b.poll_now(ids["/a.xml"])
    set_polled(ids["/a.xml"], ago(seconds=61))
    result = check(ids, ids["/a.xml"], fetcher)
    assert result.outcome == PollOutcome.NOT_MODIFIED
    assert result.message == "not modified since the last check"
    last = list(server.headers_of("/a.xml"))[-1]
    assert last.get("If-None-Match") == served.etag_value


def test_a_feed_a_worker_is_polling_is_not_fetched_twice(
    server: FeedServer, fetcher: Fetcher
) -> None:
    ids = writers(server, "/a.xml")
    baseline(server, "/a.xml", ids["/a.xml"])
    hits = server.hits("/a.xml")
    now = datetime.now(UTC)
    with session_scope() as s:  # a worker claims it, as the sweep does
        make_due_now(s, now=now, feed_ids=[ids["/a.xml"]])
        claims = claim_due_feeds(
            s, now=now, limit=10, per_host=2, max_in_flight=100, lease=timedelta(minutes=10)
        )
    assert [c.feed_id for c in claims] == [ids["/a.xml"]]
    with pytest.raises(CheckRefusedError) as refused:
        check(ids, ids["/a.xml"], fetcher)
    assert refused.value.reason == Refusal.POLLING
    assert "polling this feed right now" in str(refused.value)
    assert server.hits("/a.xml") == hits
    assert feed_row(ids["/a.xml"]).lease_token == claims[0].token  # the worker keeps it


def test_a_host_at_its_lane_limit_means_try_again_in_a_moment(
    server: FeedServer, fetcher: Fetcher
) -> None:
    ids = writers(server, "/a.xml", "/b.xml")
    baseline(server, "/a.xml", ids["/a.xml"])
    baseline(server, "/b.xml", ids["/b.xml"])
    before = feed_row(ids["/b.xml"])
    now = datetime.now(UTC)
    with session_scope() as s:  # a worker polls the other feed of the same host
        make_due_now(s, now=now, feed_ids=[ids["/a.xml"]])
        claim_due_feeds(
            s, now=now, limit=10, per_host=1, max_in_flight=100, lease=timedelta(minutes=10)
        )
    hits = server.hits("/b.xml")
    one_lane = replace(poll_config(), per_host=1)
    with pytest.raises(CheckRefusedError) as refused:
        check(ids, ids["/b.xml"], fetcher, config=one_lane)
    assert refused.value.reason == Refusal.BUSY
    assert refused.value.retry_after == 10
    assert f"from {server.host}" in str(refused.value)
    assert server.hits("/b.xml") == hits
    after = feed_row(ids["/b.xml"])
    # The refused claim rolled back: the feed keeps its place in the schedule.
    assert (after.next_poll_at, after.lease_until) == (before.next_poll_at, None)
    two_lanes = replace(poll_config(), per_host=2)
    check(ids, ids["/b.xml"], fetcher, config=two_lanes)
    assert server.hits("/b.xml") == hits + 1


def test_the_in_flight_cap_holds_too(server: FeedServer, fetcher: Fetcher) -> None:
    ids = writers(server, "/a.xml")
    baseline(server, "/a.xml", ids["/a.xml"])
    with session_scope() as s:
        other = b.feed(s, b.member(s, "Eve"), "https://elsewhere.example/feed")
        other.lease_until = datetime.now(UTC) + timedelta(minutes=5)
    hits = server.hits("/a.xml")
    with pytest.raises(CheckRefusedError) as refused:
        check(ids, ids["/a.xml"], fetcher, config=replace(poll_config(), max_in_flight=1))
    assert refused.value.reason == Refusal.BUSY
    assert server.hits("/a.xml") == hits


def test_a_member_checks_only_their_own_feeds_the_operator_any(
    server: FeedServer, fetcher: Fetcher
) -> None:
    ids = writers(server, "/a.xml")
    server.routes["/a.xml"] = Served(rss(posts(2)))
    with pytest.raises(NotFoundError):
        check(ids, ids["/a.xml"], fetcher, member_id=ids["bob"])
    assert server.hits("/a.xml") == 0
    result = check(ids, ids["/a.xml"], fetcher, member_id=ids["dave"], any_owner=True)
    assert result.outcome == PollOutcome.OK
    assert server.hits("/a.xml") == 1


def test_a_removed_feed_cannot_be_checked(server: FeedServer, fetcher: Fetcher) -> None:
    ids = writers(server, "/a.xml")
    with session_scope() as s:
        feed = s.get(Feed, ids["/a.xml"])
        assert feed is not None
        feed.removed_at = datetime.now(UTC)
    with pytest.raises(NotFoundError):
        check(ids, ids["/a.xml"], fetcher, any_owner=True)
    assert server.hits("/a.xml") == 0


def test_the_first_check_is_the_baseline_and_says_what_it_announced(
    server: FeedServer, fetcher: Fetcher
) -> None:
    ids = writers(server, "/a.xml")
    fresh = Item("Fresh", guid="fresh", link=LINK, published=ago(hours=2))
    server.routes["/a.xml"] = Served(rss([fresh, *posts(4)]))
    result = check(ids, ids["/a.xml"], fetcher)
    assert result.baseline
    assert result.message == "5 posts found; the newest was announced to 2 tribemates"


def test_a_failing_feed_answers_with_its_error_and_backs_off(
    server: FeedServer, fetcher: Fetcher
) -> None:
    ids = writers(server, "/a.xml")
    result = check(ids, ids["/a.xml"], fetcher)  # no route: the server answers 404
    assert result.outcome == PollOutcome.ERROR
    assert result.message.startswith("could not read the feed: ")
    assert "404" in result.message
    feed = feed_row(ids["/a.xml"])
    assert feed.error_count == 1
    assert feed.error_message == result.error


def test_checking_a_gone_feed_asks_again(server: FeedServer, fetcher: Fetcher) -> None:
    ids = writers(server, "/a.xml")
    with session_scope() as s:
        feed = s.get(Feed, ids["/a.xml"])
        assert feed is not None
        feed.status, feed.next_poll_at = FeedStatus.GONE, None
        feed.last_polled_at = ago(hours=1)
    server.routes["/a.xml"] = Served(rss(posts(1)))
    result = check(ids, ids["/a.xml"], fetcher)
    assert result.outcome == PollOutcome.OK
    assert feed_row(ids["/a.xml"]).status == FeedStatus.ACTIVE


# The pure parts.

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_refusal_reads_the_row() -> None:
    assert refusal(last_polled_at=None, lease_until=None, now=NOW) is None
    assert refusal(last_polled_at=NOW - CHECK_EVERY, lease_until=None, now=NOW) is None
    soon = refusal(last_polled_at=NOW - timedelta(seconds=20), lease_until=None, now=NOW)
    assert soon is not None
    assert (soon.reason, soon.retry_after) == (Refusal.TOO_SOON, 40)
    assert "checked 20 seconds ago" in str(soon)
    now = refusal(last_polled_at=NOW, lease_until=None, now=NOW)
    assert now is not None
    assert "checked just now" in str(now)
    assert now.retry_after == 60
    leased = refusal(last_polled_at=None, lease_until=NOW + timedelta(seconds=1), now=NOW)
    assert leased is not None
    assert leased.reason == Refusal.POLLING
    assert refusal(last_polled_at=None, lease_until=NOW, now=NOW) is None  # ran out


AGE = timedelta(days=3)


@pytest.mark.parametrize(
    ("summary", "is_baseline", "expected"),
    [
        (PollSummary(1, PollOutcome.NOT_MODIFIED), False, "not modified since the last check"),
        (PollSummary(1, PollOutcome.OK), False, "no new posts"),
        (
            PollSummary(1, PollOutcome.OK, new_posts=2, announced=2, stream_items=6),
            False,
            "2 new posts, announced to 3 tribemates",
        ),
        (
            PollSummary(1, PollOutcome.OK, new_posts=3, announced=1, stream_items=1),
            False,
            "3 new posts: 1 announced to 1 tribemate, 2 not "
            "(dated more than 3 days back, or republished)",
        ),
        (
            PollSummary(1, PollOutcome.OK, new_posts=1, without_link=("Draft",)),
            False,
            "1 new post, not announced (1 without a web link)",
        ),
        (
            PollSummary(1, PollOutcome.OK, new_posts=1, announced=1),
            False,
            "1 new post, announced to no tribemate (none yet, or they muted this blog)",
        ),
        (
            PollSummary(1, PollOutcome.OK, new_posts=20, announced=0),
            True,
            "20 posts found, none announced: the first check announces only the newest "
            "post, and only if it was published in the last 3 days",
        ),
        (PollSummary(1, PollOutcome.OK), True, "the feed has no posts yet"),
        (
            PollSummary(1, PollOutcome.ERROR, error="the server answered 500"),
            False,
            "could not read the feed: the server answered 500",
        ),
        (PollSummary(1, PollOutcome.GONE, error="gone for good"), False, "gone for good"),
    ],
)
def test_describe(summary: PollSummary, is_baseline: bool, expected: str) -> None:
    assert describe(summary, baseline=is_baseline, max_age=AGE) == expected


def test_durations_read_as_words() -> None:
    assert duration_words(timedelta(days=3)) == "3 days"
    assert duration_words(timedelta(days=1)) == "1 day"
    assert duration_words(timedelta(hours=36)) == "36 hours"
    assert duration_words(timedelta(minutes=15)) == "15 minutes"
    assert duration_words(timedelta(seconds=90)) == "90 seconds"
