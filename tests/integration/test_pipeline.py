"""The whole ingestion pipeline with real worker and beat processes and a real broker
(the embedded one with SQLite, Redis with PostgreSQL), against the local feed server."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from tests import builders as b
from tests.builders import Item, ago, pk, posts, rss
from tests.fakenet.common import Route
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer, gzip_bomb, huge, redirect, status, trickle
from tests.feeds.cases import FEEDS
from tests.integration.cluster import cluster, wait_for
from tribe.core.kinds import FeedStatus, PollOutcome
from tribe.infra.db import session_scope
from tribe.infra.models import Feed, Member, Post, StreamItem
from tribe.members.people import get_member

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("db")]


def feeds_by_id() -> dict[int, Feed]:
    with session_scope() as s:
        return {pk(f): f for f in s.exec(select(Feed)).all()}


def make_due(*feed_ids: int) -> None:
    with session_scope() as s:
        s.exec(
            update(Feed).where(col(Feed.id).in_(feed_ids)).values(next_poll_at=datetime.now(UTC))
        )


def polled_since(feed_id: int, when: datetime) -> bool:
    feed = feeds_by_id()[feed_id]
    return feed.last_polled_at is not None and feed.last_polled_at >= when


def stream_titles(member: Member) -> list[str]:
    with session_scope() as s:
        return list(
            s.exec(
                select(Post.title)
                .join(StreamItem, col(StreamItem.post_id) == col(Post.id))
                .where(StreamItem.member_id == member.id)
            ).all()
        )


def test_a_new_post_travels_from_feed_to_every_tribemates_stream(
    server: FeedServer, tmp_path: Path
) -> None:
    with session_scope() as s:
        alice, bob, carol = (b.member(s, n) for n in ("Alice", "Bob", "Carol"))
        b.tribe(s, "Writers", alice, bob, carol)
        feed_id = pk(b.feed(s, alice, server.url("/alice.xml"), next_poll_at=datetime.now(UTC)))
    backlog = posts(10, start_hours_ago=24 * 5)
    server.routes["/alice.xml"] = Served(rss(backlog))

    with cluster(tmp_path / "cluster") as c:
        c.start_worker("worker")
        c.start_beat()
        wait_for("the baseline poll", lambda: feeds_by_id()[feed_id].last_success_at is not None)
        assert stream_titles(bob) == []  # no backlog announced
        with session_scope() as s:
            assert s.exec(select(func.count()).select_from(Post)).one() == 10

        server.routes["/alice.xml"] = Served(
            rss(
                [
                    Item(
                        "Fresh!",
                        guid="new",
                        link="https://alice.blog/new",
                        published=ago(minutes=3),
                    ),
                    *backlog,
                ]
            )
        )
        started = datetime.now(UTC)
        make_due(feed_id)
        wait_for("the second poll", lambda: polled_since(feed_id, started))
        assert stream_titles(bob) == ["Fresh!"]
        assert stream_titles(carol) == ["Fresh!"]
        assert stream_titles(alice) == []

        started = datetime.now(UTC)
        make_due(feed_id)
        wait_for("the third poll", lambda: polled_since(feed_id, started))
        feed = feeds_by_id()[feed_id]
        assert feed.last_http_status == 304
        assert feed.last_outcome == PollOutcome.NOT_MODIFIED
        assert stream_titles(bob) == ["Fresh!"]
        assert server.hits("/alice.xml") == 3
        assert c.alive("worker")
        assert c.alive("beat")


def test_retry_after_a_permanent_move_and_gone(server: FeedServer, tmp_path: Path) -> None:
    server.routes["/busy.xml"] = status(503, {"Retry-After": "7200"})
    server.routes["/old.xml"] = redirect(301, "/new.xml")
    server.routes["/new.xml"] = Served(rss(posts(2)))
    server.routes["/gone.xml"] = status(410)
    with session_scope() as s:
        owner = b.member(s, "Owner")
        now = datetime.now(UTC)
        busy, moved, gone = (
            pk(b.feed(s, owner, server.url(path), next_poll_at=now))
            for path in ("/busy.xml", "/old.xml", "/gone.xml")
        )

    with cluster(tmp_path / "cluster") as c:
        c.start_worker("worker")
        c.start_beat()
        wait_for(
            "all three feeds",
            lambda: all(feeds_by_id()[i].last_polled_at for i in (busy, moved, gone)),
        )
        feeds = feeds_by_id()
        due = feeds[busy].next_poll_at
        assert due is not None
        assert due - datetime.now(UTC) > timedelta(hours=1, minutes=59)
        assert feeds[busy].error_message is not None
        assert feeds[moved].url == server.url("/new.xml")
        assert feeds[gone].status == FeedStatus.GONE
        assert feeds[gone].next_poll_at is None

        started = datetime.now(UTC)
        make_due(busy, moved, gone)
        wait_for("the moved feed again", lambda: polled_since(moved, started))
        wait_for("the busy feed again", lambda: polled_since(busy, started))
        assert server.hits("/old.xml") == 1  # the new address is used from now on
        assert server.hits("/new.xml") == 2
        assert server.hits("/gone.xml") == 1  # 410 stopped polling for good


def test_two_workers_poll_each_due_feed_exactly_once_within_host_limits(tmp_path: Path) -> None:
    """How tribe grows past one machine: more workers on one broker and one database."""
    servers = [FeedServer(host=f"127.0.0.{n}") for n in range(2, 6)]
    for server in servers:
        server.slow(0.05, match="/feed", times=15)  # long enough for polls to overlap
        server.start()
    try:
        with session_scope() as s:
            owner = b.member(s, "Owner")
            later = datetime.now(UTC) + timedelta(days=1)
            for server in servers:
                for i in range(15):
                    server.routes[f"/feed{i}.xml"] = Served(rss(posts(3, prefix=f"p{i}")))
                    b.feed(s, owner, server.url(f"/feed{i}.xml"), next_poll_at=later)
        with cluster(
            # Small batches make many tasks, so both workers get some.
            tmp_path / "cluster",
            TRIBE_ALLOWED_NETWORKS="127.0.0.0/29",
            TRIBE_POLL_BATCH="2",
        ) as c:
            # Four batches in flight (4 hosts x TRIBE_POLL_PER_HOST / 2), more than one
            # worker's two slots: a task goes on with the batches it claims itself (see
            # CHAIN_BATCHES), so the second worker's share is the batches the first has
            # no slot for.
            c.start_worker("one", concurrency=2)
            c.start_worker("two", concurrency=2)
            c.start_beat()
            wait_for(
                "both workers",
                lambda: all(f"{n}@" in c.log(n) and " ready." in c.log(n) for n in ("one", "two")),
            )
            make_due(*feeds_by_id())
            wait_for(
                "every feed polled", lambda: all(f.last_success_at for f in feeds_by_id().values())
            )
            time.sleep(2.5)  # more sweeps (one a second) must find nothing due
        for server in servers:
            for i in range(15):
                assert server.hits(f"/feed{i}.xml") == 1, (server.host, i)
            assert server.max_concurrent <= 2, server.host  # TRIBE_POLL_PER_HOST
        runs = {
            name: re.findall(r"tribe\.feeds\.poll_feeds\[.*\] succeeded in .*: (\d+)", c.log(name))
            for name in ("one", "two")
        }
        done = {name: sum(map(int, polled)) for name, polled in runs.items()}
        assert sum(done.values()) == 60
        assert all(done.values()), done  # both machines took part
        # 30 batches of 2, most of them polled by the task that claimed them, not sent on
        assert sum(map(len, runs.values())) <= 15, runs
    finally:
        for server in servers:
            server.stop()


def test_hostile_feeds_leave_the_worker_alive_and_other_feeds_alone(
    server: FeedServer, tmp_path: Path
) -> None:
    hostile: dict[str, Route] = {
        "/malformed.xml": status(
            200, {"Content-Type": "application/rss+xml"}, b"<rss version='2.0'><channel><title>cut"
        ),
        "/bomb.xml": Served((FEEDS / "hostile-bomb.xml").read_bytes()),
        "/huge.xml": huge(50 * 1024 * 1024),
        "/gzip-bomb.xml": gzip_bomb(),
        "/trickle.xml": trickle(rss(posts(2)), 2),
        "/loop.xml": redirect(302, "/loop.xml"),
        "/to-loopback.xml": redirect(302, f"http://127.0.0.1:{server.port}/good.xml"),
        "/to-metadata.xml": redirect(302, "http://169.254.169.254/latest/meta-data/"),
        "/encoding.xml": Served(
            (FEEDS / "hostile-bad-encoding.xml").read_bytes(), content_type="application/rss+xml"
        ),
        "/no-ids.xml": Served(
            rss([Item("No guid, no link", description="a"), Item("Neither", description="b")])
        ),
        "/dup-guids.xml": Served(rss([Item("One", guid="same"), Item("Two", guid="same")])),
        "/dates.xml": Served(
            rss(
                [
                    Item("Future", guid="f", published="Tue, 01 Jan 2041 00:00:00 GMT"),
                    Item("Naive", guid="n", published="Mon, 02 Mar 2026 10:00:00"),
                ]
            )
        ),
        "/script.xml": Served(
            rss([Item("XSS", guid="x", description="<p>hi<script>alert(1)</script></p>")])
        ),
    }
    server.routes.update(hostile)
    server.routes["/good.xml"] = Served(rss([Item("Good", guid="g", published=ago(hours=1))]))
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        b.tribe(s, "Writers", alice, bob)
        now = datetime.now(UTC)
        ids = {path: pk(b.feed(s, alice, server.url(path), next_poll_at=now)) for path in hostile}
        good = pk(b.feed(s, bob, server.url("/good.xml"), next_poll_at=now))

    with cluster(tmp_path / "cluster") as c:
        c.start_worker("worker", concurrency=8)
        c.start_beat()
        wait_for(
            "every feed polled", lambda: all(f.last_polled_at for f in feeds_by_id().values()), 90
        )
        feeds = feeds_by_id()
        errors = {path for path, i in ids.items() if feeds[i].last_outcome == PollOutcome.ERROR}
        assert errors == {
            "/malformed.xml",
            "/huge.xml",
            "/gzip-bomb.xml",
            "/trickle.xml",
            "/loop.xml",
            "/to-loopback.xml",
            "/to-metadata.xml",
        }
        for path in errors:
            assert feeds[ids[path]].error_message, path
            assert feeds[ids[path]].next_poll_at is not None, path
        for path in ("/bomb.xml", "/encoding.xml"):
            assert feeds[ids[path]].warning, path
        assert feeds[good].last_outcome == PollOutcome.OK
        with session_scope() as s:
            titles = set(s.exec(select(Post.title)).all())
            summaries = " ".join(s.exec(select(Post.summary)).all())
        assert {"No guid, no link", "Neither", "One", "Future", "Naive", "XSS", "Good"} <= titles
        assert "Two" not in titles
        assert "script" not in summaries

        assert c.alive("worker")
        server.routes["/good.xml"] = Served(
            rss(
                [Item("Still working", guid="s", link="https://bob.blog/s"), Item("Good", guid="g")]
            )
        )
        started = datetime.now(UTC)
        make_due(good)
        wait_for("a poll after the hostile sweep", lambda: polled_since(good, started))
        assert "Still working" in stream_titles(alice)


def test_a_killed_worker_loses_no_feed(server: FeedServer, tmp_path: Path) -> None:
    """A worker dies mid-poll: its lease runs out and another worker polls the feed."""
    server.routes["/slow.xml"] = Served(rss(posts(2)))
    server.slow(4, match="/slow.xml", times=2)
    with session_scope() as s:
        owner = b.member(s, "Owner")
        feed_id = pk(b.feed(s, owner, server.url("/slow.xml"), next_poll_at=datetime.now(UTC)))
    with cluster(
        tmp_path / "cluster",
        TRIBE_POLL_LEASE="6s",
        TRIBE_POLL_BATCH="1",
        TRIBE_FETCH_DEADLINE="5s",
        TRIBE_FETCH_TIMEOUT="5s",
    ) as c:
        c.start_worker("doomed")
        c.start_beat()
        wait_for("the first request", lambda: server.hits("/slow.xml") == 1)
        c.kill("doomed")
        assert feeds_by_id()[feed_id].last_polled_at is None
        c.start_worker("rescuer")
        wait_for("the rescue poll", lambda: feeds_by_id()[feed_id].last_success_at is not None, 60)
        assert server.hits("/slow.xml") == 2


def test_a_worker_that_takes_nothing_from_the_broker_stops_itself(
    server: FeedServer, tmp_path: Path
) -> None:
    """Its probes go round while it takes tasks; held past the stall timeout, it exits 75."""
    server.routes["/stuck.xml"] = Served(rss(posts(1)))
    server.slow(30, match="/stuck.xml")
    with cluster(
        tmp_path / "cluster",
        TRIBE_WORKER_STALL_TIMEOUT="2s",
        TRIBE_POLL_BATCH="1",
        TRIBE_FETCH_DEADLINE="6s",
        TRIBE_FETCH_TIMEOUT="6s",
    ) as c:
        c.start_worker("one", concurrency=1)
        c.start_beat()
        answered = re.compile(r"Task tribe\.worker\.self_check\[[^]]+\] succeeded")
        c.wait_for("probes going round", lambda: len(answered.findall(c.log("one"))) >= 4, 30)
        with session_scope() as s:
            b.feed(
                s, b.member(s, "Owner"), server.url("/stuck.xml"), next_poll_at=datetime.now(UTC)
            )
        # Its one thread holds a 6 s fetch: a probe waits longer than the 2 s allowed.
        assert c.procs["one"].wait(timeout=60) == 75
        assert "sent to its own queue" in c.log("one")
        assert server.hits("/stuck.xml") == 1


def test_a_post_fans_out_and_two_tribemates_approvals_are_queued_staggered_once(
    server: FeedServer, tmp_path: Path
) -> None:
    """Feed -> worker -> two streams -> two approvals -> deliveries at local slot times."""
    from tribe.infra.models import Delivery, StreamItem
    from tribe.members.accounts import ScheduleChange, add_account, set_schedule
    from tribe.stream.approvals import approve

    with session_scope() as s:
        alice = b.member(s, "Alice", "Europe/Paris")
        bob = b.member(s, "Bob", "America/Chicago")
        carol = b.member(s, "Carol", "America/Chicago")
        b.tribe(s, "Writers", alice, bob, carol)
        feed_id = pk(b.feed(s, alice, server.url("/alice.xml"), next_poll_at=datetime.now(UTC)))
        for who in (bob, carol):
            add_account(
                s, member=get_member(s, who.email), network="x", handle=who.display_name.lower()
            )
            set_schedule(
                s,
                member=get_member(s, who.email),
                change=ScheduleChange(slots="mon-sun 09:00,21:00"),
            )
    server.routes["/alice.xml"] = Served(rss(posts(3)))

    with cluster(tmp_path / "cluster") as c:
        c.start_worker("worker")
        c.start_beat()
        wait_for("the baseline", lambda: feeds_by_id()[feed_id].last_success_at is not None)
        server.routes["/alice.xml"] = Served(
            rss(
                [
                    Item(
                        "Fresh!",
                        guid="new",
                        link="https://alice.blog/new",
                        published=ago(minutes=3),
                    ),
                    *posts(3),
                ]
            )
        )
        started = datetime.now(UTC)
        make_due(feed_id)
        wait_for("the new post", lambda: polled_since(feed_id, started))

    with session_scope() as s:
        items = {
            i.member_id: pk(i)
            for i in s.exec(select(StreamItem).where(col(StreamItem.state) == "pending")).all()
        }
    assert set(items) == {bob.id, carol.id}
    now = datetime.now(UTC)
    with session_scope() as s:
        first = approve(s, member=get_member(s, bob.email), item_id=items[pk(bob)], now=now)
    with session_scope() as s:
        second = approve(s, member=get_member(s, carol.email), item_id=items[pk(carol)], now=now)
    with session_scope() as s:  # a retried click
        again = approve(s, member=get_member(s, carol.email), item_id=items[pk(carol)], now=now)
    assert again.repeated

    chicago = ZoneInfo("America/Chicago")
    with session_scope() as s:
        dues = sorted(d.due_at for d in s.exec(select(Delivery)).all())
    assert len(dues) == 2  # once each
    assert {d.astimezone(chicago).strftime("%H:%M") for d in dues} <= {"09:00", "21:00"}
    assert dues[1] - dues[0] >= timedelta(minutes=20)  # staggered
    assert {first.queued[0].due_at, second.queued[0].due_at} == set(dues)
