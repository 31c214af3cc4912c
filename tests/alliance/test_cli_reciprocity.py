"""`tribe reciprocity SLUG [--days N] [--json]`: the operator's table of who shares whom,
members by email; an unknown slug or a bad window is one line and a non-zero exit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests import builders as b
from tests.alliance import reshares as r
from tests.cli import fails, tribe
from tribe.core.kinds import Network, StreamState
from tribe.infra.db import session_scope
from tribe.members import tribes

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture
def garden() -> str:
    """Bob shared two of Alice's posts (one 20 days ago) and skipped one; Carol shared
    one of Bob's in a dry run, and left the tribe since."""
    now = datetime.now(UTC)
    with session_scope() as s:
        alice, bob, carol = (b.member(s, name) for name in ("Alice", "Bob", "Carol"))
        garden = r.tribe(s, "Garden", alice, bob, carol, since=now - timedelta(days=60))
        alice_blog = b.feed(s, alice, "https://alice.blog/feed")
        bob_blog = b.feed(s, bob, "https://bob.blog/feed")
        bob_m = r.account(s, bob, Network.MASTODON)
        r.account(s, alice, Network.BLUESKY)  # never read: the tribe's reach is incomplete
        r.followers(s, bob_m, (now - timedelta(days=40)).date(), 1200)
        for n, back in enumerate((timedelta(hours=2), timedelta(days=20))):
            post = r.post(s, alice_blog, f"Alice {n}", at=now - back - timedelta(hours=1))
            r.reshare(s, bob_m, post, at=now - back)
        skipped = r.post(s, alice_blog, "Alice skipped", at=now - timedelta(days=2))
        r.item(s, skipped, bob, StreamState.SKIPPED, at=now - timedelta(days=1))
        bobs = r.post(s, bob_blog, "Bob 1", at=now - timedelta(days=3))
        r.reshare(s, r.account(s, carol, Network.X), bobs, at=now - timedelta(days=2), dry_run=True)
        tribes.leave(s, member=carol, slug=garden.slug)
        return garden.slug


def test_the_table_has_a_row_per_pair_with_every_number_by_email(garden: str) -> None:
    result = tribe("reciprocity", garden)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "SHARER",
        "AUTHOR",
        "SENT",
        "PENDING",
        "SKIPPED",
        "EXPIRED",
        "REACH",
        "REACH_UNKNOWN",
        "DRY_RUN",
    ]
    assert [line.split() for line in lines[1:]] == [
        ["bob@example.com", "alice@example.com", "2", "0", "1", "0", "2400", "0", "0"],
        ["carol@example.com", "(left)", "bob@example.com", "0", "0", "0", "0", "0", "0", "1"],
    ]
    assert result.stderr.splitlines() == [
        "garden, last 30 days: 2 sent, reaching 2,400 followers, 1 dry run (logged, not posted)",
        "tribe reach now: 1,200 followers across 2 accounts, 1 account unknown",
    ]


def test_json_gives_the_same_rows_with_plain_emails(garden: str) -> None:
    rows = json.loads(tribe("reciprocity", garden, "--json").stdout)
    assert rows == [
        {
            "sharer": "bob@example.com",
            "author": "alice@example.com",
            "sent": 2,
            "pending": 0,
            "skipped": 1,
            "expired": 0,
            "reach": 2400,
            "reach_unknown": 0,
            "dry_run": 0,
            "sharer_left": False,
            "author_left": False,
        },
        {
            "sharer": "carol@example.com",
            "author": "bob@example.com",
            "sent": 0,
            "pending": 0,
            "skipped": 0,
            "expired": 0,
            "reach": 0,
            "reach_unknown": 0,
            "dry_run": 1,
            "sharer_left": True,
            "author_left": False,
        },
    ]


def test_days_narrows_the_window(garden: str) -> None:
    (row, _) = json.loads(tribe("reciprocity", garden, "--days", "7", "--json").stdout)
    assert (row["sent"], row["reach"]) == (1, 1200)
    assert json.loads(tribe("reciprocity", garden, "--days", "1", "--json").stdout) == [
        {**row, "skipped": 0},
    ]


def test_a_quiet_tribe_says_so() -> None:
    with session_scope() as s:
        slug = b.tribe(s, "Quiet", b.member(s, "Alice"), b.member(s, "Bob")).slug
    result = tribe("reciprocity", slug)
    assert result.exit_code == 0
    assert result.stdout == "no reshares and no decisions in quiet in the last 30 days\n"
    assert json.loads(tribe("reciprocity", slug, "--json").stdout) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["no-such-tribe"], "no tribe with the slug 'no-such-tribe'"),
        (["garden", "--days", "0"], "days must be a whole number from 1 to 365 (not 0)"),
        (["garden", "--days", "400"], "days must be a whole number from 1 to 365 (not 400)"),
        (["garden", "--days", "soon"], "'soon' is not a valid integer"),
        ([], "Missing argument 'SLUG'"),
    ],
)
def test_an_unknown_tribe_or_a_bad_window_is_one_line_and_a_failure(
    garden: str, args: list[str], says: str
) -> None:
    message = fails("reciprocity", *args)
    assert says in message
    assert len(message.splitlines()) == 1
