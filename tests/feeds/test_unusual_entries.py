"""Feeds that are odd but harmless: an encoding expat does not know, entries whose link
is not a web address. Polled for real, against the local server."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from tests import builders as b
from tests.builders import Item, ago, poll_now, posts, rss
from tests.cli import ok
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tests.feeds.cases import FEEDS
from tribe.core.kinds import PollOutcome
from tribe.infra.db import session_scope
from tribe.infra.models import Feed, Post, StreamItem
from tribe.ingest.prescan import entry_spans
from tribe.stream.items import fan_out

pytestmark = pytest.mark.usefixtures("db")
BOGUS = (FEEDS / "bogus-encoding.xml").read_bytes()


def alice_and_bob(server: FeedServer) -> tuple[int, int]:
    """Alice's feed (its id) and Bob, her tribemate (his id)."""
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        b.tribe(s, "Writers", alice, bob)
        return b.pk(b.feed(s, alice, server.url("/alice.xml"))), b.pk(bob)


def stream_of(member_id: int) -> list[str]:
    with session_scope() as s:
        return list(
            s.exec(
                select(Post.title)
                .join(StreamItem, col(StreamItem.post_id) == col(Post.id))
                .where(StreamItem.member_id == member_id)
                .order_by(col(Post.id))
            ).all()
        )


def feed_row(feed_id: int) -> Feed:
    with session_scope() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        return feed


def test_an_encoding_expat_does_not_know_is_left_to_feedparser() -> None:
    assert entry_spans(BOGUS) is None  # expat raises LookupError here, not ExpatError


def test_a_feed_declaring_an_unknown_encoding_is_polled_without_an_error(
    server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tribe")
    feed_id, bob = alice_and_bob(server)
    server.routes["/alice.xml"] = Served(BOGUS, content_type="application/rss+xml")
    first = poll_now(feed_id)
    fresh = (
        f"<item><title>Fresh post</title><guid>bogus-2</guid><link>https://blog.example/fresh"
        f"</link><pubDate>{ago(minutes=5):%a, %d %b %Y %H:%M:%S} GMT</pubDate></item>"
    )
    newer = BOGUS.replace(b"<item>", fresh.encode() + b"<item>", 1)
    server.routes["/alice.xml"] = Served(newer, content_type="application/rss+xml")
    second = poll_now(feed_id)
    assert (first.outcome, first.new_posts) == (PollOutcome.OK, 1)
    assert (second.outcome, second.new_posts, second.announced) == (PollOutcome.OK, 1, 1)
    assert stream_of(bob) == ["Fresh post"]
    feed = feed_row(feed_id)
    assert (feed.last_outcome, feed.error_message, feed.error_count) == (PollOutcome.OK, None, 0)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]


def test_entries_without_a_web_link_are_recorded_never_shared_and_the_owner_told(
    server: FeedServer,
) -> None:
    feed_id, bob = alice_and_bob(server)
    old = posts(2)
    server.routes["/alice.xml"] = Served(rss(old))
    poll_now(feed_id)
    odd = [
        Item("Click me", guid="js", link="javascript:alert(1)", published=ago(minutes=5)),
        Item("Write to me", guid="mail", link="mailto:alice@example.com", published=ago(minutes=4)),
        Item(
            "A real post", guid="real", link="https://blog.example/real", published=ago(minutes=3)
        ),
    ]
    server.routes["/alice.xml"] = Served(rss([*odd, *old]))
    summary = poll_now(feed_id)
    assert (summary.new_posts, summary.announced, summary.stream_items) == (3, 1, 1)
    assert stream_of(bob) == ["A real post"]
    with session_scope() as s:
        recorded = {p.title: (p.url, p.announced) for p in s.exec(select(Post)).all()}
    assert recorded["Click me"] == ("", False)
    assert recorded["Write to me"] == ("", False)
    note = feed_row(feed_id).warning
    assert note == (
        "2 new entries without a web link were not shared: \u201cClick me\u201d, "
        "\u201cWrite to me\u201d (a post's link must start with http:// or https://)"
    )
    # Recorded, so not looked at again; the note stays while the feed is unchanged.
    again = poll_now(feed_id)
    assert (again.outcome, again.new_posts) == (PollOutcome.NOT_MODIFIED, 0)
    assert feed_row(feed_id).warning == note
    listed = json.loads(ok("feed", "list", "--owner", "alice@example.com", "--json"))
    assert listed[0]["warning"] == note


def test_one_entry_without_a_link_is_named_in_the_singular(server: FeedServer) -> None:
    feed_id, bob = alice_and_bob(server)
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    poll_now(feed_id)
    server.routes["/alice.xml"] = Served(
        rss([Item("No link at all", guid="bare", published=ago(minutes=1)), *posts(1)])
    )
    poll_now(feed_id)
    assert stream_of(bob) == []
    assert feed_row(feed_id).warning == (
        "1 new entry without a web link was not shared: \u201cNo link at all\u201d "
        "(a post's link must start with http:// or https://)"
    )


def test_fan_out_never_hands_out_a_post_without_a_web_link(server: FeedServer) -> None:
    feed_id, bob = alice_and_bob(server)
    now = datetime.now(UTC)
    with session_scope() as s:
        rows = [
            Post(feed_id=feed_id, entry_key=f"k{i}", url=url, title=f"P{i}", discovered_at=now)
            for i, url in enumerate(["", "javascript:alert(1)", "ftp://x.example/f"])
        ]
        s.add_all(rows)
        s.flush()
        assert fan_out(s, [p.id for p in rows if p.id], now=now + timedelta(seconds=1)) == 0
    assert stream_of(bob) == []
