"""`tribe subscribers SLUG`: the letter's subscribers by state for the operator, and
their addresses only when asked for."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests import builders as b
from tests.cli import fails, ok
from tribe.core.kinds import SubscriberState
from tribe.infra.db import session_scope
from tribe.infra.models import LetterPlan, Subscriber

pytestmark = pytest.mark.usefixtures("db")

CONFIRMED_AT = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
ASIDE_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def readers(db: None) -> None:
    """Garden Writers: two confirmed, one pending, one set aside; Cooks: one confirmed."""
    with session_scope() as s:
        alice, carol = b.member(s, "Alice"), b.member(s, "Carol")
        writers = b.tribe(s, "Garden Writers", alice)
        cooks = b.tribe(s, "Cooks", carol)
        writers.is_public = True
        s.add(LetterPlan(tribe_id=b.pk(writers), enabled=True))
        confirmed = SubscriberState.CONFIRMED
        s.add_all(
            [
                Subscriber(
                    tribe_id=b.pk(writers),
                    email="ann@example.net",
                    state=confirmed,
                    confirmed_at=CONFIRMED_AT,
                ),
                Subscriber(
                    tribe_id=b.pk(writers),
                    email="ben@example.net",
                    state=confirmed,
                    confirmed_at=CONFIRMED_AT,
                ),
                Subscriber(tribe_id=b.pk(writers), email="cat@example.net"),
                Subscriber(
                    tribe_id=b.pk(writers),
                    email="dan@example.net",
                    state=SubscriberState.SET_ASIDE,
                    refusals=3,
                    reason="550 no such user",
                    unsubscribed_at=ASIDE_AT,
                ),
                Subscriber(tribe_id=b.pk(cooks), email="eve@example.net", state=confirmed),
            ]
        )


def test_counts_by_state_and_no_address() -> None:
    out = ok("subscribers", "garden-writers")
    assert out.splitlines() == [
        "Subscribers to the letter of Garden Writers (garden-writers):",
        "  pending       1",
        "  confirmed     2",
        "  unsubscribed  0",
        "  set aside     1",
    ]
    assert "@" not in out


def test_addresses_only_when_asked_for() -> None:
    out = ok("subscribers", "garden-writers", "--show-addresses")
    lines = out.splitlines()
    assert lines[6].split() == ["EMAIL", "STATE", "SINCE", "REFUSALS", "REASON"]
    assert lines[7].split() == ["ann@example.net", "confirmed", "2026-11-02", "08:30", "0"]
    assert lines[10].split() == [
        "dan@example.net",
        "set_aside",
        "2026-11-20",
        "09:00",
        "3",
        "550",
        "no",
        "such",
        "user",
    ]
    assert "eve@example.net" not in out  # another tribe's


def test_json() -> None:
    found = json.loads(ok("subscribers", "garden-writers", "--json"))
    assert found == {
        "tribe": "garden-writers",
        "counts": {"pending": 1, "confirmed": 2, "unsubscribed": 0, "set_aside": 1},
    }
    found = json.loads(ok("subscribers", "Garden-Writers", "--json", "--show-addresses"))
    assert [s["email"] for s in found["subscribers"]] == [
        "ann@example.net",
        "ben@example.net",
        "cat@example.net",
        "dan@example.net",
    ]
    assert found["subscribers"][3] == {
        "email": "dan@example.net",
        "state": "set_aside",
        "since": "2026-11-20T09:00:00+00:00",
        "refusals": 3,
        "reason": "550 no such user",
    }


def test_another_tribe_s_subscribers_and_an_unknown_slug() -> None:
    out = ok("subscribers", "cooks", "--show-addresses")
    assert "confirmed     1" in out
    assert "eve@example.net" in out
    assert (
        fails("subscribers", "nobody-has-this") == "Error: no tribe with the slug 'nobody-has-this'"
    )
