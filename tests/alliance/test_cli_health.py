"""`tribe tribe health SLUG` and `tribe nudge SLUG EMAIL`: the chief's panel for the
operator; `tribe health` stays the container health check."""

from __future__ import annotations

import json

import pytest
from sqlmodel import col, select

from tests.alliance.herd import account, feed_of, person, tribe_of
from tests.cli import fails, ok
from tribe.infra.db import session_scope
from tribe.infra.models import Mail, Member

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture(autouse=True)
def writers(db: None) -> None:
    """Alice leads Writers; Bob has no account; Carol's feed keeps failing; Dave, in
    Writers too, turned nudges off; Erin is in another tribe."""
    with session_scope() as s:
        alice, bob, carol, dave, erin = (
            person(s, n) for n in ("Alice", "Bob", "Carol", "Dave", "Erin")
        )
        tribe_of(s, "Writers", alice, bob, carol, dave)
        tribe_of(s, "Cooks", erin)
        for who in (alice, carol, dave):
            account(s, who)
        feed_of(s, carol, error_count=5, error_message="HTTP 500 from the server")
        dave.nudges = False


def mails() -> list[Mail]:
    with session_scope() as s:
        return list(s.exec(select(Mail).order_by(col(Mail.id))).all())


def test_the_panel_as_text_names_each_finding_by_email() -> None:
    out = ok("tribe", "health", "writers")
    assert out.startswith("Writers (writers): 4 active members, checked ")
    assert "none from any member in" in out  # nobody ever posted
    lines = out.splitlines()
    assert "  bob@example.com  Bob" in lines  # under "No active account:"
    (failing,) = [line for line in lines if "carol@example.com" in line]
    assert "failed 5 polls in a row: HTTP 500 from the server" in failing
    quiet = lines.index("Quiet members (no decision in 14 days):")
    assert lines[quiet + 1] == "  none"


def test_the_panel_as_json() -> None:
    panel = json.loads(ok("tribe", "health", "writers", "--json"))
    assert panel["slug"] == "writers"
    assert panel["healthy"] is False
    assert panel["rules"]["quiet_days"] == 14
    assert [w["email"] for w in panel["no_account"]] == ["bob@example.com"]
    (feed,) = panel["failing_feeds"]
    assert (feed["who"]["email"], feed["errors"], feed["error"]) == (
        "carol@example.com",
        5,
        "HTTP 500 from the server",
    )
    assert panel["silence"]["last_post_at"] is None
    assert panel["silence"]["days"] >= 30
    assert panel["quiet"] == []
    assert panel["imbalance"] == []


def test_an_unknown_tribe_is_one_line_and_a_failure() -> None:
    assert fails("tribe", "health", "nowhere") == "Error: no tribe with the slug 'nowhere'"


def test_a_nudge_goes_from_the_chief_with_the_panels_words_or_the_operators() -> None:
    out = ok("nudge", "writers", "bob@example.com")
    assert "nudge from alice@example.com to bob@example.com queued" in out
    ok("nudge", "writers", "carol@example.com", "--message", "Hi Carol, your feed needs love")
    bobs, carols = mails()
    assert bobs.to == "bob@example.com"
    assert bobs.headers["Reply-To"] == "alice@example.com"
    assert bobs.text.startswith("Hi Bob,")
    assert "no social account connected" in bobs.text  # what the panel saw
    assert carols.text.startswith("Hi Carol, your feed needs love\n")
    with session_scope() as s:
        bob = s.exec(select(Member).where(Member.email == "bob@example.com")).one()
        assert bob.nudged_at is not None


def test_a_nudge_refused_says_why_and_exits_non_zero() -> None:
    ok("nudge", "writers", "bob@example.com")
    assert "at most once a week" in fails("nudge", "writers", "bob@example.com")
    assert "Dave turned nudges off" in fails("nudge", "writers", "dave@example.com")
    assert "erin@example.com is not a member of writers" in fails(
        "nudge", "writers", "erin@example.com"
    )
    assert "cannot nudge yourself" in fails("nudge", "writers", "alice@example.com")
    assert "no member" in fails("nudge", "writers", "nobody@example.com")
    assert "no tribe" in fails("nudge", "nowhere", "bob@example.com")
    assert "the message is empty" in fails(
        "nudge", "writers", "carol@example.com", "--message", " "
    )
    assert len(mails()) == 1


def test_tribe_health_is_still_the_container_health_check() -> None:
    out = ok("health", "--help")
    assert "--within" in out
    assert "swept the feeds recently" in out
    assert "The chief's health panel of a tribe" in ok("tribe", "health", "--help")
