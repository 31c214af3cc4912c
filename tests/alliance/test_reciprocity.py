"""Who shares whom: the counts per ordered pair, the reach given, where a reshare counts
(two tribes; only while both were members: a member who joined late, who left, who
rejoined), what is not a reshare, windows, the trend, and the author's own view. The
clock is fixed (NOW) and every row is stated by the test."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests import builders as b
from tests.alliance import reshares as r
from tribe.alliance.counting import DEFAULT_DAYS, WINDOWS, DaySent, Tally, check_days
from tribe.alliance.reciprocity import (
    TribeReciprocity,
    bucket_days,
    reciprocity_for,
    trend,
    tribe_reciprocity,
)
from tribe.alliance.shared import count_shared_posts, shared_posts, shared_totals
from tribe.core.errors import InvalidInputError, NotFoundError
from tribe.core.kinds import DeliveryState, MembershipStatus, Network, ReshareKind, StreamState
from tribe.infra.db import session_scope
from tribe.infra.models import Feed, Member, Tribe
from tribe.members import tribes
from tribe.members.people import add_to_tribe

pytestmark = pytest.mark.usefixtures("db")

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=1000)


def ago(**kwargs: float) -> datetime:
    return NOW - timedelta(**kwargs)


def make_tribe(s: Session, name: str, chief: Member, *others: Member) -> Tribe:
    """A tribe whose members joined long before anything the tests place."""
    return r.tribe(s, name, chief, *others, since=LONG_AGO)


def numbers(s: Session, tribe: Tribe, days: int = DEFAULT_DAYS) -> TribeReciprocity:
    return tribe_reciprocity(s, tribe, days=days, now=NOW)


def people(s: Session, *names: str) -> tuple[list[Member], list[Feed]]:
    """Members (Paris time) with a blog each."""
    found = [b.member(s, name, "Europe/Paris") for name in names]
    return found, [b.feed(s, m, f"https://{m.display_name.lower()}.blog/feed") for m in found]


def test_each_ordered_pair_counts_sent_pending_skipped_and_expired(db: None) -> None:
    with session_scope() as s:
        (alice, bob, carol), (alice_blog, bob_blog, _) = people(s, "Alice", "Bob", "Carol")
        garden = make_tribe(s, "Garden", alice, bob, carol)
        bob_m, carol_m, alice_m = r.account(s, bob), r.account(s, carol), r.account(s, alice)
        a1, a2, a3, a4, a5, a6 = (
            r.post(s, alice_blog, f"Alice {n}", at=ago(days=10 - n)) for n in range(6)
        )
        for post in (a1, a2):  # Bob approved and shared two of Alice's posts
            r.item(s, post, bob, StreamState.APPROVED, at=ago(days=5))
            r.reshare(s, bob_m, post, at=ago(days=4))
        r.item(s, a3, bob, StreamState.PENDING, at=ago(days=3))
        r.item(s, a4, bob, StreamState.SKIPPED, at=ago(days=3))
        r.item(s, a5, bob, StreamState.EXPIRED, at=ago(days=2))
        r.item(s, a6, bob, StreamState.WITHDRAWN, at=ago(days=2))  # counted nowhere
        # What never went out is not a reshare.
        r.reshare(s, bob_m, a3, at=ago(days=1), state=DeliveryState.QUEUED)
        r.reshare(s, bob_m, a4, at=ago(days=1), state=DeliveryState.FAILED)
        r.reshare(s, carol_m, a1, at=ago(days=3))
        b1 = r.post(s, bob_blog, "Bob 1", at=ago(days=6))
        r.reshare(s, alice_m, b1, at=ago(days=2))

        found = numbers(s, garden)

        ids = {m.display_name: b.pk(m) for m in (alice, bob, carol)}
        bob_to_alice = found.pair(ids["Bob"], ids["Alice"])
        assert (bob_to_alice.sent, bob_to_alice.pending) == (2, 1)
        assert (bob_to_alice.skipped, bob_to_alice.expired) == (1, 1)
        assert found.pair(ids["Carol"], ids["Alice"]).sent == 1
        assert found.pair(ids["Alice"], ids["Bob"]).sent == 1
        assert found.pair(ids["Alice"], ids["Carol"]).empty  # ordered: not symmetric
        assert found.given[ids["Bob"]].sent == 2
        assert found.received[ids["Alice"]].sent == 3
        assert found.received[ids["Alice"]].pending == 1
        assert found.total.sent == 4
        rows = [(row.sharer_email, row.author_email, row.sent) for row in found.rows]
        assert rows == [  # sharers, then authors, by name; only pairs with numbers
            ("alice@example.com", "bob@example.com", 1),
            ("bob@example.com", "alice@example.com", 2),
            ("carol@example.com", "alice@example.com", 1),
        ]
        assert [(m.name, m.given.sent, m.received.sent) for m in found.members] == [
            ("Alice", 1, 3),
            ("Bob", 2, 1),
            ("Carol", 1, 0),
        ]


def test_reach_given_is_the_followers_of_the_latest_reading_on_or_before_that_day(
    db: None,
) -> None:
    with session_scope() as s:
        (alice, bob), (alice_blog, _) = people(s, "Alice", "Bob")
        garden = make_tribe(s, "Garden", alice, bob)
        mastodon = r.account(s, bob, Network.MASTODON)
        x = r.account(s, bob, Network.X)
        bluesky = r.account(s, bob, Network.BLUESKY)  # never read: unknown
        r.followers(s, mastodon, ago(days=10).date(), 100)
        r.followers(s, mastodon, ago(days=3).date(), 150)
        r.followers(s, mastodon, ago(days=1).date(), 999)  # after the reshares below
        r.followers(s, x, ago(days=9).date(), 40)
        r.followers(s, x, ago(days=4).date(), None)  # the network would not say, since
        posts = [r.post(s, alice_blog, f"Alice {n}", at=ago(days=12)) for n in range(6)]
        r.reshare(s, mastodon, posts[0], at=ago(days=5))  # reading of day -10: 100
        r.reshare(s, mastodon, posts[1], at=ago(days=3, hours=-6))  # that day's: 150
        r.reshare(s, mastodon, posts[2], at=ago(days=2))  # still 150: 999 came later
        r.reshare(s, mastodon, posts[3], at=ago(days=11))  # before any reading: unknown
        r.reshare(s, x, posts[4], at=ago(days=2))  # the latest reading says unknown
        r.reshare(s, bluesky, posts[5], at=ago(days=2))

        tally = numbers(s, garden).pair(b.pk(bob), b.pk(alice))

        assert tally.sent == 6
        assert tally.reach == 100 + 150 + 150
        assert tally.reach_unknown == 3


def test_a_post_shared_between_two_tribes_counts_in_each_and_once_in_each(db: None) -> None:
    with session_scope() as s:
        (alice, bob, carol, dave), (alice_blog, *_) = people(s, "Alice", "Bob", "Carol", "Dave")
        garden = make_tribe(s, "Garden", alice, bob, carol)
        kitchen = make_tribe(s, "Kitchen", bob, alice)
        bobs_only = make_tribe(s, "Bob and Dave", dave, bob)
        bob_m = r.account(s, bob)
        post = r.post(s, alice_blog, "Tomatoes", at=ago(days=3))
        r.item(s, post, bob, StreamState.APPROVED, at=ago(days=2))
        r.reshare(s, bob_m, post, at=ago(days=1))
        other = r.post(s, alice_blog, "Beans", at=ago(days=3))
        r.item(s, other, bob, StreamState.SKIPPED, at=ago(days=2))

        for tribe in (garden, kitchen):
            found = numbers(s, tribe)
            pair = found.pair(b.pk(bob), b.pk(alice))
            assert (pair.sent, pair.skipped) == (1, 1), tribe.slug
            assert found.total.sent == 1, tribe.slug
            assert found.given[b.pk(bob)].sent == 1
        assert numbers(s, bobs_only).total.empty  # Alice is not in it
        by_title = {p.title: p for p in shared_posts(s, author=alice, now=NOW)}
        assert by_title["Tomatoes"].sent == 1  # and once in the author's own view


def test_a_member_who_left_keeps_their_history_shown_as_left(db: None) -> None:
    with session_scope() as s:
        (alice, bob, carol, erin), (alice_blog, *_) = people(s, "Alice", "Bob", "Carol", "Erin")
        garden = make_tribe(s, "Garden", alice, bob, carol, erin)
        bob_m = r.account(s, bob)
        post = r.post(s, alice_blog, "Tomatoes", at=ago(days=6))
        r.reshare(s, bob_m, post, at=ago(days=5))
        tribes.leave(s, member=bob, slug=garden.slug, now=ago(days=2))
        tribes.leave(s, member=erin, slug=garden.slug, now=ago(days=2))  # with no numbers

        found = numbers(s, garden)

        assert [(p.name, p.left) for p in found.people] == [
            ("Alice", False),
            ("Carol", False),
            ("Bob", True),  # who left comes last
        ]
        assert found.pair(b.pk(bob), b.pk(alice)).sent == 1
        assert found.rows[0].sharer_left is True
        # Outside the window, nothing is left of them to show.
        assert "Bob" not in [p.name for p in numbers(s, garden, days=4).people]


def test_what_two_members_did_in_another_tribe_before_one_joined_stays_out(db: None) -> None:
    """Eve and Bob share a secret tribe; Eve joined Writers an hour ago. Writers sees
    what reached her since, none of her months of history with Bob's posts."""
    with session_scope() as s:
        (alice, bob, eve), (_, bob_blog, _) = people(s, "Alice", "Bob", "Eve")
        writers = make_tribe(s, "Writers", alice, bob)
        secret = make_tribe(s, "Secret", bob, eve)
        eve_m = r.account(s, eve)
        for n in range(3):  # months ago, through Secret
            post = r.post(s, bob_blog, f"Shared {n}", at=ago(days=100 + n))
            r.reshare(s, eve_m, post, at=ago(days=99 + n))
        for n in range(2):
            post = r.post(s, bob_blog, f"Skipped {n}", at=ago(days=3))
            r.item(s, post, eve, StreamState.SKIPPED, at=ago(days=2))
        r.item(s, r.post(s, bob_blog, "Waiting", at=ago(days=1)), eve, at=ago(days=1))
        add_to_tribe(s, tribe=writers, member=eve, now=ago(hours=1))
        fresh = r.post(s, bob_blog, "Fresh", at=ago(minutes=30))
        r.reshare(s, eve_m, fresh, arrived=ago(minutes=20), at=ago(minutes=10))

        in_writers, in_secret = numbers(s, writers, 365), numbers(s, secret, 365)

    eve_to_bob = in_writers.pair(b.pk(eve), b.pk(bob))
    assert (eve_to_bob.sent, eve_to_bob.skipped, eve_to_bob.pending) == (1, 0, 0)
    assert in_writers.total == eve_to_bob
    assert [p.name for p in in_writers.people] == ["Alice", "Bob", "Eve"]
    in_secret_pair = in_secret.pair(b.pk(eve), b.pk(bob))
    assert (in_secret_pair.sent, in_secret_pair.skipped, in_secret_pair.pending) == (4, 2, 1)


def test_what_a_member_did_after_leaving_stays_out_their_history_stays(db: None) -> None:
    """Carol left Writers five days ago and shared Bob's post yesterday through Kitchen:
    Writers keeps what she did while in it (marked as left), and nothing after."""
    with session_scope() as s:
        (alice, bob, carol), (_, bob_blog, _) = people(s, "Alice", "Bob", "Carol")
        writers = make_tribe(s, "Writers", alice, bob, carol)
        kitchen = make_tribe(s, "Kitchen", bob, carol)
        carol_m = r.account(s, carol)
        r.reshare(s, carol_m, r.post(s, bob_blog, "Before", at=ago(days=10)), at=ago(days=9))
        not_for_me = r.post(s, bob_blog, "Not for me", at=ago(days=9))
        r.item(s, not_for_me, carol, StreamState.SKIPPED, at=ago(days=8))
        tribes.leave(s, member=carol, slug=writers.slug, now=ago(days=5))
        assert r.membership(s, writers, carol).left_at == ago(days=5)
        r.reshare(s, carol_m, r.post(s, bob_blog, "After", at=ago(days=2)), at=ago(days=1))
        nor_this = r.post(s, bob_blog, "Nor this", at=ago(days=2))
        r.item(s, nor_this, carol, StreamState.SKIPPED, at=ago(days=1))

        in_writers, in_kitchen = numbers(s, writers), numbers(s, kitchen)

    carol_to_bob = in_writers.pair(b.pk(carol), b.pk(bob))
    assert (carol_to_bob.sent, carol_to_bob.skipped) == (1, 1)
    assert [(p.name, p.left) for p in in_writers.people][-1] == ("Carol", True)
    assert sum(p.sent for p in in_writers.trend) == 1
    in_kitchen_pair = in_kitchen.pair(b.pk(carol), b.pk(bob))
    assert (in_kitchen_pair.sent, in_kitchen_pair.skipped) == (2, 2)


def test_a_reshare_with_no_stream_item_counts_if_queued_and_sent_while_both_were_in(
    db: None,
) -> None:
    """Approvals always link their item; should a delivery have none, the moments it
    was queued and sent stand in for the arrival, and both must fall in."""
    with session_scope() as s:
        (alice, bob, eve), (_, bob_blog, _) = people(s, "Alice", "Bob", "Eve")
        writers = make_tribe(s, "Writers", alice, bob)
        eve_m = r.account(s, eve)
        add_to_tribe(s, tribe=writers, member=eve, now=ago(days=10))
        for title, queued, sent in (
            ("Queued before she joined", ago(days=12), ago(days=5)),
            ("Queued and sent while in", ago(days=6), ago(days=5)),
            ("Sent after she left", ago(days=4), ago(days=2)),
        ):
            delivery = r.reshare(s, eve_m, r.post(s, bob_blog, title, at=queued), at=sent)
            delivery.stream_item_id, delivery.created_at = None, queued
        tribes.leave(s, member=eve, slug=writers.slug, now=ago(days=3))

        found = numbers(s, writers)

    assert found.pair(b.pk(eve), b.pk(bob)).sent == 1


def test_a_member_who_rejoins_starts_a_new_membership(db: None) -> None:
    """Carol was removed by the chief, shared through Kitchen while away, and was let
    back in: Writers counts from her return. One period is kept per tribe, so what she
    did in her first membership no longer counts there either."""
    with session_scope() as s:
        (alice, bob, carol), (_, bob_blog, _) = people(s, "Alice", "Bob", "Carol")
        writers = make_tribe(s, "Writers", alice, bob, carol)
        make_tribe(s, "Kitchen", bob, carol)
        carol_m = r.account(s, carol)
        r.reshare(s, carol_m, r.post(s, bob_blog, "First", at=ago(days=20)), at=ago(days=19))
        tribes.remove_member(
            s, member=alice, slug=writers.slug, member_id=b.pk(carol), now=ago(days=15)
        )
        membership = r.membership(s, writers, carol)
        assert (membership.status, membership.left_at) == (MembershipStatus.LEFT, ago(days=15))
        r.reshare(s, carol_m, r.post(s, bob_blog, "Away", at=ago(days=12)), at=ago(days=11))
        add_to_tribe(s, tribe=writers, member=carol, now=ago(days=10))
        r.reshare(s, carol_m, r.post(s, bob_blog, "Back", at=ago(days=5)), at=ago(days=4))

        found = numbers(s, writers)

        membership = r.membership(s, writers, carol)
        assert (membership.status, membership.joined_at) == (MembershipStatus.ACTIVE, ago(days=10))
        assert membership.left_at is None
    assert found.pair(b.pk(carol), b.pk(bob)).sent == 1
    assert [(p.name, p.left) for p in found.people][-1] == ("Carol", False)


def test_a_membership_that_ended_at_an_unrecorded_time_counts_nothing(db: None) -> None:
    """Who left before memberships kept their end (revision 0011) has a null `left_at`:
    any guess could show what they did elsewhere after leaving, so nothing counts."""
    with session_scope() as s:
        (alice, bob), (alice_blog, _) = people(s, "Alice", "Bob")
        garden = make_tribe(s, "Garden", alice, bob)
        bob_m = r.account(s, bob)
        r.reshare(s, bob_m, r.post(s, alice_blog, "Tomatoes", at=ago(days=6)), at=ago(days=5))
        beans = r.post(s, alice_blog, "Beans", at=ago(days=6))
        r.item(s, beans, bob, StreamState.SKIPPED, at=ago(days=5))
        r.membership(s, garden, bob).status = MembershipStatus.LEFT  # and no left_at
        s.flush()

        found = numbers(s, garden)

    assert found.total.empty
    assert [p.name for p in found.people] == ["Alice"]


def test_reposts_and_posts_are_reshares_the_authors_announcements_are_not(db: None) -> None:
    with session_scope() as s:
        (alice, bob), (alice_blog, _) = people(s, "Alice", "Bob")
        garden = make_tribe(s, "Garden", alice, bob)
        bob_mastodon, bob_bluesky = r.account(s, bob), r.account(s, bob, Network.BLUESKY)
        alice_m = r.account(s, alice)
        post = r.post(s, alice_blog, "Tomatoes", at=ago(days=3))
        r.reshare(s, bob_mastodon, post, at=ago(days=2), kind=ReshareKind.POST)
        r.reshare(s, bob_bluesky, post, at=ago(days=2), kind=ReshareKind.REPOST)
        r.reshare(s, alice_m, post, at=ago(days=2), kind=ReshareKind.ANNOUNCE)
        other = r.post(s, alice_blog, "Beans", at=ago(days=3))
        r.reshare(s, alice_m, other, at=ago(days=2))  # her own account, her own post

        found = numbers(s, garden)

        assert found.pair(b.pk(bob), b.pk(alice)).sent == 2
        assert found.pair(b.pk(alice), b.pk(alice)).empty
        assert found.total.sent == 2
        (shared, _) = shared_posts(s, author=alice, now=NOW)
        assert shared.title == "Beans"
        assert shared.reshares == []
        (_, tomatoes) = shared_posts(s, author=alice, now=NOW)
        assert sorted(x.kind for x in tomatoes.reshares) == [ReshareKind.POST, ReshareKind.REPOST]


def test_dry_runs_are_counted_apart_and_bring_no_reach(db: None) -> None:
    with session_scope() as s:
        (alice, bob), (alice_blog, _) = people(s, "Alice", "Bob")
        garden = make_tribe(s, "Garden", alice, bob)
        bob_m = r.account(s, bob)
        r.followers(s, bob_m, ago(days=20).date(), 500)
        post = r.post(s, alice_blog, "Tomatoes", at=ago(days=3))
        r.reshare(s, bob_m, post, at=ago(days=2), dry_run=True)

        found = numbers(s, garden)
        (shared,) = shared_posts(s, author=alice, now=NOW)
        totals = shared_totals(s, author=alice, now=NOW)

    pair = found.pair(b.pk(bob), b.pk(alice))
    assert (pair.sent, pair.dry_run, pair.reach, pair.reach_unknown) == (0, 1, 0, 0)
    assert sum(point.sent for point in found.trend) == 0
    (dry,) = shared.reshares
    assert dry.dry_run
    assert (dry.followers, dry.remote_url) == (None, None)
    assert (shared.sent, shared.dry_run, shared.reach) == (0, 1, 0)
    assert (totals.sent, totals.dry_run, totals.reach) == (0, 1, 0)


@pytest.mark.parametrize(("days", "expected"), [(7, 2), (30, 3), (90, 4), (365, 5)])
def test_the_window_counts_what_went_out_in_the_days_before_now(
    db: None, days: int, expected: int
) -> None:
    assert days in WINDOWS
    with session_scope() as s:
        (alice, bob), (alice_blog, _) = people(s, "Alice", "Bob")
        garden = make_tribe(s, "Garden", alice, bob)
        bob_m = r.account(s, bob)
        sent = [
            timedelta(days=7),  # exactly at the window's start: in
            timedelta(days=2),
            timedelta(days=20),
            timedelta(days=80),
            timedelta(days=200),
            timedelta(days=400),
            timedelta(0),  # now: the window ends before it
        ]
        for n, back in enumerate(sent):
            r.reshare(s, bob_m, r.post(s, alice_blog, f"P{n}", at=NOW - back), at=NOW - back)

        found = numbers(s, garden, days)

    assert found.total.sent == expected
    assert found.days == days
    assert (found.since, found.until) == (NOW - timedelta(days=days), NOW)


@pytest.mark.parametrize("days", [0, -7, 366, 10_000])
def test_a_window_outside_1_to_365_days_is_refused_with_the_reason(db: None, days: int) -> None:
    with session_scope() as s:
        (alice,), _ = people(s, "Alice")
        garden = make_tribe(s, "Garden", alice)
        for ask in (
            lambda: tribe_reciprocity(s, garden, days=days, now=NOW),
            lambda: shared_posts(s, author=alice, days=days, now=NOW),
            lambda: count_shared_posts(s, author=alice, days=days, now=NOW),
        ):
            with pytest.raises(InvalidInputError, match=f"from 1 to 365 \\(not {days}\\)"):
                ask()
    assert [check_days(d) for d in (1, 7, 365)] == [1, 7, 365]


def test_a_window_is_the_same_whatever_zone_now_is_given_in(db: None) -> None:
    with session_scope() as s:
        (alice, bob), (alice_blog, _) = people(s, "Alice", "Bob")
        garden = make_tribe(s, "Garden", alice, bob)
        post = r.post(s, alice_blog, "Tomatoes", at=ago(days=3))
        r.reshare(s, r.account(s, bob), post, at=ago(hours=1))
        tokyo = NOW.astimezone(ZoneInfo("Asia/Tokyo"))
        found = tribe_reciprocity(s, garden, days=1, now=tokyo)
    assert found.total.sent == 1
    assert found.until == NOW


def test_the_trend_has_a_point_per_utc_day_up_to_a_month() -> None:
    until = datetime(2025, 6, 15, 9, 30, tzinfo=UTC)
    since = until - timedelta(days=30)
    sent = [
        DaySent(date(2025, 5, 16), 1, 10),  # the window's first, partial day
        DaySent(date(2025, 6, 1), 2, 5),
        DaySent(date(2025, 6, 15), 1, 7),  # today, so far
    ]

    points = trend(sent, since=since, until=until, days=30)

    assert len(points) == 31  # 30 whole days and today's start
    assert points[0].start == date(2025, 5, 16)
    assert points[-1].start == date(2025, 6, 15)
    assert all(p.days == 1 for p in points)
    by_day = {p.start: (p.sent, p.reach) for p in points if p.sent}
    assert by_day == {
        date(2025, 5, 16): (1, 10),
        date(2025, 6, 1): (2, 5),
        date(2025, 6, 15): (1, 7),
    }


@pytest.mark.parametrize(("days", "width", "count"), [(7, 1, 8), (90, 7, 13), (365, 30, 13)])
def test_longer_windows_have_weeks_or_months_the_oldest_cut_at_the_window(
    days: int, width: int, count: int
) -> None:
    until = datetime(2025, 6, 15, 9, 30, tzinfo=UTC)
    since = until - timedelta(days=days)
    sent = [DaySent(since.date(), 1, 10), DaySent(until.date(), 1, 10)]

    points = trend(sent, since=since, until=until, days=days)

    assert bucket_days(days) == width
    assert len(points) == count
    assert points[-1].start + timedelta(days=points[-1].days - 1) == until.date()
    assert points[0].start == since.date()
    assert 1 <= points[0].days <= width
    assert all(p.days == width for p in points[1:])
    # Back to back: each bucket starts the day after the one before ends.
    for older, newer in itertools.pairwise(points):
        assert older.start + timedelta(days=older.days) == newer.start
    assert (points[0].sent, points[-1].sent, sum(p.sent for p in points)) == (1, 1, 2)


def test_the_trend_and_the_reach_go_by_utc_days_whatever_the_sessions_zone(db: None) -> None:
    with session_scope() as s:
        if s.get_bind().dialect.name == "postgresql":
            # Days read in the session's zone (UTC+14 here) would put both reshares
            # below on 11 June, and give the first one that day's reading.
            s.execute(text("SET LOCAL TIME ZONE 'Pacific/Kiritimati'"))
        (alice, bob), (alice_blog, _) = people(s, "Alice", "Bob")
        garden = make_tribe(s, "Garden", alice, bob)
        bob_m = r.account(s, bob)
        before_midnight = datetime(2025, 6, 10, 23, 30, tzinfo=UTC)
        after_midnight = datetime(2025, 6, 11, 0, 30, tzinfo=UTC)
        r.followers(s, bob_m, before_midnight.date(), 100)
        r.followers(s, bob_m, after_midnight.date(), 200)
        for n, at in enumerate((before_midnight, after_midnight)):
            r.reshare(s, bob_m, r.post(s, alice_blog, f"P{n}", at=ago(days=8)), at=at)
        dry = r.post(s, alice_blog, "Dry", at=ago(days=8))
        r.reshare(s, bob_m, dry, at=before_midnight, dry_run=True)  # in neither

        found = numbers(s, garden, 7)

    by_day = {p.start: (p.sent, p.reach) for p in found.trend if p.sent}
    assert by_day == {date(2025, 6, 10): (1, 100), date(2025, 6, 11): (1, 200)}
    pair = found.pair(b.pk(bob), b.pk(alice))
    assert (pair.sent, pair.dry_run, pair.reach) == (2, 1, 300)


def test_the_trend_of_a_tribe_adds_up_to_what_was_sent(db: None) -> None:
    with session_scope() as s:
        (alice, bob), (alice_blog, _) = people(s, "Alice", "Bob")
        garden = make_tribe(s, "Garden", alice, bob)
        bob_m = r.account(s, bob)
        r.followers(s, bob_m, ago(days=100).date(), 30)
        for n in range(5):
            post = r.post(s, alice_blog, f"P{n}", at=ago(days=10 * n + 1))
            r.reshare(s, bob_m, post, at=ago(days=10 * n, hours=1))
        found = numbers(s, garden, 90)
    assert sum(p.sent for p in found.trend) == found.total.sent == 5
    assert sum(p.reach for p in found.trend) == found.total.reach == 150


def test_the_tribe_reach_comes_with_the_numbers(db: None) -> None:
    with session_scope() as s:
        (alice, bob), _ = people(s, "Alice", "Bob")
        garden = make_tribe(s, "Garden", alice, bob)
        r.followers(s, r.account(s, alice), NOW.date(), 120)
        r.followers(s, r.account(s, bob), NOW.date(), 80)
        r.account(s, bob, Network.X)  # never read
        reach = numbers(s, garden).reach
    assert (reach.followers, reach.accounts, reach.unknown) == (200, 3, 1)


def test_the_authors_view_lists_posts_newest_first_with_who_shared_them(db: None) -> None:
    with session_scope() as s:
        (alice, bob, carol), (alice_blog, bob_blog, _) = people(s, "Alice", "Bob", "Carol")
        make_tribe(s, "Garden", alice, bob, carol)
        bob_m = r.account(s, bob, Network.MASTODON, "@bob@garden.social")
        carol_x = r.account(s, carol, Network.X, "@carol")
        r.followers(s, bob_m, ago(days=30).date(), 300)
        posts = [r.post(s, alice_blog, f"Alice {n}", at=ago(days=n + 1)) for n in range(5)]
        r.post(s, alice_blog, "Found by the first poll", at=ago(hours=1), announced=False)
        r.post(s, alice_blog, "Too old", at=ago(days=40))
        r.post(s, bob_blog, "Bob's own", at=ago(hours=2))
        r.reshare(s, carol_x, posts[0], at=ago(hours=5))
        first = r.reshare(s, bob_m, posts[0], at=ago(hours=20))

        page = shared_posts(s, author=alice, now=NOW, limit=2)
        rest = shared_posts(s, author=alice, now=NOW, limit=2, offset=2)
        last = shared_posts(s, author=alice, now=NOW, limit=2, offset=4)
        count = count_shared_posts(s, author=alice, now=NOW)
        totals = shared_totals(s, author=alice, now=NOW)

    assert count == 5
    assert [p.title for p in page + rest + last] == [f"Alice {n}" for n in range(5)]
    newest = page[0]
    assert [(x.sharer_name, x.network, x.handle) for x in newest.reshares] == [
        ("Bob", Network.MASTODON, "@bob@garden.social"),  # oldest first
        ("Carol", Network.X, "@carol"),
    ]
    by_bob = newest.reshares[0]
    assert by_bob.remote_url == first.remote_url
    assert by_bob.followers == 300
    assert by_bob.sent_local == "Sat 14 Jun, 18:00 CEST"  # Alice's zone (Paris)
    assert (newest.sent, newest.reach, newest.reach_unknown) == (2, 300, 1)
    assert all(p.reshares == [] for p in page[1:] + rest + last)
    assert (totals.sent, totals.reach, totals.reach_unknown) == (2, 300, 1)


def test_a_tribe_is_seen_by_its_members_and_the_operator_only(db: None) -> None:
    with session_scope() as s:
        (alice, bob, dave, olga), _ = people(s, "Alice", "Bob", "Dave", "Olga")
        garden = make_tribe(s, "Garden", alice, bob)
        kitchen = make_tribe(s, "Kitchen", dave)
        olga.is_operator = True
        assert reciprocity_for(s, member=bob, slug=garden.slug, now=NOW).slug == garden.slug
        assert reciprocity_for(s, member=olga, slug=garden.slug, now=NOW).slug == garden.slug
        with pytest.raises(NotFoundError):
            reciprocity_for(s, member=dave, slug=garden.slug)
        with pytest.raises(NotFoundError):
            reciprocity_for(s, member=bob, slug=kitchen.slug)
        tribes.leave(s, member=bob, slug=garden.slug)
        with pytest.raises(NotFoundError):  # who left no longer sees it
            reciprocity_for(s, member=bob, slug=garden.slug)


def test_a_tally_adds_up_and_counts_only_what_it_knows() -> None:
    whole = Tally(sent=1, reach=10)
    whole.add(Tally(sent=2, dry_run=1, pending=3, skipped=4, expired=5, reach=6, reach_unknown=7))
    assert whole == Tally(
        sent=3, dry_run=1, pending=3, skipped=4, expired=5, reach=16, reach_unknown=7
    )
    assert whole.decided == 3 + 1 + 4 + 5
    assert Tally().empty
    assert not Tally(pending=1).empty
    with pytest.raises(ValueError, match="approved"):
        whole.add_items(StreamState.APPROVED, 1)
