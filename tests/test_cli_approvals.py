"""The approval, account, template, schedule and queue commands."""

import json

import pytest

from tests.builders import Item, ago, posts, rss
from tests.cli import fails, ok
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture
def item(server: FeedServer) -> int:
    """alice's fresh post waiting in bob's stream; bob has an X and a Mastodon account."""
    ok("member", "add", "alice@example.com", "--name", "Alice")
    ok("member", "add", "bob@example.com", "--name", "Bob", "--timezone", "America/Chicago")
    ok("tribe", "create", "Garden", "--chief", "alice@example.com")
    ok("tribe", "add-member", "garden", "bob@example.com")
    server.routes["/a.xml"] = Served(
        rss(
            [
                Item(
                    "FRESH TOMATOES TODAY",
                    guid="t",
                    link="https://alice.blog/t",
                    published=ago(hours=1),
                ),
                *posts(2),
            ]
        )
    )
    ok("feed", "add", "alice@example.com", server.url("/a.xml"))
    assert ok("account", "add", "bob@example.com", "x", "@bob") == "added x account @bob (#1)\n"
    ok("account", "add", "bob@example.com", "mastodon", "@bob@mastodon.social")
    (entry,) = json.loads(ok("stream", "bob@example.com", "--json"))
    return int(entry["item_id"])


def test_approve_with_own_text_and_see_the_queue(item: int) -> None:
    out = ok("approve", "bob@example.com", str(item), "--text", "mastodon=Look at these!")
    assert out.startswith(f"approved #{item}\n")
    assert "queued #1 on x @bob" in out
    assert "queued #2 on mastodon @bob@mastodon.social" in out
    entries = json.loads(ok("queue", "bob@example.com", "--json"))
    assert [(e["network"], e["text"]) for e in entries] == [
        ("x", "Fresh Tomatoes Today https://alice.blog/t via Alice"),
        ("mastodon", "Look at these! https://alice.blog/t"),
    ]
    assert all(e["state"] == "queued" for e in entries)
    assert all(e["due_local"].endswith(("CST", "CDT")) for e in entries)  # bob's zone
    assert set(entries[0]) >= {"id", "handle", "title", "url", "due_at", "due_local", "reason"}
    assert f"item #{item} was already approved" in ok("approve", "bob@example.com", str(item))
    assert len(json.loads(ok("queue", "bob@example.com", "--json"))) == 2
    assert ok("stream", "bob@example.com") == "nothing waiting in this stream\n"


def test_skip(item: int) -> None:
    assert ok("skip", "bob@example.com", str(item)) == f"skipped #{item}\n"
    assert fails("approve", "bob@example.com", str(item)) == (
        f"Error: stream item #{item} was skipped; it cannot be approved"
    )


def test_schedule_show_and_set(item: int) -> None:
    out = ok(
        "schedule",
        "set",
        "bob@example.com",
        "--slots",
        "mon-fri 09:00,12:30; sat,sun 10:00",
        "--daily-cap",
        "3",
    )
    assert "x @bob: slots mon-fri 09:00,12:30; sat,sun 10:00, at most 3" in out  # as written
    assert "at most 3 a day (America/Chicago)" in out
    out = ok(
        "schedule",
        "set",
        "bob@example.com",
        "--account",
        "2",
        "--every",
        "2h",
        "--between",
        "07:30-22:00",
        "--timezone",
        "Europe/Berlin",
    )
    assert (
        out.strip()
        == "mastodon @bob@mastodon.social: every 120 min between 07:30 and 22:00, at most 3 a day (Europe/Berlin)"
    )
    shown = json.loads(ok("schedule", "show", "bob@example.com", "--json"))
    assert [s["schedule"].split(",")[0] for s in shown] == [
        "slots mon-fri 09:00",
        "every 120 min between 07:30 and 22:00",
    ]


def test_a_gap_reads_as_on_the_schedule_page(item: int) -> None:
    """--every takes what the page's gap field takes: a bare number is minutes."""
    out = ok("schedule", "set", "bob@example.com", "--account", "1", "--every", "90")
    assert out.startswith("x @bob: every 90 min between")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("schedule", "set", "bob@example.com", "--slots", "mon 9am"),
            "Error: '9am' is not a time of day",
        ),
        (
            ("schedule", "set", "bob@example.com", "--slots", "mon 09:00", "--every", "1h"),
            "Error: use either slots or an interval",
        ),
        (
            ("schedule", "set", "bob@example.com", "--every", "often"),
            "Error: 'often' is not a duration",
        ),
        (
            ("schedule", "set", "bob@example.com", "--between", "22:00-06:00"),
            "Error: posting hours '22:00-06:00' must start before they end",
        ),
        (
            ("schedule", "set", "bob@example.com", "--account", "9", "--daily-cap", "2"),
            "Error: bob@example.com has no account #9",
        ),
        (
            ("schedule", "set", "bob@example.com", "--timezone", "Mars/Base"),
            "Error: 'Mars/Base' is not an IANA time zone",
        ),
        (
            ("account", "add", "bob@example.com", "myspace", "bob"),
            "Error: 'myspace' is not a network; use one of x, mastodon, bluesky",
        ),
        (
            ("account", "add", "bob@example.com", "x", "@this_handle_is_far_too_long"),
            "Error: '@this_handle_is_far_too_long' is not an X handle",
        ),
        (
            ("account", "add", "bob@example.com", "x", "bob"),
            "Error: bob@example.com already has the x account @bob",
        ),
        (("approve", "bob@example.com", "99"), "Error: no stream item #99 for bob@example.com"),
        (("approve", "bob@example.com", "1", "--text", "x=" + "a" * 300), "Error: your x text is"),
        (("approve", "bob@example.com", "1", "--text", "x"), "Error: --text takes NETWORK=TEXT"),
        (("approve", "bob@example.com"), "Error: give an ITEM_ID or --all"),
        (
            ("template", "set", "bob@example.com", "x", "{title} only"),
            "Error: the template must contain {url}",
        ),
        (
            ("queue", "move", "bob@example.com", "5", "up"),
            "Error: no delivery #5 in bob@example.com's queue",
        ),
        (("mute", "bob@example.com", "bob@example.com"), "Error: that is you"),
    ],
)
def test_bad_input_is_one_clear_line(item: int, args: tuple[str, ...], message: str) -> None:
    output = fails(*args)
    assert message in output.splitlines()[-1]


def test_templates_queue_moves_and_pause(item: int, server: FeedServer) -> None:
    ok("template", "set", "bob@example.com", "x", "{title} ({author}) {url}")
    assert (
        json.loads(ok("template", "show", "bob@example.com", "--json"))["x"]
        == "{title} ({author}) {url}"
    )
    ok("approve", "bob@example.com", "--all")
    first, second = json.loads(ok("queue", "bob@example.com", "--json"))
    assert first["text"] == "Fresh Tomatoes Today (Alice) https://alice.blog/t"
    assert ok("queue", "pause", "bob@example.com") == "queue paused\n"
    assert json.loads(ok("account", "list", "bob@example.com", "--json"))[0]["paused"] is True
    assert "queue resumed; 0 overdue" in ok("queue", "resume", "bob@example.com")
    assert ok("queue", "pause", "bob@example.com", "--account", "2") == "account #2 paused\n"
    assert [
        a["paused"] for a in json.loads(ok("account", "list", "bob@example.com", "--json"))
    ] == [False, True]
    ok("queue", "resume", "bob@example.com", "--account", "2")
    assert (
        fails("queue", "pause", "bob@example.com", "--account", "9")
        == "Error: bob@example.com has no account #9"
    )
    assert (
        ok("queue", "cancel", "bob@example.com", str(second["id"]))
        == f"cancelled #{second['id']}\n"
    )
    assert [e["id"] for e in json.loads(ok("queue", "bob@example.com", "--json"))] == [first["id"]]
    assert fails("queue", "move", "bob@example.com", str(first["id"]), "down") == (
        f"Error: delivery #{first['id']} is already last"
    )


def test_mute_and_auto_approve_commands(item: int) -> None:
    assert (
        ok("mute", "bob@example.com", "alice@example.com")
        == "alice@example.com muted for bob@example.com\n"
    )
    assert (
        ok("mute", "bob@example.com", "alice@example.com", "--off")
        == "alice@example.com unmuted for bob@example.com\n"
    )
    assert ok("auto-approve", "bob@example.com", "alice@example.com", "--daily-cap", "2") == (
        "auto-approve of alice@example.com for bob@example.com: on, at most 2 a day\n"
    )
