"""Polling one feed against the local server, in this process, on the test database."""

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from config import get_settings
from tests import builders as b
from tests.builders import Item, ago, poll_now, posts, rss
from tests.fakenet.common import Route
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer, gzip_bomb, huge, redirect, status, trickle
from tests.feeds.cases import FEEDS
from tribe.core.kinds import FeedStatus, MembershipStatus, PollOutcome
from tribe.core.polling import PollConfig
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Feed, Member, Membership, Post, StreamItem, Tribe
from tribe.ingest import fetch_config, poll_config, record
from tribe.ingest.claims import (
    FeedClaim,
    claim_due_feeds,
    from_message,
    make_due_now,
    to_message,
)
from tribe.ingest.fetch import Fetcher
from tribe.ingest.poll import (
    begin_polls,
    fetch_and_parse,
    poll_claimed_feed,
    poll_claims,
    read_fresh_claims,
)
from tribe.ingest.record import record_polls
from tribe.ingest.stages import Fetched
from tribe.ingest.sweep import prepare, sweep
from tribe.members.people import add_to_tribe, get_member, get_tribe

pytestmark = pytest.mark.usefixtures("db")
LINK = "https://blog.example/a-post"  # entries without a web link are never announced


def tribe_of_five(server: FeedServer) -> dict[str, int]:
    """alice (the author) shares "writers" with bob and carol, and "poets" with carol;
    dave left "writers"; eve is only in "poets2", with bob. Returns ids by name."""
    with session_scope() as s:
        alice, bob, carol, dave, eve = (
            b.member(s, n) for n in ("Alice", "Bob", "Carol", "Dave", "Eve")
        )
        writers = b.tribe(s, "Writers", alice, bob, carol, dave)
        b.tribe(s, "Poets", carol, alice)
        b.tribe(s, "Poets2", eve, bob)
        membership = s.exec(
            select(Membership).where(
                Membership.tribe_id == writers.id, Membership.member_id == dave.id
            )
        ).one()
        membership.status = MembershipStatus.LEFT
        feed = b.feed(s, alice, server.url("/alice.xml"))
        ids = {m.display_name.lower(): b.pk(m) for m in (alice, bob, carol, dave, eve)}
        ids["feed"] = b.pk(feed)
        return ids


def stream_of(member_id: int) -> list[str]:
    with session_scope() as s:
        rows = s.exec(
            select(Post.title)
            .join(StreamItem, col(StreamItem.post_id) == col(Post.id))
            .where(StreamItem.member_id == member_id)
            .order_by(col(Post.id))
        ).all()
        return list(rows)


def bobs_feed(server: FeedServer, ids: dict[str, int]) -> int:
    """bob's own feed, /bob.xml: a second feed for the batch."""
    with session_scope() as s:
        bob = s.get(Member, ids["bob"])
        assert bob is not None
        return b.pk(b.feed(s, bob, server.url("/bob.xml")))


def feed_row(feed_id: int) -> Feed:
    with session_scope() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        return feed


def test_the_first_poll_is_a_baseline_that_announces_only_a_fresh_newest_post(
    server: FeedServer,
) -> None:
    ids = tribe_of_five(server)
    items = [Item("Fresh one", guid="fresh", link=LINK, published=ago(hours=3)), *posts(19)]
    server.routes["/alice.xml"] = Served(rss(items))
    summary = poll_now(ids["feed"])
    assert summary.outcome == PollOutcome.OK
    assert summary.new_posts == 20
    assert summary.announced == 1
    assert stream_of(ids["bob"]) == ["Fresh one"]
    assert stream_of(ids["carol"]) == ["Fresh one"]  # two shared tribes, one item
    assert stream_of(ids["alice"]) == []  # never the author
    assert stream_of(ids["dave"]) == []  # left the tribe
    assert stream_of(ids["eve"]) == []  # shares no tribe with alice
    feed = feed_row(ids["feed"])
    assert feed.title == "A blog"
    assert feed.last_success_at is not None


def test_a_stale_baseline_announces_nothing(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(20, start_hours_ago=24 * 10)))
    summary = poll_now(ids["feed"])
    assert (summary.new_posts, summary.announced) == (20, 0)
    assert stream_of(ids["bob"]) == []


def test_a_new_entry_after_the_baseline_reaches_every_tribemate(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    old = posts(5)
    server.routes["/alice.xml"] = Served(rss(old))
    poll_now(ids["feed"])
    server.routes["/alice.xml"] = Served(
        rss([Item("Brand new", guid="new", link=LINK, published=ago(minutes=5)), *old])
    )
    summary = poll_now(ids["feed"])
    assert (summary.new_posts, summary.announced, summary.stream_items) == (1, 1, 2)
    assert stream_of(ids["bob"]) == ["Brand new"]
    assert stream_of(ids["carol"]) == ["Brand new"]
    assert stream_of(ids["alice"]) == []


def test_an_author_who_left_a_tribe_no_longer_reaches_it(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    old = posts(3)
    server.routes["/alice.xml"] = Served(rss(old))
    poll_now(ids["feed"])
    with session_scope() as s:
        left = s.exec(
            select(Membership)
            .join(Tribe, col(Tribe.id) == col(Membership.tribe_id))
            .where(Tribe.slug == "writers", Membership.member_id == ids["alice"])
        ).one()
        left.status = MembershipStatus.LEFT
    server.routes["/alice.xml"] = Served(
        rss([Item("After leaving", guid="after", link=LINK, published=ago(minutes=5)), *old])
    )
    summary = poll_now(ids["feed"])
    assert summary.stream_items == 1
    assert stream_of(ids["carol"]) == ["After leaving"]  # "poets" still has them both
    assert stream_of(ids["bob"]) == []  # bob shared only "writers" with her


def test_an_unchanged_feed_answers_304_and_adds_nothing(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    served = Served(rss(posts(3)))
    server.routes["/alice.xml"] = served
    poll_now(ids["feed"])
    summary = poll_now(ids["feed"])
    assert summary.outcome == PollOutcome.NOT_MODIFIED
    assert summary.new_posts == 0
    _, second = server.headers_of("/alice.xml")
    assert second["If-None-Match"] == served.etag_value
    feed = feed_row(ids["feed"])
    assert feed.etag == served.etag_value  # a 304 without an ETag keeps the stored one
    assert feed.last_http_status == 304


def test_a_200_with_the_same_bytes_counts_as_not_modified(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(3)), etag=False, last_modified=False)
    poll_now(ids["feed"])
    summary = poll_now(ids["feed"])
    assert summary.outcome == PollOutcome.NOT_MODIFIED
    assert feed_row(ids["feed"]).last_http_status == 200


def test_an_edited_entry_is_never_announced_again(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(
        rss([Item("Tpyo", guid="g", link=LINK, published=ago(hours=1))])
    )
    poll_now(ids["feed"])
    server.routes["/alice.xml"] = Served(
        rss([Item("Typo fixed", guid="g", link=LINK, published=ago(hours=1))])
    )
    summary = poll_now(ids["feed"])
    assert (summary.outcome, summary.new_posts) == (PollOutcome.OK, 0)
    assert stream_of(ids["bob"]) == ["Tpyo"]


def test_new_entries_older_than_the_max_age_are_recorded_but_not_announced(
    server: FeedServer,
) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(2)))
    poll_now(ids["feed"])
    late = Item("Backdated", guid="late", link=LINK, published=ago(days=4))
    server.routes["/alice.xml"] = Served(rss([late, *posts(2)]))
    summary = poll_now(ids["feed"])
    assert (summary.new_posts, summary.announced) == (1, 0)
    assert stream_of(ids["bob"]) == []


def test_a_future_date_is_stored_as_the_time_we_saw_it(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    poll_now(ids["feed"])
    server.routes["/alice.xml"] = Served(
        rss(
            [
                Item(
                    "From 2099",
                    guid="future",
                    link=LINK,
                    published=datetime(2099, 1, 1, tzinfo=UTC),
                ),
                *posts(1),
            ]
        )
    )
    before = datetime.now(UTC)
    assert poll_now(ids["feed"]).announced == 1
    with session_scope() as s:
        post = s.exec(select(Post).where(Post.entry_key != "", Post.title == "From 2099")).one()
    assert post.published_at is not None
    assert before <= post.published_at <= datetime.now(UTC)


def test_errors_are_recorded_in_words_and_back_off(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = status(500)
    interval = poll_config().interval
    first = poll_now(ids["feed"])
    assert first.outcome == PollOutcome.ERROR
    feed = feed_row(ids["feed"])
    assert feed.error_count == 1
    assert feed.error_message is not None
    assert "server error (HTTP 500)" in feed.error_message
    assert feed.next_poll_at is not None
    assert feed.last_polled_at is not None
    assert feed.next_poll_at - feed.last_polled_at >= interval
    poll_now(ids["feed"])
    feed = feed_row(ids["feed"])
    assert feed.error_count == 2
    assert feed.next_poll_at is not None
    assert feed.last_polled_at is not None
    assert feed.next_poll_at - feed.last_polled_at >= 2 * interval
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    assert poll_now(ids["feed"]).outcome == PollOutcome.OK
    feed = feed_row(ids["feed"])
    assert (feed.error_count, feed.error_message) == (0, None)


def test_retry_after_is_honoured(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = status(503, {"Retry-After": "10800"})
    poll_now(ids["feed"])
    feed = feed_row(ids["feed"])
    assert feed.next_poll_at is not None
    assert feed.next_poll_at - datetime.now(UTC) > timedelta(hours=2, minutes=59)


def test_410_stops_polling_and_says_so(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = status(410)
    assert poll_now(ids["feed"]).outcome == PollOutcome.GONE
    feed = feed_row(ids["feed"])
    assert feed.status == FeedStatus.GONE
    assert feed.next_poll_at is None
    assert feed.error_message is not None
    assert "gone for good" in feed.error_message
    with session_scope() as s:
        claims = claim_due_feeds(
            s,
            now=datetime.now(UTC) + timedelta(days=30),
            limit=10,
            per_host=2,
            max_in_flight=100,
            lease=timedelta(minutes=1),
        )
    assert claims == []


def test_a_permanent_redirect_moves_the_feed(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = redirect(301, "/moved.xml")
    server.routes["/moved.xml"] = Served(rss(posts(1)))
    poll_now(ids["feed"])
    assert feed_row(ids["feed"]).url == server.url("/moved.xml")
    poll_now(ids["feed"])
    assert server.hits("/alice.xml") == 1  # the old address is not asked again


def test_a_temporary_redirect_does_not_move_the_feed(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = redirect(307, "/elsewhere.xml")
    server.routes["/elsewhere.xml"] = Served(rss(posts(1)))
    assert poll_now(ids["feed"]).outcome == PollOutcome.OK
    assert feed_row(ids["feed"]).url == server.url("/alice.xml")


def test_a_redirect_onto_another_of_the_owners_feeds_warns_instead(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    with session_scope() as s:
        alice = s.get(Member, ids["alice"])
        assert alice is not None
        twin = b.feed(s, alice, server.url("/twin.xml"))
    server.routes["/alice.xml"] = redirect(301, "/twin.xml")
    server.routes["/twin.xml"] = Served(rss(posts(1)))
    poll_now(ids["feed"])
    feed = feed_row(ids["feed"])
    assert feed.url == server.url("/alice.xml")
    assert (
        feed.warning
        == f"this feed now redirects to {server.url('/twin.xml')}, which is also your feed #{twin.id}"
    )


def test_a_claim_is_used_once(server: FeedServer) -> None:
    """A task delivered twice (broker redelivery) polls once."""
    tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    config = poll_config()
    with session_scope() as s:
        (claim,) = claim_due_feeds(
            s, now=datetime.now(UTC), limit=1, per_host=2, max_in_flight=10, lease=config.lease
        )
    fetcher = Fetcher(fetch_config(get_settings()))
    assert poll_claimed_feed(claim, fetcher=fetcher, config=config) is not None
    assert poll_claimed_feed(claim, fetcher=fetcher, config=config) is None
    assert (
        poll_claimed_feed(FeedClaim(claim.feed_id, "forged"), fetcher=fetcher, config=config)
        is None
    )
    assert server.hits("/alice.xml") == 1


def test_a_claim_delivered_once_starts_with_a_read_and_is_still_used_once(
    server: FeedServer,
) -> None:
    """Claims that reached no other poller (a sweep's own, a task message the broker did
    not redeliver) start without the write that swaps their token, from a read when
    they carry none; running one twice still polls once, and a claim whose lease is
    running out is begun (and renewed)."""
    tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    config = poll_config()
    fetcher = Fetcher(fetch_config(get_settings()))
    now = datetime.now(UTC)
    with session_scope() as s:
        (claimed,) = claim_due_feeds(
            s, now=now, limit=1, per_host=2, max_in_flight=10, lease=config.lease
        )
    claim = FeedClaim(claimed.feed_id, claimed.token)  # as a message without reads brings it
    with read_scope() as s:
        (fresh,) = read_fresh_claims(s, [claim], now=now, lease=config.lease)
        assert fresh.token == claim.token
        late = now + config.lease * 0.6  # less than half the lease left
        assert read_fresh_claims(s, [claim], now=late, lease=config.lease) == []
        assert read_fresh_claims(s, [FeedClaim(claim.feed_id, "forged")], now=now, lease=config.lease) == []  # fmt: skip

    first = poll_claims([claim], fetcher=fetcher, config=config, delivered_once=True)
    again = poll_claims([claim], fetcher=fetcher, config=config, delivered_once=True)
    assert [summary.new_posts for summary in first.summaries] == [1]
    assert again.summaries == []
    assert server.hits("/alice.xml") == 1

    later = now + timedelta(days=2)  # due again
    with session_scope() as s:
        (claim,) = claim_due_feeds(
            s, now=later, limit=1, per_host=2, max_in_flight=10, lease=config.lease
        )
        (begun,) = begin_polls(s, [claim], now=later, lease=config.lease)
    assert begun.token != claim.token  # the slow path makes the claim this poller's alone


def test_a_claim_starts_from_what_it_read_without_reading_again(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim carries what it read of its feed, through a task message too: a poller
    that knows it is the only one starts from that, with no read and no write."""
    tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    config = poll_config()
    now = datetime.now(UTC)
    with session_scope() as s:
        (claimed,) = claim_due_feeds(
            s, now=now, limit=1, per_host=2, max_in_flight=10, lease=config.lease
        )
    (carried,) = from_message([claimed.feed_id], claimed.token, to_message([claimed]))
    assert carried == claimed
    assert carried.feed is not None
    assert carried.feed.url == server.url("/alice.xml")

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the claim's read is enough")

    monkeypatch.setattr("tribe.ingest.poll.read_fresh_claims", no_reading)
    monkeypatch.setattr("tribe.ingest.poll.begin_polls", no_reading)
    fetcher = Fetcher(fetch_config(get_settings()))
    polled = poll_claims([carried], fetcher=fetcher, config=config, delivered_once=True)
    assert [summary.new_posts for summary in polled.summaries] == [1]
    # A message of another version, with reads that do not fit, is read as without.
    url = server.url("/alice.xml")
    for odd in (
        [["too", "short"]],
        [[url, None, None, None, "2026-12-01T10:00:00"]],  # a naive time
        [[url, 7, None, None, "2026-12-01T10:00:00+00:00"]],
        [[url, None, None, None, "soon"]],
    ):
        without = from_message([claimed.feed_id], claimed.token, odd)  # type: ignore[arg-type]
        assert without == [FeedClaim(claimed.feed_id, claimed.token)], odd


def test_an_unexpected_bug_is_recorded_not_swallowed(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(1)))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("tribe.ingest.poll.parse_feed", broken)
    assert poll_now(ids["feed"]).outcome == PollOutcome.ERROR
    feed = feed_row(ids["feed"])
    assert feed.error_message == "tribe failed to read this feed (RuntimeError)"
    assert feed.lease_until is None
    assert feed.next_poll_at is not None


def test_rejoining_a_tribe_brings_new_posts_again(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    poll_now(ids["feed"])
    with session_scope() as s:
        add_to_tribe(s, tribe=get_tribe(s, "writers"), member=get_member(s, "dave@example.com"))
    server.routes["/alice.xml"] = Served(
        rss([Item("Welcome back", guid="wb", link=LINK), *posts(1)])
    )
    poll_now(ids["feed"])
    assert stream_of(ids["dave"]) == ["Welcome back"]


# Hostile feeds: each leaves its own error (or warning) on the feed, and a good feed
# polled in the same sweep is unaffected.
HOSTILE: dict[str, tuple[Callable[[FeedServer], Route], str, str]] = {
    "malformed-xml": (
        lambda s: status(
            200, {"Content-Type": "application/rss+xml"}, b"<rss version='2.0'><channel><title>cut"
        ),
        "error",
        "not an RSS or Atom feed",
    ),
    "malformed-but-salvageable": (
        lambda s: Served((FEEDS / "hostile-malformed.xml").read_bytes()),
        "warning",
        "XML is broken",
    ),
    "entity-bomb": (
        lambda s: Served((FEEDS / "hostile-bomb.xml").read_bytes()),
        "warning",
        "XML is broken",
    ),
    "huge-body": (lambda s: huge(50 * 1024 * 1024), "error", "larger than 10 MiB"),
    "gzip-bomb": (lambda s: gzip_bomb(), "error", "larger than 10 MiB"),
    "byte-per-second": (lambda s: trickle(rss(posts(2)), 2), "error", "too slow"),
    "redirect-loop": (lambda s: redirect(302, "/hostile"), "error", "loop"),
    "redirect-to-loopback": (
        lambda s: redirect(302, f"http://127.0.0.1:{s.port}/good.xml"),
        "error",
        "public server at 127.0.0.1",
    ),
    "redirect-to-metadata": (
        lambda s: redirect(302, "http://169.254.169.254/latest/"),
        "error",
        "public server at 169.254.169.254",
    ),
    "invalid-encoding": (
        lambda s: Served(
            (FEEDS / "hostile-bad-encoding.xml").read_bytes(), content_type="application/rss+xml"
        ),
        "warning",
        "declared as utf-8",
    ),
    "html-page": (
        lambda s: status(200, {"Content-Type": "text/html"}, b"<html><body>hi</body></html>"),
        "error",
        "web page",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_feed_is_contained(server: FeedServer, case: str) -> None:
    make_route, kind, words = HOSTILE[case]
    server.routes["/hostile"] = make_route(server)
    server.routes["/good.xml"] = Served(
        rss([Item("Good news", guid="good", link=LINK, published=ago(hours=1))])
    )
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        b.tribe(s, "Writers", alice, bob)
        hostile = b.pk(b.feed(s, alice, server.url("/hostile")))
        good = b.pk(b.feed(s, bob, server.url("/good.xml")))
    prepare(feed_ids=None, everything=True)
    summary = sweep(fetcher=Fetcher(fetch_config(get_settings())), config=poll_config(), workers=4)
    assert summary.polled == 2
    bad = feed_row(hostile)
    if kind == "error":
        assert bad.last_outcome == PollOutcome.ERROR
        assert bad.error_message is not None
        assert words in bad.error_message
        assert bad.next_poll_at is not None  # retried later, never abandoned
    else:
        assert bad.last_outcome == PollOutcome.OK
        assert bad.warning is not None
        assert words in bad.warning
    assert feed_row(good).last_outcome == PollOutcome.OK
    assert stream_of(b.pk(alice)) == ["Good news"]


def test_entries_without_guid_or_link_and_duplicate_guids(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    poll_now(ids["feed"])
    server.routes["/alice.xml"] = Served(
        rss(
            [
                Item("Bare one", description="first body"),
                Item("Bare two", description="second body"),
                Item("Twin A", guid="twin", link=LINK),
                Item("Twin B", guid="twin", link=LINK),
                *posts(1),
            ]
        )
    )
    summary = poll_now(ids["feed"])
    assert summary.new_posts == 3
    # Recorded all three; the bare ones have no link to share, so they reach no one.
    assert summary.without_link == ("Bare one", "Bare two")
    assert stream_of(ids["bob"]) == ["Twin A"]
    assert poll_now(ids["feed"]).new_posts == 0  # stable identities: nothing new next time


def test_a_script_in_a_summary_is_stored_sanitized(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(
        rss(
            [
                Item(
                    "XSS",
                    guid="x",
                    published=ago(hours=1),
                    description='<p>hi<script>alert(1)</script><img src=x onerror="alert(2)"></p>',
                )
            ]
        )
    )
    poll_now(ids["feed"])
    with session_scope() as s:
        post = s.exec(select(Post).where(Post.title == "XSS")).one()
    assert "script" not in post.summary
    assert "onerror" not in post.summary
    assert "alert" not in post.summary


def test_in_a_batch_a_feed_that_cannot_be_stored_spoils_only_itself(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's feeds are recorded together; when that fails they are recorded one
    by one, and only the one that fails says so."""
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(2)))
    server.routes["/bob.xml"] = Served(rss(posts(3, prefix="bob")))
    bob_feed = bobs_feed(server, ids)
    record_entries = record._record_entries

    def broken_for_bob(session: Any, changed: Any, *args: Any, **kwargs: Any) -> Any:
        if any(feed.feed_id == bob_feed for feed in changed):
            raise RuntimeError("disk on fire")
        return record_entries(session, changed, *args, **kwargs)

    monkeypatch.setattr(record, "_record_entries", broken_for_bob)
    config = poll_config()
    with session_scope() as s:
        make_due_now(s, now=datetime.now(UTC), feed_ids=None)
        claims = claim_due_feeds(
            s, now=datetime.now(UTC), limit=5, per_host=5, max_in_flight=10, lease=config.lease
        )
    fetcher = Fetcher(fetch_config(get_settings()))
    polled = poll_claims(claims, fetcher=fetcher, config=config, delivered_once=True)
    outcomes = {
        summary.feed_id: (summary.outcome, summary.new_posts) for summary in polled.summaries
    }
    assert outcomes == {ids["feed"]: (PollOutcome.OK, 2), bob_feed: (PollOutcome.ERROR, 0)}
    assert feed_row(bob_feed).error_message == (
        "tribe could not store this poll (RuntimeError); it will try again"
    )
    assert feed_row(ids["feed"]).error_message is None
    with session_scope() as s:
        assert len(s.exec(select(Post).where(Post.feed_id == ids["feed"])).all()) == 2
        assert s.exec(select(Post).where(Post.feed_id == bob_feed)).all() == []


def test_a_poll_that_cannot_be_stored_says_so_and_backs_off(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(2)))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("tribe.ingest.record._record_entries", broken)
    assert poll_now(ids["feed"]).outcome == PollOutcome.ERROR
    feed = feed_row(ids["feed"])
    assert feed.error_message == "tribe could not store this poll (RuntimeError); it will try again"
    assert feed.error_count == 1
    assert feed.lease_until is None
    assert feed.next_poll_at is not None
    assert feed.next_poll_at - datetime.now(UTC) > timedelta(minutes=10)


def test_nothing_new_in_a_sloppily_served_feed_is_not_an_error(server: FeedServer) -> None:
    """Cutting every known entry must not turn "no news" into "not a feed"."""
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(3), title="v1"), content_type="text/plain")
    poll_now(ids["feed"])
    server.routes["/alice.xml"] = Served(rss(posts(3), title="v2"), content_type="text/plain")
    summary = poll_now(ids["feed"])
    assert (summary.outcome, summary.new_posts) == (PollOutcome.OK, 0)
    assert feed_row(ids["feed"]).title == "v2"


def test_new_guids_for_old_links_are_not_announced_again(server: FeedServer) -> None:
    ids = tribe_of_five(server)
    old = [
        Item("Moved", guid="http://blog/1", link="https://blog.example/1", published=ago(hours=2))
    ]
    server.routes["/alice.xml"] = Served(rss(old))
    poll_now(ids["feed"])
    assert stream_of(ids["bob"]) == ["Moved"]
    again = [
        Item("Moved", guid="https://blog/1", link="https://blog.example/1", published=ago(hours=2))
    ]
    server.routes["/alice.xml"] = Served(rss(again))
    summary = poll_now(ids["feed"])
    assert (summary.new_posts, summary.announced) == (1, 0)
    assert stream_of(ids["bob"]) == ["Moved"]


def test_a_batch_of_changed_feeds_is_recorded_feed_by_feed(server: FeedServer) -> None:
    """Recorded together, each feed still gets its own posts, announcements and counts:
    a link alice's feed already had is not announced again, the same link new to bob's
    feed is."""
    ids = tribe_of_five(server)
    moved = "https://blog.example/1"
    bob_old = posts(2, prefix="bob", start_hours_ago=24 * 10)
    server.routes["/alice.xml"] = Served(
        rss([Item("Moved", guid="http://blog/1", link=moved, published=ago(hours=2))])
    )
    server.routes["/bob.xml"] = Served(rss(bob_old))
    bob_feed = bobs_feed(server, ids)
    poll_now(ids["feed"])
    poll_now(bob_feed)
    server.routes["/alice.xml"] = Served(
        rss(
            [
                Item("Brand new", guid="new", link=LINK, published=ago(minutes=5)),
                Item("Moved", guid="https://blog/1", link=moved, published=ago(hours=2)),
            ]
        )
    )
    server.routes["/bob.xml"] = Served(
        rss([Item("On moving", guid="bob-new", link=moved, published=ago(minutes=5)), *bob_old])
    )
    config = poll_config()
    with session_scope() as s:
        make_due_now(s, now=datetime.now(UTC), feed_ids=None)
        claims = claim_due_feeds(
            s, now=datetime.now(UTC), limit=5, per_host=5, max_in_flight=10, lease=config.lease
        )
    assert len(claims) == 2
    fetcher = Fetcher(fetch_config(get_settings()))
    polled = poll_claims(claims, fetcher=fetcher, config=config, delivered_once=True)
    counts = {
        summary.feed_id: (summary.new_posts, summary.announced, summary.stream_items)
        for summary in polled.summaries
    }
    # alice: bob and carol; bob: alice, carol (writers) and eve (poets2)
    assert counts == {ids["feed"]: (2, 1, 2), bob_feed: (1, 1, 3)}
    assert stream_of(ids["bob"]) == ["Moved", "Brand new"]
    assert stream_of(ids["alice"]) == ["On moving"]
    assert stream_of(ids["eve"]) == ["On moving"]
    with session_scope() as s:
        announced = s.exec(select(Post.title).where(col(Post.announced))).all()
    assert sorted(announced) == ["Brand new", "Moved", "On moving"]


def fetched_alone(config: PollConfig) -> Fetched:
    """The one due feed claimed, begun and fetched: what a batch of one records."""
    now = datetime.now(UTC)
    with session_scope() as s:
        claims = claim_due_feeds(
            s, now=now, limit=1, per_host=2, max_in_flight=10, lease=config.lease
        )
        (feed,) = begin_polls(s, claims, now=now, lease=config.lease)
    return fetch_and_parse(feed, Fetcher(fetch_config(get_settings())))


@pytest.mark.parametrize("leased", [True, False], ids=["leased", "without-token"])
def test_a_feed_twice_in_a_batch_is_recorded_once(server: FeedServer, leased: bool) -> None:
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(
        rss([Item("Fresh one", guid="fresh", link=LINK, published=ago(hours=1)), *posts(2)])
    )
    config = poll_config()
    fetched = fetched_alone(config)
    if not leased:  # as `add_feed` records a feed's first poll
        fetched = replace(fetched, feed=replace(fetched.feed, token=""))
    with session_scope() as s:
        first, second = record_polls(
            s, [fetched, fetched], config=config, now=datetime.now(UTC), rng=random.Random()
        )
    assert (first.outcome, first.new_posts, first.announced, first.stream_items) == (
        PollOutcome.OK,
        3,
        1,
        2,
    )
    assert (second.outcome, second.error) == (PollOutcome.ERROR, "lease lost")
    assert stream_of(ids["bob"]) == ["Fresh one"]


def test_a_poll_whose_lease_was_lost_records_nothing(server: FeedServer) -> None:
    tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    config = poll_config()
    fetched = fetched_alone(config)
    with session_scope() as s:  # meanwhile the lease ran out and another poller took it
        row = s.get(Feed, fetched.feed.id)
        assert row is not None
        row.lease_token = "poll:someone-else"
    with session_scope() as s:
        (summary,) = record_polls(
            s, [fetched], config=config, now=datetime.now(UTC), rng=random.Random()
        )
    assert summary.error == "lease lost"
    row = feed_row(fetched.feed.id)
    assert row.last_polled_at is None
    assert row.lease_token == "poll:someone-else"


def test_an_unchanged_feed_whose_lease_was_lost_is_left_to_its_new_poller(
    server: FeedServer,
) -> None:
    """The bulk write of unchanged feeds checks each lease as it writes: the lost one is
    left alone and said so, the others of the batch are recorded."""
    ids = tribe_of_five(server)
    server.routes["/alice.xml"] = Served(rss(posts(2)))
    server.routes["/bob.xml"] = Served(rss(posts(2, prefix="bob")))
    bob_feed = bobs_feed(server, ids)
    poll_now(ids["feed"])
    poll_now(bob_feed)
    config = poll_config()
    now = datetime.now(UTC)
    with session_scope() as s:
        make_due_now(s, now=now, feed_ids=None)
        claims = claim_due_feeds(
            s, now=now, limit=5, per_host=5, max_in_flight=10, lease=config.lease
        )
        feeds = begin_polls(s, claims, now=now, lease=config.lease)
    fetcher = Fetcher(fetch_config(get_settings()))
    fetched = [fetch_and_parse(feed, fetcher) for feed in feeds]
    assert [f.parsed for f in fetched] == [None, None]  # the same bytes: unchanged
    with session_scope() as s:  # meanwhile alice's lease ran out and another poller took it
        row = s.get(Feed, ids["feed"])
        assert row is not None
        row.lease_token = "poll:someone-else"
    with session_scope() as s:
        summaries = record_polls(
            s, fetched, config=config, now=datetime.now(UTC), rng=random.Random()
        )
    outcomes = {summary.feed_id: (summary.outcome, summary.error) for summary in summaries}
    assert outcomes == {
        ids["feed"]: (PollOutcome.ERROR, "lease lost"),
        bob_feed: (PollOutcome.NOT_MODIFIED, None),
    }
    alice_row, bob_row = feed_row(ids["feed"]), feed_row(bob_feed)
    assert alice_row.lease_token == "poll:someone-else"
    assert alice_row.last_outcome == PollOutcome.OK  # as its first poll left it
    assert (bob_row.lease_token, bob_row.last_outcome) == (None, PollOutcome.NOT_MODIFIED)


@pytest.mark.parametrize("count", [0, 1, 3, 20, 128, 400])
def test_new_posts_are_inserted_in_pages_of_few_shapes(count: int) -> None:
    rows = list(range(count))
    pages = list(record._pages(rows))
    assert [row for page in pages for row in page] == rows
    assert all(len(page) in (1, 2, 4, 8, 16, 32, 64, 128) for page in pages)
    assert len(pages) <= count // 128 + 7
