"""`tribe letter`: the operator turns a tribe's letter on, reads its editions and sends
the current one now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from tests import builders as b
from tests.alliance import reshares as r
from tests.cli import fails, ok
from tribe.core.kinds import EditionState, IfUnsent, LetterCadence
from tribe.infra.db import session_scope
from tribe.infra.models import Edition, LetterPlan, Mail, Membership, Tribe

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture(autouse=True)
def garden(db: None) -> None:
    """Alice (chief, Paris) and Bob in Garden Writers; a post of Alice's reached Bob."""
    now = datetime.now(UTC)
    with session_scope() as s:
        alice, bob = b.member(s, "Alice", "Europe/Paris"), b.member(s, "Bob")
        r.tribe(s, "Garden Writers", alice, bob, since=now - timedelta(days=30))
        post = r.post(s, b.feed(s, alice, "https://alice.blog/feed"), "Tomatoes", at=now)
        r.item(s, post, bob, at=now)


def plan() -> LetterPlan:
    with session_scope() as s:
        return s.exec(select(LetterPlan)).one()


def test_enable_weekly_with_editors_in_the_order_given() -> None:
    said = ok(
        "letter", "enable", "garden-writers", "--weekly", "fri", "--hour", "9:00",
        "--editors", "bob@example.com, alice@example.com", "--if-unsent", "skip",
    )  # fmt: skip
    assert "weekly on Friday at 09:00 (Europe/Paris)" in said
    assert "editors in turn: Bob, Alice" in said
    assert "it is skipped" in said
    found = plan()
    assert (found.cadence, found.day, found.hour, found.if_unsent) == (
        LetterCadence.WEEKLY, 4, "09:00", IfUnsent.SKIP,
    )  # fmt: skip
    with session_scope() as s:
        editors = s.exec(select(Membership).where(col(Membership.letter_editor))).all()
        assert len(editors) == 2


def test_enable_monthly_in_another_zone() -> None:
    said = ok("letter", "enable", "garden-writers", "--monthly", "15", "--hour", "18:30",
              "--zone", "America/Chicago")  # fmt: skip
    assert "monthly on day 15 at 18:30 (America/Chicago)" in said
    with session_scope() as s:
        assert s.exec(select(Tribe)).one().timezone == "America/Chicago"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--hour", "09:00"], "one of --weekly DAY or --monthly"),
        (["--weekly", "fri", "--monthly", "2", "--hour", "09:00"], "one of --weekly"),
        (["--monthly", "31", "--hour", "09:00"], "1 to 28"),
        (["--weekly", "someday", "--hour", "09:00"], "day of the week"),
        (["--weekly", "fri", "--hour", "9h"], "HH:MM"),
        (["--weekly", "fri", "--hour", "09:00", "--editors", "nobody@example.com"], "nobody"),
        (["--weekly", "fri", "--hour", "09:00", "--zone", "Mars/Base"], "time zone"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(args: list[str], words: str) -> None:
    assert words in fails("letter", "enable", "garden-writers", *args)
    with session_scope() as s:
        assert s.exec(select(LetterPlan)).first() is None


def test_status_and_send_now() -> None:
    assert "no letter" in ok("letter", "status", "garden-writers")
    assert "no letter" in fails("letter", "send", "garden-writers")
    ok("letter", "enable", "garden-writers", "--weekly", "fri", "--hour", "09:00")
    said = ok("letter", "send", "garden-writers")
    assert "letter #1 queued for 2 recipients" in said
    table = ok("letter", "status", "garden-writers")
    assert "the letter is on, weekly on Friday at 09:00 (Europe/Paris)" in table
    assert "sent" in table
    rows = json.loads(ok("letter", "status", "garden-writers", "--json"))
    assert [(row["number"], row["state"], row["recipients"]) for row in rows] == [(1, "sent", 2)]
    with session_scope() as s:
        assert s.exec(select(Edition)).one().state == EditionState.SENT
        keys = sorted(s.exec(select(col(Mail.key)).where(col(Mail.kind) == "letter")).all())
        assert len(keys) == 2
    # Nothing came in since: the next edition has nothing to say, and says so.
    assert "nothing to say" in fails("letter", "send", "garden-writers")


def test_disable_keeps_the_editions() -> None:
    ok("letter", "enable", "garden-writers", "--weekly", "fri", "--hour", "09:00")
    ok("letter", "send", "garden-writers")
    assert "the letter is off" in ok("letter", "disable", "garden-writers")
    assert "the letter is off" in ok("letter", "status", "garden-writers")
    assert not plan().enabled
    with session_scope() as s:
        assert len(s.exec(select(Edition)).all()) == 1


def test_an_unknown_tribe_is_named() -> None:
    for command in (["status"], ["send"], ["disable"]):
        assert "no tribe with the slug 'nope'" in fails("letter", *command, "nope")
