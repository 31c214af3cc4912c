"""The `tribe` command, run in-process with click's runner against the test database."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from tests import builders as b
from tests.builders import Item, ago, posts, rss
from tests.cli import fails as any_failure
from tests.cli import ok, tribe
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer, status
from tribe.infra.db import session_scope
from tribe.infra.models import Member, Post
from tribe.stream.items import fan_out

pytestmark = pytest.mark.usefixtures("db")


def fails(*args: str) -> str:
    """A failure here is exactly one line."""
    output = any_failure(*args)
    assert len(output.splitlines()) == 1, output
    return output


def setup_tribe() -> None:
    ok("member", "add", "alice@example.com", "--name", "Alice", "--timezone", "Europe/Paris")
    ok("member", "add", "Bob@Example.com", "--name", "Bob")
    assert ok("tribe", "create", "Garden Writers", "--chief", "alice@example.com") == (
        "garden-writers\n"
    )
    ok("tribe", "add-member", "garden-writers", "bob@example.com")


def test_from_members_to_a_stream(server: FeedServer) -> None:
    setup_tribe()
    server.routes["/alice.xml"] = Served(
        rss(
            [
                Item(
                    "Hello tribe",
                    guid="h",
                    link="https://blog.example/hello",
                    published=ago(hours=1),
                ),
                *posts(3),
            ]
        )
    )
    out = ok("feed", "add", "alice@example.com", server.url("/alice.xml"))
    assert "added feed #1: A blog" in out
    assert "4 entries recorded, 1 announced" in out
    (item,) = json.loads(ok("stream", "bob@example.com", "--json"))
    assert item["title"] == "Hello tribe"
    assert item["author_email"] == "alice@example.com"
    assert item["author_name"] == "Alice"
    assert item["tribes"] == ["garden-writers"]
    assert item["item_id"] == 1
    assert set(item) >= {"post_id", "url", "published_at"}
    table = ok("stream", "bob@example.com")
    assert table.splitlines()[0].split() == [
        "ITEM_ID",
        "POST_ID",
        "TITLE",
        "AUTHOR_NAME",
        "AUTHOR_EMAIL",
        "TRIBES",
        "PUBLISHED_AT",
        "URL",
    ]
    assert "Hello tribe" in table
    assert ok("stream", "alice@example.com") == "nothing waiting in this stream\n"


def test_the_stream_lists_every_pending_item() -> None:
    setup_tribe()
    now = datetime.now(UTC)
    with session_scope() as s:
        alice = s.exec(select(Member).where(Member.email == "alice@example.com")).one()
        feed = b.feed(s, alice, "https://alice.blog/feed")
        new = [
            Post(
                feed_id=b.pk(feed),
                entry_key=f"k{n}",
                url=f"https://alice.blog/{n}",
                title=f"Post {n}",
                discovered_at=now - timedelta(minutes=n),
            )
            for n in range(250)
        ]
        s.add_all(new)
        s.flush()
        fan_out(s, [p.id for p in new if p.id is not None], now=now)
    items = json.loads(ok("stream", "bob@example.com", "--json"))
    assert len(items) == 250
    assert [i["title"] for i in items[:2]] == ["Post 0", "Post 1"]


def test_feed_list_shows_status_and_errors(server: FeedServer) -> None:
    setup_tribe()
    server.routes["/alice.xml"] = Served(rss(posts(2)))
    ok("feed", "add", "alice@example.com", server.url("/alice.xml"))
    server.routes["/alice.xml"] = status(500)
    assert "polled 1: 0 not modified, 0 new posts (0 announced), 1 errors" in ok("poll", "--all")
    (feed,) = json.loads(ok("feed", "list", "--json"))
    assert feed["url"] == server.url("/alice.xml")
    assert feed["owner_email"] == "alice@example.com"
    assert feed["last_outcome"] == "error"
    assert "HTTP 500" in feed["error"]
    assert feed["next_poll_at"] is not None
    table = ok("feed", "list")
    assert table.splitlines()[0].split() == [
        "ID",
        "URL",
        "TITLE",
        "OWNER_EMAIL",
        "LAST_OUTCOME",
        "ERROR",
        "NEXT_POLL_AT",
    ]
    assert "HTTP 500" in table


def test_poll_one_feed_or_all(server: FeedServer) -> None:
    setup_tribe()
    for name in ("alice", "bob"):
        server.routes[f"/{name}.xml"] = Served(rss(posts(2, prefix=name)))
        ok("feed", "add", f"{name}@example.com", server.url(f"/{name}.xml"))
    assert "polled 0" in ok("poll")  # nothing due yet
    assert "polled 1: 1 not modified" in ok("poll", "--feed", "2")
    assert "polled 2: 2 not modified" in ok("poll", "--all")
    assert fails("poll", "--feed", "99") == "Error: no feed with id 99"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("member", "add", "not-an-email", "--name", "X"),
            "Error: 'not-an-email' is not an email address",
        ),
        (
            ("member", "add", "x@example.com", "--name", "X", "--timezone", "Mars/Olympus"),
            "Error: 'Mars/Olympus' is not an IANA time zone",
        ),
        (("member", "add", "x@example.com", "--name", "   "), "Error: the name must not be empty"),
        (
            ("tribe", "create", "T", "--chief", "nobody@example.com"),
            "Error: no member with the email nobody@example.com",
        ),
        (
            ("tribe", "add-member", "no-such-tribe", "alice@example.com"),
            "Error: no tribe with the slug 'no-such-tribe'",
        ),
        (("feed", "add", "alice@example.com", "not a url"), "Error: 'not a url' is not a URL"),
        (
            ("feed", "add", "alice@example.com", "ftp://x.example/feed"),
            "Error: 'ftp://x.example/feed' is not a web address",
        ),
        (
            ("feed", "add", "nobody@example.com", "https://x.example/feed"),
            "Error: no member with the email",
        ),
        (("stream", "nobody@example.com"), "Error: no member with the email nobody@example.com"),
        (
            ("feed", "add", "alice@example.com", "http://169.254.169.254/latest"),
            "Error: tribe could not reach a public server at 169.254.169.254",
        ),
    ],
)
def test_bad_arguments_are_one_clear_line(args: tuple[str, ...], message: str) -> None:
    setup_tribe()
    assert fails(*args).startswith(message)


@pytest.mark.parametrize(
    ("args", "start", "help_of"),
    [
        (
            ("poll", "--feed", "abc"),
            "Error: Invalid value for '--feed': 'abc' is not a valid integer",
            "tribe poll",
        ),
        (("member", "add", "x@example.com"), "Error: Missing option '--name'", "tribe member add"),
        (("no-such-command",), "Error: No such command 'no-such-command'", "tribe"),
        (("--bogus",), "Error: No such option", "tribe"),
    ],
)
def test_a_misused_command_line_is_one_line_too(
    args: tuple[str, ...], start: str, help_of: str
) -> None:
    """click words the reason; tribe makes it one line that names the help to read."""
    result = tribe(*args)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(start)
    assert line.endswith(f"(see `{help_of} --help`)")


def test_adding_twice_is_refused_and_keeps_what_is_stored(server: FeedServer) -> None:
    setup_tribe()
    assert fails("member", "add", "ALICE@example.com", "--name", "Other") == (
        "Error: a member with the email alice@example.com already exists"
    )
    assert fails("tribe", "add-member", "garden-writers", "bob@example.com") == (
        "Error: bob@example.com is already a member of garden-writers"
    )
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    ok("feed", "add", "alice@example.com", server.url("/alice.xml"))
    assert fails("feed", "add", "alice@example.com", server.url("/alice.xml")).startswith(
        "Error: you already have this feed (#1)"
    )


def test_a_url_that_is_not_a_feed_is_refused_and_not_stored(server: FeedServer) -> None:
    setup_tribe()
    server.routes["/"] = status(
        200,
        {"Content-Type": "text/html"},
        b'<html><head><link rel="alternate" type="application/atom+xml" href="/atom.xml"></head></html>',
    )
    server.routes["/missing.xml"] = status(404)
    assert fails("feed", "add", "alice@example.com", server.url("/")) == (
        f"Error: this is a web page, not a feed; its feed is at {server.url('/atom.xml')}"
    )
    assert "HTTP 404" in fails("feed", "add", "alice@example.com", server.url("/missing.xml"))
    assert json.loads(ok("feed", "list", "--json")) == []


def test_tribe_slugs_are_unique() -> None:
    setup_tribe()
    assert ok("tribe", "create", "Garden Writers!", "--chief", "bob@example.com") == (
        "garden-writers-2\n"
    )
    assert ok("tribe", "create", "Écrivains & Co", "--chief", "bob@example.com") == (
        "ecrivains-co\n"
    )


def test_health_fails_until_a_sweep_happened() -> None:
    assert fails("health") == "Error: no feed sweep in the last 60 seconds"
    from tribe.infra.db import session_scope
    from tribe.infra.health import SWEEP_HEARTBEAT, beat

    with session_scope() as s:
        beat(s, SWEEP_HEARTBEAT)
    assert ok("health") == "ok\n"


@pytest.mark.parametrize("process", ["worker", "beat"])
def test_worker_and_beat_become_the_processes_tribe_run_starts(
    process: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from config import get_settings
    from workers.run import commands

    became: list[list[str]] = []
    arenas: list[str] = []

    def execve(path: str, args: list[str], env: dict[str, str]) -> None:
        became.append([path, *args])
        arenas.append(env["MALLOC_ARENA_MAX"])

    monkeypatch.setattr(os, "execve", execve)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    ok(process)
    command = commands(get_settings())[process]
    assert became == [[command[0], *command]]
    assert arenas == ["2"]


def test_tribe_run_gives_its_processes_two_malloc_arenas_unless_told_otherwise() -> None:
    from workers.run import child_environment

    assert child_environment({"PATH": "/bin"}) == {"PATH": "/bin", "MALLOC_ARENA_MAX": "2"}
    assert child_environment({"MALLOC_ARENA_MAX": "8"})["MALLOC_ARENA_MAX"] == "8"


def test_poll_all_in_two_processes_polls_every_feed_once(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from config import get_settings
    from tribe.ingest import sweep

    monkeypatch.setenv("TRIBE_POLL_BATCH", "2")  # eight feeds: two batches per process
    get_settings.cache_clear()
    spawned: list[int] = []
    in_processes = sweep.sweep_in_processes

    def spy(processes: int, **kwargs: Any) -> sweep.SweepSummary:
        spawned.append(processes)
        return in_processes(processes, **kwargs)

    monkeypatch.setattr(sweep, "sweep_in_processes", spy)
    setup_tribe()
    names = [f"blog{n}" for n in range(8)]
    for name in names:
        server.routes[f"/{name}.xml"] = Served(rss(posts(2, prefix=name)))
        ok("feed", "add", "alice@example.com", server.url(f"/{name}.xml"))
    before = {name: server.hits(f"/{name}.xml") for name in names}
    out = ok("poll", "--all", "--processes", "2")
    assert "polled 8: 8 not modified, 0 new posts (0 announced), 0 errors" in out
    assert all(server.hits(f"/{n}.xml") == before[n] + 1 for n in names)
    assert spawned == [2]
