"""Approving, skipping, preferences and the queue, on the test database."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from tests import builders as b
from tribe.core import timefmt
from tribe.core.errors import ConflictError, InvalidInputError, NotFoundError
from tribe.core.kinds import DeliveryState, Network, StreamState
from tribe.delivery.changes import cancel, move, pause, resume
from tribe.delivery.queue import list_queue, reach, reach_notices
from tribe.infra.db import session_scope
from tribe.infra.models import Delivery, Post, StreamItem
from tribe.members.accounts import (
    ScheduleChange,
    add_account,
    member_accounts,
    set_schedule,
    set_template,
)
from tribe.members.people import get_member
from tribe.stream.approvals import (
    ApprovalConfig,
    QueueFullError,
    approve,
    approve_all,
    expire_stale,
    skip,
)
from tribe.stream.items import fan_out
from tribe.stream.preferences import auto_approve_pending, set_auto_approve, set_muted

pytestmark = pytest.mark.usefixtures("db")

CONFIG = ApprovalConfig()
# Monday 1 June 2026, 12:00 UTC (07:00 in Chicago, 14:00 in Paris).
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CHICAGO = ZoneInfo("America/Chicago")


def setup() -> dict[str, int]:
    """alice writes; bob (Chicago, X + Mastodon) and carol (Chicago, X) are her tribemates."""
    with session_scope() as s:
        alice = b.member(s, "Alice", "Europe/Paris")
        bob = b.member(s, "Bob", "America/Chicago")
        carol = b.member(s, "Carol", "America/Chicago")
        b.tribe(s, "Writers", alice, bob, carol)
        feed = b.feed(s, alice, "https://alice.blog/feed")
        add_account(s, member=alice, network="x", handle="@alice_writes")
        add_account(s, member=bob, network="x", handle="@bob")
        add_account(s, member=bob, network="mastodon", handle="@bob@mastodon.social")
        add_account(s, member=carol, network="x", handle="carol")
        for who in (bob, carol):
            set_schedule(s, member=who, change=ScheduleChange(slots="mon-sun 09:00,17:00"))
        return {"alice": b.pk(alice), "bob": b.pk(bob), "carol": b.pk(carol), "feed": b.pk(feed)}


def new_post(feed_id: int, title: str = "Why tomatoes split", n: int = 1) -> int:
    with session_scope() as s:
        post = Post(
            feed_id=feed_id,
            entry_key=f"k{title}{n}",
            url=f"https://alice.blog/{n}",
            title=title,
            categories=["Gardening"],
            discovered_at=NOW - timedelta(minutes=5),
        )
        s.add(post)
        s.flush()
        assert post.id is not None
        fan_out(s, [post.id], now=NOW - timedelta(minutes=5))
        return post.id


def item_of(member_id: int, post_id: int) -> int:
    with session_scope() as s:
        item = s.exec(
            select(StreamItem).where(
                StreamItem.member_id == member_id, StreamItem.post_id == post_id
            )
        ).one()
        assert item.id is not None
        return item.id


def deliveries() -> list[Delivery]:
    with session_scope() as s:
        return list(s.exec(select(Delivery).order_by(col(Delivery.id))).all())


def local(moment: datetime) -> str:
    return moment.astimezone(CHICAGO).strftime("%a %H:%M")


def test_approving_queues_one_delivery_per_account_at_the_next_local_slot() -> None:
    ids = setup()
    item = item_of(ids["bob"], new_post(ids["feed"]))
    with session_scope() as s:
        decision = approve(s, member=get_member(s, "bob@example.com"), item_id=item, now=NOW)
    assert decision.state == StreamState.APPROVED
    assert [(q.network, q.handle) for q in decision.queued] == [
        (Network.X, "@bob"),
        (Network.MASTODON, "@bob@mastodon.social"),
    ]
    assert [local(q.due_at) for q in decision.queued] == ["Mon 09:00", "Mon 09:00"]
    x_text, mastodon_text = (q.text for q in decision.queued)
    assert x_text == "Why tomatoes split https://alice.blog/1 via @alice_writes"
    assert mastodon_text == "Why tomatoes split\n\nhttps://alice.blog/1\n\nvia Alice #Gardening"
    assert decision.queued[0].reason == "slot mon 09:00"


def test_a_second_click_changes_nothing() -> None:
    ids = setup()
    item = item_of(ids["bob"], new_post(ids["feed"]))
    with session_scope() as s:
        first = approve(s, member=get_member(s, "bob@example.com"), item_id=item, now=NOW)
    with session_scope() as s:
        again = approve(
            s, member=get_member(s, "bob@example.com"), item_id=item, now=NOW + timedelta(minutes=1)
        )
    assert again.repeated
    assert again.queued == first.queued
    assert len(deliveries()) == 2


def test_tribemates_sharing_one_post_are_staggered() -> None:
    ids = setup()
    post = new_post(ids["feed"])
    bob_item, carol_item = item_of(ids["bob"], post), item_of(ids["carol"], post)
    with session_scope() as s:
        bob = approve(s, member=get_member(s, "bob@example.com"), item_id=bob_item, now=NOW)
        carol = approve(s, member=get_member(s, "carol@example.com"), item_id=carol_item, now=NOW)
    assert local(bob.queued[0].due_at) == "Mon 09:00"
    # carol's 09:00 slot is taken by bob's X reshare of the same post: her next one.
    assert local(carol.queued[0].due_at) == "Mon 17:00"
    assert "spaced from tribemates" in carol.queued[0].reason


def test_own_text_too_long_is_refused_and_nothing_is_stored() -> None:
    ids = setup()
    item = item_of(ids["bob"], new_post(ids["feed"]))
    with pytest.raises(InvalidInputError, match="your x text is 294 long"), session_scope() as s:
        approve(
            s,
            member=get_member(s, "bob@example.com"),
            item_id=item,
            own={Network.X: "a" * 270},
            now=NOW,
        )
    assert deliveries() == []
    with session_scope() as s:
        assert s.get_one(StreamItem, item).state == StreamState.PENDING
        decision = approve(
            s,
            member=get_member(s, "bob@example.com"),
            item_id=item,
            own={Network.X: "Read this!"},
            now=NOW,
        )
    assert decision.queued[0].text == "Read this! https://alice.blog/1"


def test_own_text_for_a_network_without_an_account() -> None:
    ids = setup()
    item = item_of(ids["carol"], new_post(ids["feed"]))
    with pytest.raises(InvalidInputError, match="no mastodon account"), session_scope() as s:
        approve(
            s,
            member=get_member(s, "carol@example.com"),
            item_id=item,
            own={Network.MASTODON: "hi"},
            now=NOW,
        )


def test_someone_elses_item_is_not_found() -> None:
    ids = setup()
    item = item_of(ids["bob"], new_post(ids["feed"]))
    with (
        pytest.raises(NotFoundError, match=f"no stream item #{item} for carol"),
        session_scope() as s,
    ):
        approve(s, member=get_member(s, "carol@example.com"), item_id=item, now=NOW)


def test_skip_is_recorded_once_and_blocks_approval() -> None:
    ids = setup()
    item = item_of(ids["bob"], new_post(ids["feed"]))
    with session_scope() as s:
        assert (
            skip(s, member=get_member(s, "bob@example.com"), item_id=item, now=NOW).state
            == StreamState.SKIPPED
        )
        assert skip(s, member=get_member(s, "bob@example.com"), item_id=item, now=NOW).repeated
    with pytest.raises(ConflictError, match="was skipped"), session_scope() as s:
        approve(s, member=get_member(s, "bob@example.com"), item_id=item, now=NOW)


def test_a_full_queue_is_an_answer_and_the_item_stays() -> None:
    ids = setup()
    with session_scope() as s:
        set_schedule(
            s,
            member=get_member(s, "carol@example.com"),
            change=ScheduleChange(slots="mon 09:00", daily_cap=1),
        )
    short = ApprovalConfig(horizon=timedelta(days=3))
    first = item_of(ids["carol"], new_post(ids["feed"], n=1))
    second = item_of(ids["carol"], new_post(ids["feed"], n=2))
    with session_scope() as s:
        approve(s, member=get_member(s, "carol@example.com"), item_id=first, now=NOW, config=short)
    with pytest.raises(QueueFullError, match="queue full"), session_scope() as s:
        approve(s, member=get_member(s, "carol@example.com"), item_id=second, now=NOW, config=short)
    with session_scope() as s:
        assert s.get_one(StreamItem, second).state == StreamState.PENDING


def test_one_full_account_does_not_stop_the_others() -> None:
    ids = setup()
    with session_scope() as s:
        set_schedule(
            s,
            member=get_member(s, "bob@example.com"),
            account_id=2,
            change=ScheduleChange(slots="mon 09:00", daily_cap=1),
        )
    short = ApprovalConfig(horizon=timedelta(days=3))
    first, second = (item_of(ids["bob"], new_post(ids["feed"], n=n)) for n in (1, 2))
    with session_scope() as s:
        approve(s, member=get_member(s, "bob@example.com"), item_id=first, now=NOW, config=short)
        decision = approve(
            s, member=get_member(s, "bob@example.com"), item_id=second, now=NOW, config=short
        )
    assert [q.network for q in decision.queued] == [Network.MASTODON]
    assert decision.full[0].startswith("x @bob: queue full")


def test_approve_all_visible() -> None:
    ids = setup()
    items = [item_of(ids["bob"], new_post(ids["feed"], n=n)) for n in range(3)]
    with session_scope() as s:
        outcome = approve_all(
            s, member=get_member(s, "bob@example.com"), item_ids=[*items, 999], now=NOW
        )
    assert [d.item_id for d in outcome.decisions] == items
    assert outcome.errors == ("#999: no stream item #999 for bob@example.com",)
    x_times = sorted(d.due_at for d in deliveries() if d.account_id == 2)
    assert [local(t) for t in x_times] == ["Mon 09:00", "Mon 17:00", "Tue 09:00"]


def test_stale_items_expire_but_are_kept() -> None:
    ids = setup()
    item = item_of(ids["bob"], new_post(ids["feed"]))
    with session_scope() as s:
        assert expire_stale(s, now=NOW + timedelta(days=4), expiry=timedelta(days=5)) == 0
        assert expire_stale(s, now=NOW + timedelta(days=6), expiry=timedelta(days=5)) == 2
    with session_scope() as s:
        assert s.get_one(StreamItem, item).state == StreamState.EXPIRED
    with pytest.raises(ConflictError, match="was expired"), session_scope() as s:
        approve(s, member=get_member(s, "bob@example.com"), item_id=item, now=NOW)


def test_a_muted_tribemate_no_longer_reaches_the_stream() -> None:
    ids = setup()
    with session_scope() as s:
        set_muted(
            s,
            member=get_member(s, "bob@example.com"),
            author=get_member(s, "alice@example.com"),
            muted=True,
        )
    post = new_post(ids["feed"], n=1)
    with session_scope() as s:
        members = set(s.exec(select(StreamItem.member_id).where(StreamItem.post_id == post)).all())
    assert members == {ids["carol"]}
    with session_scope() as s:
        set_muted(
            s,
            member=get_member(s, "bob@example.com"),
            author=get_member(s, "alice@example.com"),
            muted=False,
        )
    item_of(ids["bob"], new_post(ids["feed"], n=2))  # reaches bob again


def test_auto_approve_respects_its_daily_cap() -> None:
    ids = setup()
    with session_scope() as s:
        set_auto_approve(
            s,
            member=get_member(s, "carol@example.com"),
            author=get_member(s, "alice@example.com"),
            enabled=True,
            daily_cap=2,
        )
    posts = [new_post(ids["feed"], n=n) for n in range(3)]
    with session_scope() as s:
        assert auto_approve_pending(s, now=NOW, config=CONFIG) == 2
    carol_items = [item_of(ids["carol"], p) for p in posts]
    bob_items = [item_of(ids["bob"], p) for p in posts]
    with session_scope() as s:
        states = [s.get_one(StreamItem, i).state for i in carol_items]
        bob_states = {s.get_one(StreamItem, i).state for i in bob_items}
    assert states == [StreamState.APPROVED, StreamState.APPROVED, StreamState.PENDING]
    assert bob_states == {StreamState.PENDING}  # only carol opted in
    with session_scope() as s:
        assert auto_approve_pending(s, now=NOW + timedelta(hours=1), config=CONFIG) == 0


def test_preferences_about_oneself_are_refused() -> None:
    setup()
    with pytest.raises(InvalidInputError, match="that is you"), session_scope() as s:
        set_muted(
            s,
            member=get_member(s, "bob@example.com"),
            author=get_member(s, "bob@example.com"),
            muted=True,
        )


def test_the_queue_lists_moves_cancels() -> None:
    ids = setup()
    items = [item_of(ids["carol"], new_post(ids["feed"], title=f"Post {n}", n=n)) for n in range(3)]
    with session_scope() as s:
        for item in items:
            approve(s, member=get_member(s, "carol@example.com"), item_id=item, now=NOW)
    with session_scope() as s:
        entries = list_queue(s, member=get_member(s, "carol@example.com"))

    def chicago(day: int, hour: int) -> str:  # "Mon 1 Jun, 09:00 CDT" (the year if not this one)
        return timefmt.moment(datetime(2026, 6, day, hour, tzinfo=CHICAGO), CHICAGO)

    assert [(e.title, e.due_local) for e in entries] == [
        ("Post 0", chicago(1, 9)),
        ("Post 1", chicago(1, 17)),
        ("Post 2", chicago(2, 9)),
    ]
    assert chicago(1, 9).replace(" 2026", "") == "Mon 1 Jun, 09:00 CDT"
    with session_scope() as s:
        carol = get_member(s, "carol@example.com")
        moved = move(s, member=carol, delivery_id=entries[2].id, direction="up")
    assert moved.due_local == chicago(1, 17)
    with pytest.raises(ConflictError, match="already first"), session_scope() as s:
        move(
            s, member=get_member(s, "carol@example.com"), delivery_id=entries[0].id, direction="up"
        )
    with session_scope() as s:
        carol = get_member(s, "carol@example.com")
        cancel(s, member=carol, delivery_id=entries[0].id)
        assert [e.title for e in list_queue(s, member=carol)] == ["Post 2", "Post 1"]
        assert len(list_queue(s, member=carol, everything=True)) == 3
    with pytest.raises(NotFoundError), session_scope() as s:
        cancel(s, member=get_member(s, "bob@example.com"), delivery_id=entries[1].id)  # not bob's


def test_resuming_a_paused_queue_reschedules_what_is_overdue() -> None:
    ids = setup()
    item = item_of(ids["carol"], new_post(ids["feed"]))
    with session_scope() as s:
        approve(s, member=get_member(s, "carol@example.com"), item_id=item, now=NOW)
        pause(s, member=get_member(s, "carol@example.com"))
    later = NOW + timedelta(days=2)  # Wednesday 07:00 Chicago: Monday 09:00 has passed
    with session_scope() as s:
        carol = get_member(s, "carol@example.com")
        assert resume(s, member=carol, config=CONFIG, now=later) == (1, 0)
    (delivery,) = deliveries()
    assert local(delivery.due_at) == "Wed 09:00"
    assert delivery.state == DeliveryState.QUEUED


def test_resuming_one_account_of_a_paused_queue_keeps_the_others_paused() -> None:
    setup()
    with session_scope() as s:
        bob = get_member(s, "bob@example.com")
        pause(s, member=bob)
        accounts = {a.network: a for a in member_accounts(s, bob, active_only=False)}
        resume(s, member=bob, config=CONFIG, account_id=accounts[Network.X].id)
    with session_scope() as s:
        bob = get_member(s, "bob@example.com")
        paused = {a.network: a.paused for a in member_accounts(s, bob, active_only=False)}
        assert not bob.queue_paused
    assert paused == {Network.X: False, Network.MASTODON: True}


def test_a_long_queue_is_reported() -> None:
    ids = setup()
    items = [item_of(ids["carol"], new_post(ids["feed"], n=n)) for n in range(5)]
    with session_scope() as s:
        set_schedule(
            s,
            member=get_member(s, "carol@example.com"),
            change=ScheduleChange(slots="mon-sun 09:00"),
        )
        for item in items:
            approve(s, member=get_member(s, "carol@example.com"), item_id=item, now=NOW)
        reaches = reach(s, member=get_member(s, "carol@example.com"), now=NOW)
    assert reaches[0].queued == 5
    (notice,) = reach_notices(reaches, CONFIG)
    assert notice.startswith("your x @carol queue reaches 4.1 days out")


def test_templates_are_the_members_own() -> None:
    ids = setup()
    item = item_of(ids["carol"], new_post(ids["feed"]))
    with session_scope() as s:
        set_template(
            s,
            member=get_member(s, "carol@example.com"),
            network="x",
            template="New from {author}: {title} {url}",
        )
        decision = approve(s, member=get_member(s, "carol@example.com"), item_id=item, now=NOW)
    assert (
        decision.queued[0].text == "New from @alice_writes: Why tomatoes split https://alice.blog/1"
    )


def test_unique_per_account_and_post_in_the_database() -> None:
    ids = setup()
    post = new_post(ids["feed"])
    item = item_of(ids["carol"], post)
    with session_scope() as s:
        approve(s, member=get_member(s, "carol@example.com"), item_id=item, now=NOW)
    from sqlalchemy.exc import IntegrityError

    def add_twice() -> None:
        with session_scope() as s:
            s.add(Delivery(account_id=4, post_id=post, text="dup", due_at=NOW))

    with pytest.raises(IntegrityError):
        add_twice()
    assert len(deliveries()) == 1
