"""What a blogger sees of their feeds: the next check, and what became of recent posts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import select

from tests import builders as b
from tests.builders import Item, ago, posts, rss
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tribe.core.kinds import DeliveryState, FeedStatus, ReshareKind
from tribe.infra.db import get_engine, read_scope, session_scope
from tribe.infra.models import Delivery, Post, Preference
from tribe.ingest.overview import (
    Fate,
    RecentPost,
    fate_of,
    feed_cards,
    next_check,
    recent_posts,
)
from tribe.members.accounts import add_account
from tribe.members.people import get_member

pytestmark = pytest.mark.usefixtures("db")
AGE = timedelta(days=3)


def recent(feed_id: int) -> dict[str, RecentPost]:
    with read_scope() as s:
        found = recent_posts(s, feed_ids=[feed_id], max_age=AGE)
    return {p.title: p for p in found.get(feed_id, ())}


def deliver(account_id: int, post_id: int, state: DeliveryState, kind: ReshareKind) -> None:
    with session_scope() as s:
        s.add(
            Delivery(
                account_id=account_id,
                post_id=post_id,
                text="t",
                state=state,
                kind=kind,
                due_at=datetime.now(UTC),
            )
        )


def test_each_recent_post_says_what_became_of_it(server: FeedServer) -> None:
    with session_scope() as s:
        alice, bob, carol = (b.member(s, n) for n in ("Alice", "Bob", "Carol"))
        b.tribe(s, "Writers", alice, bob, carol)
        feed_id = b.pk(b.feed(s, alice, server.url("/a.xml")))
        bob_x = add_account(s, member=get_member(s, bob.email), network="x", handle="@bob").id
        carol_x = add_account(s, member=get_member(s, carol.email), network="x", handle="@carol").id
        alice_x = add_account(s, member=get_member(s, alice.email), network="x", handle="@alice").id
    fresh = Item("Fresh", guid="fresh", link="https://blog.example/fresh", published=ago(hours=1))
    older = Item("Older", guid="older", link="https://blog.example/older", published=ago(days=1))
    server.routes["/a.xml"] = Served(rss([fresh, older]))
    b.poll_now(feed_id)  # the baseline: the fresh newest is announced, the rest recorded

    with session_scope() as s:  # carol stops taking alice's posts
        s.add(Preference(member_id=b.pk(carol), author_id=b.pk(alice), muted=True))
    later = [
        Item("New", guid="new", link="https://blog.example/new", published=ago(minutes=5)),
        Item("Ancient", guid="ancient", link="https://blog.example/anc", published=ago(days=10)),
        Item("Linkless", guid="linkless", link="javascript:alert(1)", published=ago(minutes=9)),
        Item(
            "Older again",
            guid="older-moved",
            link="https://blog.example/older",
            published=ago(minutes=7),
        ),
    ]
    server.routes["/a.xml"] = Served(rss([*later, fresh, older]))
    b.poll_now(feed_id)

    with session_scope() as s:
        ids = {p.title: b.pk(p) for p in s.exec(select(Post))}
    deliver(bob_x, ids["Fresh"], DeliveryState.SENT, ReshareKind.POST)
    deliver(carol_x, ids["Fresh"], DeliveryState.SENT, ReshareKind.REPOST)
    deliver(bob_x, ids["New"], DeliveryState.QUEUED, ReshareKind.POST)
    deliver(alice_x, ids["New"], DeliveryState.SENT, ReshareKind.ANNOUNCE)

    found = recent(feed_id)
    assert {title: (p.fate, p.reached, p.shared) for title, p in found.items()} == {
        "Fresh": (Fate.ANNOUNCED, 2, 2),  # the baseline's fresh newest, shared twice
        "Older": (Fate.BASELINE, 0, 0),
        "New": (Fate.ANNOUNCED, 1, 0),  # carol muted alice; queued and own posts don't count
        "Ancient": (Fate.TOO_OLD, 0, 0),
        "Linkless": (Fate.NO_LINK, 0, 0),
        "Older again": (Fate.REPUBLISHED, 0, 0),
    }
    assert found["Fresh"].why == "announced to 2 tribemates · shared 2 times"
    assert found["New"].why == "announced to 1 tribemate · not shared yet"
    assert found["Older"].why == "not announced: it was already there at the first check"
    assert found["Ancient"].why == "not announced: older than 3 days when found"
    assert found["Linkless"].why.startswith("not announced: no web link")
    assert found["Linkless"].link is None  # never a javascript: link on the page
    assert found["New"].link == "https://blog.example/new"
    # Newest first: the later poll's posts, then the baseline's.
    assert list(found)[-2:] == ["Fresh", "Older"]


def test_an_announced_post_that_reached_no_one_says_so(server: FeedServer) -> None:
    with session_scope() as s:
        loner = b.member(s, "Loner")
        feed_id = b.pk(b.feed(s, loner, server.url("/a.xml")))
    server.routes["/a.xml"] = Served(
        rss([Item("Hi", guid="hi", link="https://x.example/hi", published=ago(hours=1))])
    )
    b.poll_now(feed_id)
    (post,) = recent(feed_id).values()
    assert (post.fate, post.reached) == (Fate.ANNOUNCED, 0)
    assert post.why.startswith("announced, but it reached no tribemate")


def test_only_the_last_ten_posts_of_each_feed(server: FeedServer) -> None:
    with session_scope() as s:
        owner = b.member(s, "Owner")
        first = b.pk(b.feed(s, owner, server.url("/a.xml")))
        second = b.pk(b.feed(s, owner, server.url("/b.xml")))
    server.routes["/a.xml"] = Served(rss(posts(15, prefix="a")))
    server.routes["/b.xml"] = Served(rss(posts(3, prefix="b")))
    b.poll_now(first)
    b.poll_now(second)
    with read_scope() as s:
        found = recent_posts(s, feed_ids=[first, second], max_age=AGE)
    assert [p.title for p in found[first]] == [f"a {n}" for n in range(15, 5, -1)]
    assert [p.title for p in found[second]] == ["b 3", "b 2", "b 1"]


@contextmanager
def counting_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: object) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT"):
            statements.append(str(args[2]))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def cards_of(email: str) -> int:
    """How many queries the Feeds page's cards cost: the member, their feeds, the posts."""
    with counting_queries() as statements, read_scope() as s:
        cards = feed_cards(s, member=get_member(s, email), now=datetime.now(UTC), max_age=AGE)
        assert cards
    return len(statements)


def test_the_feeds_page_costs_the_same_queries_for_many_posts(server: FeedServer) -> None:
    with session_scope() as s:
        small, big = b.member(s, "Small"), b.member(s, "Big")
        one = b.pk(b.feed(s, small, server.url("/one.xml")))
        many = [b.pk(b.feed(s, big, server.url(f"/{n}.xml"))) for n in range(3)]
    server.routes["/one.xml"] = Served(rss(posts(1)))
    b.poll_now(one)
    for n, feed_id in enumerate(many):
        server.routes[f"/{n}.xml"] = Served(rss(posts(12, prefix=f"p{n}")))
        b.poll_now(feed_id)
    assert cards_of("big@example.com") == cards_of("small@example.com") <= 3


NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("next_poll_at", "status", "expected"),
    [
        (NOW + timedelta(minutes=12, seconds=10), FeedStatus.ACTIVE, "in 13 min"),
        (NOW + timedelta(seconds=20), FeedStatus.ACTIVE, "in 1 min"),
        (NOW, FeedStatus.ACTIVE, "due now"),
        (NOW - timedelta(minutes=3), FeedStatus.ACTIVE, "due now"),
        (NOW + timedelta(hours=2), FeedStatus.ACTIVE, "in 2 h"),
        (NOW + timedelta(hours=2, minutes=5), FeedStatus.ACTIVE, "in 2 h 5 min"),
        (None, FeedStatus.GONE, "none: the feed is gone"),
    ],
)
def test_next_check(next_poll_at: datetime | None, status: FeedStatus, expected: str) -> None:
    assert next_check(status=status, next_poll_at=next_poll_at, now=NOW) == expected


def fate(**given: Any) -> Fate:
    values: dict[str, Any] = {
        "announced": False,
        "url": "https://blog.example/p",
        "published_at": NOW,
        "discovered_at": NOW,
        "first_found": NOW - timedelta(days=1),
        "relinked": False,
        "max_age": AGE,
        **given,
    }
    return fate_of(**values)


def test_fate_of_a_post() -> None:
    assert fate(announced=True, first_found=NOW) == Fate.ANNOUNCED
    assert fate(first_found=NOW) == Fate.BASELINE
    assert fate(published_at=NOW - AGE - timedelta(seconds=1)) == Fate.TOO_OLD
    assert fate(published_at=NOW - AGE) == Fate.NOT_ANNOUNCED  # exactly the limit is fresh
    assert fate(published_at=None) == Fate.NOT_ANNOUNCED  # undated: new by definition
    assert fate(url="mailto:me@example.org") == Fate.NO_LINK
    assert fate(url="") == Fate.NO_LINK
    assert fate(relinked=True) == Fate.REPUBLISHED
