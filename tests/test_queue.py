"""A member's changes to their queue (edit a text, send next) and a new schedule's re-timing
of what no longer fits it, on the test database."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from tests import builders as b
from tribe.core.deliveries import DRY_RUN_REASON
from tribe.core.errors import ConflictError, InvalidInputError, NotFoundError
from tribe.core.kinds import DeliveryState, ReshareKind
from tribe.delivery.changes import cancel, edit_text, save_schedule, send_next
from tribe.delivery.queue import history, is_dry_run, list_queue
from tribe.infra.db import session_scope
from tribe.infra.models import Delivery, Post, StreamItem
from tribe.members.accounts import ScheduleChange, add_account, set_schedule, set_sharing
from tribe.members.people import get_member
from tribe.stream.approvals import ApprovalConfig, approve
from tribe.stream.items import fan_out

pytestmark = pytest.mark.usefixtures("db")

CONFIG = ApprovalConfig()
# Monday 1 June 2026, 12:00 UTC: 07:00 in Chicago, where bob and carol live.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CHICAGO = ZoneInfo("America/Chicago")
BOB, CAROL = "bob@example.com", "carol@example.com"


def setup(slots: str = "mon-sun 09:00,17:00") -> int:
    """alice writes; bob and carol (Chicago, one Mastodon account each) reshare her.
    Returns her feed's id."""
    with session_scope() as s:
        alice = b.member(s, "Alice", "Europe/Paris")
        bob = b.member(s, "Bob", "America/Chicago")
        carol = b.member(s, "Carol", "America/Chicago")
        b.tribe(s, "Writers", alice, bob, carol)
        feed = b.feed(s, alice, "https://alice.blog/feed")
        for who in (BOB, CAROL):
            add_account(
                s,
                member=get_member(s, who),
                network="mastodon",
                handle=f"@{who[:3]}@mastodon.social",
            )
            set_schedule(s, member=get_member(s, who), change=ScheduleChange(slots=slots))
        assert feed.id is not None
        return feed.id


def approved(feed_id: int, who: str, n: int) -> int:
    """alice's post number `n` (new, or already out), approved by `who` at NOW; the id of
    the delivery it queued."""
    url = f"https://alice.blog/{n}"
    with session_scope() as s:
        post_id = s.exec(select(Post.id).where(Post.url == url)).first()
        if post_id is None:
            post = Post(
                feed_id=feed_id,
                entry_key=f"k{n}",
                url=url,
                title=f"Post {n}",
                discovered_at=NOW - timedelta(minutes=5),
            )
            s.add(post)
            s.flush()
            post_id = post.id
            assert post_id is not None
            fan_out(s, [post_id], now=NOW - timedelta(minutes=5))
        member = get_member(s, who)
        item_id = s.exec(
            select(StreamItem.id).where(
                StreamItem.post_id == post_id, StreamItem.member_id == member.id
            )
        ).one()
        assert item_id is not None
        decision = approve(s, member=get_member(s, who), item_id=item_id, now=NOW, config=CONFIG)
        return decision.queued[0].delivery_id


def local(delivery_id: int) -> str:
    with session_scope() as s:
        delivery = s.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery.due_at.astimezone(CHICAGO).strftime("%a %H:%M")


# --- send next --------------------------------------------------------------------------------


def test_send_next_moves_a_delivery_to_the_next_free_time() -> None:
    feed = setup()
    first, second, third = (approved(feed, CAROL, n) for n in (1, 2, 3))
    assert [local(d) for d in (first, second, third)] == ["Mon 09:00", "Mon 17:00", "Tue 09:00"]
    with session_scope() as s:
        cancel(s, member=get_member(s, CAROL), delivery_id=first)
    with session_scope() as s:
        entry = send_next(s, member=get_member(s, CAROL), delivery_id=third, config=CONFIG, now=NOW)
    assert local(third) == "Mon 09:00"
    assert entry.reason.startswith("sent next by you: slot mon 09:00")
    assert entry.due_local.replace(" 2026", "") == "Mon 1 Jun, 09:00 CDT"
    assert local(second) == "Mon 17:00"  # the others keep their times


def test_send_next_says_why_it_cannot_go_earlier() -> None:
    feed = setup()
    first, second = approved(feed, CAROL, 1), approved(feed, CAROL, 2)
    already = "the next allowed time is already its time"
    with pytest.raises(ConflictError, match=already), session_scope() as s:
        send_next(s, member=get_member(s, CAROL), delivery_id=first, config=CONFIG, now=NOW)
    with pytest.raises(ConflictError) as refused, session_scope() as s:
        send_next(s, member=get_member(s, CAROL), delivery_id=second, config=CONFIG, now=NOW)
    assert "cannot go earlier than Mon 1 Jun" in str(refused.value)
    assert "the earlier slots are taken by your other reshares (move it up instead)" in str(
        refused.value
    )
    assert [local(d) for d in (first, second)] == ["Mon 09:00", "Mon 17:00"]  # nothing moved


def test_send_next_keeps_the_daily_cap() -> None:
    feed = setup()
    with session_scope() as s:
        set_schedule(s, member=get_member(s, CAROL), change=ScheduleChange(daily_cap=1))
    first, second = approved(feed, CAROL, 1), approved(feed, CAROL, 2)
    assert [local(d) for d in (first, second)] == ["Mon 09:00", "Tue 09:00"]
    with pytest.raises(ConflictError) as refused, session_scope() as s:
        send_next(s, member=get_member(s, CAROL), delivery_id=second, config=CONFIG, now=NOW)
    assert "the daily cap of 1 is reached on Mon 1 Jun" in str(refused.value)
    assert local(second) == "Tue 09:00"


def test_send_next_keeps_the_stagger_from_tribemates_sharing_the_same_post() -> None:
    feed = setup()
    other = approved(feed, CAROL, 1)  # carol: Mon 09:00
    shared = approved(feed, CAROL, 2)  # carol: Mon 17:00
    bobs = approved(feed, BOB, 2)  # bob shares the same post: Mon 09:00
    assert [local(d) for d in (other, shared, bobs)] == ["Mon 09:00", "Mon 17:00", "Mon 09:00"]
    with session_scope() as s:
        cancel(
            s, member=get_member(s, CAROL), delivery_id=other
        )  # Mon 09:00 is free again for carol ...
    with pytest.raises(ConflictError) as refused, session_scope() as s:
        send_next(s, member=get_member(s, CAROL), delivery_id=shared, config=CONFIG, now=NOW)
    # ... but bob shares that post at 09:00: carol's stays 20 minutes away from it.
    assert "within 20 min of a tribemate's share of the same post" in str(refused.value)
    assert local(shared) == "Mon 17:00"


def test_send_next_only_moves_a_queued_delivery_of_ones_own() -> None:
    feed = setup()
    delivery = approved(feed, CAROL, 1)
    with pytest.raises(NotFoundError), session_scope() as s:
        send_next(s, member=get_member(s, BOB), delivery_id=delivery, config=CONFIG, now=NOW)
    with pytest.raises(ConflictError, match="is due already"), session_scope() as s:
        send_next(
            s,
            member=get_member(s, CAROL),
            delivery_id=delivery,
            config=CONFIG,
            now=NOW + timedelta(days=1),
        )
    with session_scope() as s:
        cancel(s, member=get_member(s, CAROL), delivery_id=delivery)
    with pytest.raises(ConflictError, match="only a queued one"), session_scope() as s:
        send_next(s, member=get_member(s, CAROL), delivery_id=delivery, config=CONFIG, now=NOW)


# --- edit the text ----------------------------------------------------------------------------


def test_a_queued_text_is_edited_and_fits_like_an_approval() -> None:
    feed = setup()
    delivery = approved(feed, CAROL, 1)
    with session_scope() as s:
        entry = edit_text(
            s, member=get_member(s, CAROL), delivery_id=delivery, text="Read this!\r\nReally."
        )
    assert entry.text == "Read this!\nReally. https://alice.blog/1"  # the link added, \n only
    with session_scope() as s:
        assert s.get_one(Delivery, delivery).text == entry.text
    with pytest.raises(InvalidInputError) as refused, session_scope() as s:
        edit_text(s, member=get_member(s, CAROL), delivery_id=delivery, text="a" * 490)
    assert "your mastodon text is 514 long and the limit is 500" in str(refused.value)
    with session_scope() as s:
        assert s.get_one(Delivery, delivery).text == entry.text


def test_an_edited_text_starts_over_from_what_an_earlier_try_made() -> None:
    """A Threads container kept for the old words is never published with new ones."""
    feed = setup()
    delivery = approved(feed, CAROL, 1)
    with session_scope() as s:
        s.get_one(Delivery, delivery).progress = {"container": "17890"}
    with session_scope() as s:
        edit_text(s, member=get_member(s, CAROL), delivery_id=delivery, text="New words")
    with session_scope() as s:
        assert s.get_one(Delivery, delivery).progress is None


def test_a_repost_has_no_text_to_edit_and_what_went_out_stays() -> None:
    feed = setup()
    delivery = approved(feed, CAROL, 1)
    with session_scope() as s:
        account_id = s.get_one(Delivery, delivery).account_id
        set_sharing(s, member=get_member(s, CAROL), account_id=account_id, reshare="repost")
    reposted = approved(feed, CAROL, 2)
    with session_scope() as s:
        assert s.get_one(Delivery, reposted).kind == ReshareKind.REPOST
    repost = "a repost of the author's own post: it has no text"
    with pytest.raises(ConflictError, match=repost), session_scope() as s:
        edit_text(s, member=get_member(s, CAROL), delivery_id=reposted, text="My words")
    with pytest.raises(NotFoundError), session_scope() as s:
        edit_text(s, member=get_member(s, BOB), delivery_id=delivery, text="Not mine")
    with session_scope() as s:
        s.get_one(Delivery, delivery).state = DeliveryState.SENT
    gone = "is sent; only a queued or held"
    with pytest.raises(ConflictError, match=gone), session_scope() as s:
        edit_text(s, member=get_member(s, CAROL), delivery_id=delivery, text="Too late")


# --- a new schedule ---------------------------------------------------------------------------


def test_saving_a_schedule_retimes_the_deliveries_that_no_longer_fit_it() -> None:
    feed = setup()
    deliveries = [approved(feed, CAROL, n) for n in (1, 2, 3)]
    assert [local(d) for d in deliveries] == ["Mon 09:00", "Mon 17:00", "Tue 09:00"]
    with session_scope() as s:
        saved = save_schedule(
            s,
            member=get_member(s, CAROL),
            change=ScheduleChange(slots="mon-sun 17:00"),
            config=CONFIG,
            now=NOW,
        )
    assert saved.retimed.moved == 2
    assert saved.retimed.message() == "2 deliveries moved to the new times"
    # The one at 17:00 stays; the two others take the next 17:00 slots, in their order.
    assert [local(d) for d in deliveries] == ["Tue 17:00", "Mon 17:00", "Wed 17:00"]
    with session_scope() as s:
        reason = s.get_one(Delivery, deliveries[0]).reason
    assert reason.startswith("schedule changed: slot tue 17:00")
    with session_scope() as s:  # saving it again moves nothing
        again = save_schedule(
            s,
            member=get_member(s, CAROL),
            change=ScheduleChange(slots="mon-sun 17:00"),
            config=CONFIG,
            now=NOW,
        )
    assert (again.retimed.moved, again.retimed.message()) == (0, "")


def test_a_lower_cap_moves_what_is_over_it() -> None:
    feed = setup()
    deliveries = [approved(feed, CAROL, n) for n in (1, 2, 3)]
    with session_scope() as s:
        saved = save_schedule(
            s,
            member=get_member(s, CAROL),
            change=ScheduleChange(daily_cap=1),
            config=CONFIG,
            now=NOW,
        )
    assert saved.retimed.message() == "1 delivery moved to the new times"
    assert [local(d) for d in deliveries] == ["Mon 09:00", "Wed 09:00", "Tue 09:00"]


def test_deliveries_that_move_do_not_crowd_each_other_out() -> None:
    # Three at 09:00, 09:30 and 09:45 on Monday; the new slots are 10:00 and 11:00, two a
    # day. None of the old times may count against Monday's cap while they move.
    feed = setup(slots="mon-sun 09:00,09:30,09:45")
    deliveries = [approved(feed, CAROL, n) for n in (1, 2, 3)]
    assert [local(d) for d in deliveries] == ["Mon 09:00", "Mon 09:30", "Mon 09:45"]
    change = ScheduleChange(slots="mon-sun 10:00,11:00", daily_cap=2)
    with session_scope() as s:
        assert (
            save_schedule(
                s, member=get_member(s, CAROL), change=change, config=CONFIG, now=NOW
            ).retimed.moved
            == 3
        )
    assert [local(d) for d in deliveries] == ["Mon 10:00", "Mon 11:00", "Tue 10:00"]
    with session_scope() as s:
        states = {s.get_one(Delivery, d).state for d in deliveries}
    assert states == {DeliveryState.QUEUED}


def test_a_new_time_zone_moves_the_slots_with_it() -> None:
    feed = setup()
    delivery = approved(feed, CAROL, 1)  # Monday 09:00 Chicago
    with session_scope() as s:
        saved = save_schedule(
            s,
            member=get_member(s, CAROL),
            change=ScheduleChange(timezone="Europe/Paris"),
            config=CONFIG,
            now=NOW,
        )
    assert saved.retimed.moved == 1
    with session_scope() as s:
        due = s.get_one(Delivery, delivery).due_at
    assert due.astimezone(ZoneInfo("Europe/Paris")).strftime("%a %H:%M") == "Mon 17:00"


def test_only_queued_deliveries_are_retimed() -> None:
    feed = setup()
    sent, queued = approved(feed, CAROL, 1), approved(feed, CAROL, 2)
    with session_scope() as s:
        s.get_one(Delivery, sent).state = DeliveryState.SENT
    with session_scope() as s:
        saved = save_schedule(
            s,
            member=get_member(s, CAROL),
            change=ScheduleChange(slots="mon-sun 12:00"),
            config=CONFIG,
            now=NOW,
        )
    assert saved.retimed.moved == 1
    assert [local(sent), local(queued)] == ["Mon 09:00", "Mon 12:00"]


# --- history ----------------------------------------------------------------------------------


def test_what_a_dry_run_logged_is_told_apart_from_what_was_sent() -> None:
    feed = setup()
    dry, confirmed, sent = (approved(feed, CAROL, n) for n in (1, 2, 3))
    with session_scope() as s:
        for delivery_id, reason, remote in [
            (dry, DRY_RUN_REASON, None),
            (confirmed, "confirmed by you", None),
            (sent, "sent", "109"),
        ]:
            row = s.get(Delivery, delivery_id)
            assert row is not None
            row.state, row.reason, row.remote_id, row.sent_at = (
                DeliveryState.SENT,
                reason,
                remote,
                NOW,
            )
            row.dry_run = reason == DRY_RUN_REASON  # as the dispatcher marks it
    with session_scope() as s:
        marked = [is_dry_run(s.get_one(Delivery, d)) for d in (dry, confirmed, sent)]
        assert marked == [True, False, False]
        entries = {e.id: e for e in history(s, member=get_member(s, CAROL))}
    assert [entries[d].dry_run for d in (dry, confirmed, sent)] == [True, False, False]
    assert (
        entries[dry].text == "Post 1\n\nhttps://alice.blog/1\n\nvia Alice"
    )  # what would have gone


def test_queue_entries_carry_what_editing_needs() -> None:
    feed = setup()
    approved(feed, CAROL, 1)
    with session_scope() as s:
        (entry,) = list_queue(s, member=get_member(s, CAROL))
    assert (entry.kind, entry.maximum, entry.url_cost, entry.editable) == ("post", 500, 23, True)
