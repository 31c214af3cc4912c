"""The health panel's rules, each on its own and at its edges, the time injected."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

import pytest
from sqlmodel import Session

from tests import builders as b
from tests.alliance.herd import (
    NOW,
    account,
    days_ago,
    decided,
    feed_of,
    item,
    joined,
    left,
    person,
    post,
    reshare,
    tribe_of,
)
from tribe.alliance.health import (
    Who,
    active_members,
    failing_feeds,
    imbalanced_members,
    is_imbalanced,
    members_without_account,
    panel_tribe,
    quiet_members,
    tribe_health,
    tribe_silence,
)
from tribe.core.errors import NotFoundError
from tribe.core.kinds import Connection, FeedStatus, StreamState
from tribe.infra.db import session_scope
from tribe.infra.models import Tribe

pytestmark = pytest.mark.usefixtures("db")


class Flagged(Protocol):
    @property
    def who(self) -> Who: ...


def names(rows: Sequence[Who]) -> list[str]:
    return [who.name for who in rows]


def who_names(rows: Sequence[Flagged]) -> list[str]:
    return [row.who.name for row in rows]


def quiet_names(s: Session, tribe: Tribe) -> list[str]:
    return who_names(quiet_members(s, active_members(s, tribe), now=NOW))


# Quiet members


def test_a_member_silent_for_14_days_while_posts_reached_them_is_quiet() -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe = tribe_of(s, "Writers", alice, bob)
        feed = feed_of(s, alice)
        decided(s, bob, feed, days_ago(20))
        item(s, bob, feed, arrived=days_ago(10))
        item(s, bob, feed, arrived=days_ago(3), state=StreamState.EXPIRED, decided=days_ago(1))
        (quiet,) = quiet_members(s, active_members(s, tribe), now=NOW)
        assert quiet.who.name == "Bob"
        assert quiet.last_decision == days_ago(20)
        assert quiet.days == 20
        assert quiet.waiting == 2  # an expired item was waiting for them too


def test_the_silence_must_last_14_days() -> None:
    with session_scope() as s:
        alice, bob, carol = person(s, "Alice"), person(s, "Bob"), person(s, "Carol")
        tribe = tribe_of(s, "Writers", alice, bob, carol)
        feed = feed_of(s, alice)
        decided(s, bob, feed, NOW - timedelta(days=14))  # exactly 14 days: quiet
        decided(s, carol, feed, NOW - timedelta(days=14) + timedelta(minutes=1))
        for who in (bob, carol):
            item(s, who, feed, arrived=days_ago(2))
        assert quiet_names(s, tribe) == ["Bob"]


def test_a_skip_is_a_decision_but_an_automatic_approval_or_an_expiry_is_not() -> None:
    with session_scope() as s:
        alice, bob, carol, dave = (person(s, n) for n in ("Alice", "Bob", "Carol", "Dave"))
        tribe = tribe_of(s, "Writers", alice, bob, carol, dave)
        feed = feed_of(s, alice)
        for who in (bob, carol, dave):
            decided(s, who, feed, days_ago(30))
            item(s, who, feed, arrived=days_ago(5))
        item(s, bob, feed, arrived=days_ago(4), state=StreamState.SKIPPED, decided=days_ago(3))
        decided(s, carol, feed, days_ago(2), auto=True)
        item(s, dave, feed, arrived=days_ago(9), state=StreamState.EXPIRED, decided=days_ago(4))
        assert quiet_names(s, tribe) == ["Carol", "Dave"]


def test_nobody_is_quiet_when_nothing_reached_them_to_decide() -> None:
    with session_scope() as s:
        alice, bob, carol = person(s, "Alice"), person(s, "Bob"), person(s, "Carol")
        tribe = tribe_of(s, "Writers", alice, bob, carol)
        feed = feed_of(s, alice)
        decided(s, bob, feed, days_ago(40))  # a silent tribe: nothing came since
        decided(s, carol, feed, days_ago(40))
        # What was approved for Carol automatically, or withdrawn, was not hers to decide.
        decided(s, carol, feed, days_ago(3), auto=True)
        item(s, carol, feed, arrived=days_ago(6), state=StreamState.WITHDRAWN,
             decided=days_ago(5))  # fmt: skip
        assert quiet_names(s, tribe) == []


def test_a_newcomer_is_judged_from_the_day_they_joined() -> None:
    with session_scope() as s:
        alice, bob, carol = person(s, "Alice"), person(s, "Bob"), person(s, "Carol")
        tribe = tribe_of(s, "Writers", alice, bob, carol)
        feed = feed_of(s, alice)
        joined(s, tribe, bob, days_ago(10))  # less than 14 days ago: never flagged
        joined(s, tribe, carol, days_ago(20))
        for who in (bob, carol):
            item(s, who, feed, arrived=days_ago(8))
        (quiet,) = quiet_members(s, active_members(s, tribe), now=NOW)
        assert quiet.who.name == "Carol"
        assert quiet.last_decision is None
        assert quiet.quiet_since == days_ago(20)
        assert quiet.days == 20


def test_only_what_came_during_the_silence_counts_as_waiting() -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe = tribe_of(s, "Writers", alice, bob)
        feed = feed_of(s, alice)
        item(s, bob, feed, arrived=days_ago(30), state=StreamState.EXPIRED, decided=days_ago(25))
        decided(s, bob, feed, days_ago(20))
        assert quiet_names(s, tribe) == []  # the item before their last decision: not waiting
        item(s, bob, feed, arrived=days_ago(1))
        assert quiet_names(s, tribe) == ["Bob"]


def test_a_member_who_left_is_not_judged() -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe = tribe_of(s, "Writers", alice, bob)
        feed = feed_of(s, alice)
        item(s, bob, feed, arrived=days_ago(3))
        assert quiet_names(s, tribe) == ["Bob"]
        left(s, tribe, bob)
        assert quiet_names(s, tribe) == []


# Failing feeds


def test_a_feed_is_failing_when_gone_or_after_three_failed_polls_in_a_row() -> None:
    with session_scope() as s:
        alice, bob, carol, dave = (person(s, n) for n in ("Alice", "Bob", "Carol", "Dave"))
        tribe = tribe_of(s, "Writers", alice, bob, carol, dave)
        feed_of(s, alice, error_count=2, error_message="HTTP 503 from the server")
        bobs = feed_of(s, bob, error_count=3, error_message="HTTP 500 from the server",
                       last_success_at=days_ago(2))  # fmt: skip
        carols = feed_of(s, carol, status=FeedStatus.GONE, error_count=1,
                         error_message="the server says this feed is gone (HTTP 410)")  # fmt: skip
        feed_of(s, dave, error_count=9, error_message="removed", removed_at=days_ago(1))
        found = failing_feeds(s, active_members(s, tribe))
        assert [(f.who.name, f.feed_id) for f in found] == [("Bob", b.pk(bobs)),
                                                            ("Carol", b.pk(carols))]  # fmt: skip
        bob_feed, carol_feed = found
        assert bob_feed.error == "HTTP 500 from the server"  # the feed's own words
        assert (bob_feed.gone, bob_feed.errors, bob_feed.last_success_at) == (False, 3, days_ago(2))
        assert carol_feed.gone
        assert carol_feed.error == "the server says this feed is gone (HTTP 410)"
        left(s, tribe, bob)
        assert who_names(failing_feeds(s, active_members(s, tribe))) == ["Carol"]


def test_the_chief_sees_a_private_feeds_address_without_its_key() -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe = tribe_of(s, "Writers", alice, bob)
        b.feed(s, bob, "https://bob:hunter2@bob.blog:8443/private.xml?auth=SECRET#top",
               error_count=3, error_message="HTTP 500 from the server")  # fmt: skip
        (found,) = failing_feeds(s, active_members(s, tribe))
        assert found.url == "https://bob.blog:8443/private.xml"
        findings = " ".join(tribe_health(s, tribe, now=NOW).findings(b.pk(bob)))
        assert "https://bob.blog:8443/private.xml" in findings
        assert "SECRET" not in findings
        assert "hunter2" not in findings


# No active account


def test_a_member_needs_an_account_connected_and_switched_on() -> None:
    with session_scope() as s:
        people = [person(s, n) for n in ("Alice", "Bob", "Carol", "Dave", "Erin")]
        alice, bob, carol, dave, erin = people
        tribe = tribe_of(s, "Writers", *people)
        account(s, alice)
        account(s, bob, connection=Connection.UNCONNECTED)
        account(s, carol, connection=Connection.NEEDS_RECONNECT)
        account(s, dave, active=False)
        account(s, erin, active=False)
        account(s, erin)  # one of two is enough
        assert names(members_without_account(s, active_members(s, tribe))) == [
            "Bob",
            "Carol",
            "Dave",
        ]


# Receives far more than gives


@pytest.mark.parametrize(
    ("received", "gave", "flagged"),
    [(5, 0, True), (5, 1, True), (4, 0, False), (6, 2, True), (5, 2, False), (0, 0, False)],
)
def test_far_more_received_than_given(received: int, gave: int, flagged: bool) -> None:
    assert is_imbalanced(received=received, gave=gave) is flagged


def test_reshares_given_and_received_over_90_days() -> None:
    with session_scope() as s:
        alice, bob, carol = person(s, "Alice"), person(s, "Bob"), person(s, "Carol")
        tribe = tribe_of(s, "Writers", alice, bob, carol)
        alices, bobs = feed_of(s, alice), feed_of(s, bob)
        by_alice, by_bob, by_carol = account(s, alice), account(s, bob), account(s, carol)
        for n in range(4):
            reshare(s, by_bob, alices, sent=days_ago(10 + n))
        reshare(s, by_carol, alices, sent=days_ago(80))
        reshare(s, by_carol, alices, sent=days_ago(95))  # outside the window
        reshare(s, by_carol, alices, sent=days_ago(5), dry_run=True)  # never posted
        reshare(s, by_alice, bobs, sent=days_ago(7))
        reshare(s, by_alice, bobs, sent=days_ago(8))
        members = active_members(s, tribe)
        assert imbalanced_members(s, tribe, members, now=NOW) == []  # 5 received, 2 given...
        reshare(s, by_bob, alices, sent=days_ago(1))  # ...6 received, 2 given: flagged
        (found,) = imbalanced_members(s, tribe, members, now=NOW)
        assert (found.who.name, found.received, found.gave) == ("Alice", 6, 2)
        assert found.words == "received 6, gave 2"


# A silent tribe


def test_a_tribe_is_silent_after_30_days_without_a_new_post() -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe = tribe_of(s, "Writers", alice, bob, since=days_ago(100))
        members = active_members(s, tribe)
        silence = tribe_silence(s, tribe, members, now=NOW)
        assert silence is not None
        assert (silence.last_post_at, silence.days) == (None, 100)
        post(s, feed_of(s, bob), found=days_ago(30))
        silence = tribe_silence(s, tribe, members, now=NOW)
        assert silence is not None
        assert (silence.last_post_at, silence.days) == (days_ago(30), 30)
        post(s, feed_of(s, alice), found=days_ago(29))
        assert tribe_silence(s, tribe, members, now=NOW) is None


def test_a_young_tribe_and_posts_of_members_who_left() -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        young = tribe_of(s, "Young", alice, since=days_ago(10))
        assert tribe_silence(s, young, active_members(s, young), now=NOW) is None
        tribe = tribe_of(s, "Writers", alice, bob, since=days_ago(100))
        post(s, feed_of(s, bob), found=days_ago(2))
        assert tribe_silence(s, tribe, active_members(s, tribe), now=NOW) is None
        left(s, tribe, bob)  # their posts are no longer the tribe's
        silence = tribe_silence(s, tribe, active_members(s, tribe), now=NOW)
        assert silence is not None
        assert silence.days == 100


def test_a_post_found_after_the_moment_asked_about_does_not_count() -> None:
    with session_scope() as s:
        alice = person(s, "Alice")
        tribe = tribe_of(s, "Writers", alice, since=days_ago(100))
        post(s, feed_of(s, alice), found=NOW + timedelta(days=1))
        assert tribe_silence(s, tribe, active_members(s, tribe), now=NOW) is not None


# The whole panel


def test_the_panel_gathers_every_rule_and_names_what_it_saw() -> None:
    with session_scope() as s:
        alice, bob, carol = person(s, "Alice"), person(s, "Bob"), person(s, "Carol")
        tribe = tribe_of(s, "Writers", alice, bob, carol)
        alices = feed_of(s, alice)
        feed_of(s, carol, error_count=4, error_message="HTTP 404 from the server")
        post(s, alices, found=days_ago(3))
        account(s, alice)
        account(s, carol)
        decided(s, bob, alices, days_ago(16))
        item(s, bob, alices, arrived=days_ago(2))
        health = tribe_health(s, tribe, now=NOW)
        assert (health.slug, health.name, health.now) == ("writers", "Writers", NOW)
        assert names(health.members) == ["Alice", "Bob", "Carol"]
        assert names(health.flagged) == ["Bob", "Carol"]
        assert health.silence is None
        assert not health.healthy
        assert health.findings(b.pk(bob)) == [
            "no decision in 16 days (1 post reached their stream since)",
            "no active social account",
        ]
        (carols,) = health.findings(b.pk(carol))
        assert "HTTP 404 from the server" in carols
        assert health.findings(b.pk(alice)) == []


def test_a_healthy_tribe_flags_nobody() -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe = tribe_of(s, "Writers", alice, bob)
        post(s, feed_of(s, alice), found=days_ago(1))
        account(s, alice)
        account(s, bob)
        assert tribe_health(s, tribe, now=NOW).healthy


# Who sees the panel


def test_only_the_chief_has_the_panel() -> None:
    with session_scope() as s:
        alice, bob, olga = person(s, "Alice"), person(s, "Bob"), person(s, "Olga")
        olga.is_operator = True
        tribe_of(s, "Writers", alice, bob)
        assert panel_tribe(s, member=alice, slug="writers").name == "Writers"
        for who in (bob, olga):
            with pytest.raises(NotFoundError, match="only its chief"):
                panel_tribe(s, member=who, slug="writers")
        with pytest.raises(NotFoundError):
            panel_tribe(s, member=alice, slug="nowhere")
