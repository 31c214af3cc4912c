"""Membership is checked where it is used: leaving or removal withdraws what the tribe
brought into streams, both ways, and approving re-checks that the member and the author
still share an active tribe."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from tests import builders as b
from tribe.core.kinds import DeliveryState, MembershipStatus, StreamState
from tribe.infra.db import session_scope
from tribe.infra.models import Delivery, Membership, Post, StreamItem
from tribe.members import tribes
from tribe.members.accounts import ScheduleChange, add_account, set_schedule
from tribe.members.people import add_to_tribe, get_member, get_tribe
from tribe.stream.approvals import ApprovalConfig, WithdrawnError, approve, approve_all, skip
from tribe.stream.items import count_pending, fan_out, pending_stream
from tribe.stream.preferences import auto_approve_pending, set_auto_approve
from tribe.stream.texts import template_preview

pytestmark = pytest.mark.usefixtures("db")

CONFIG = ApprovalConfig()
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EMAILS = {n: f"{n}@example.com" for n in ("alice", "bob", "carol", "dave")}


def setup() -> dict[str, int]:
    """alice (chief), bob and carol are "Writers"; carol and alice are also "Poets".
    Everyone writes a blog and has an X account."""
    ids: dict[str, int] = {}
    with session_scope() as s:
        alice, bob, carol = (b.member(s, n) for n in ("Alice", "Bob", "Carol"))
        b.tribe(s, "Writers", alice, bob, carol)
        b.tribe(s, "Poets", carol, alice)
        for m in (alice, bob, carol):
            name = m.display_name.lower()
            ids[f"{name}_feed"] = b.pk(b.feed(s, m, f"https://{name}.blog/feed"))
            ids[name] = b.pk(m)
            add_account(s, member=m, network="x", handle=f"@{name}")
            set_schedule(s, member=m, change=ScheduleChange(slots="mon-sun 09:00,17:00"))
    return ids


def new_post(feed_id: int, n: int) -> int:
    with session_scope() as s:
        post = Post(
            feed_id=feed_id,
            entry_key=f"k{n}",
            url=f"https://blog.example/{n}",
            title=f"Post {n}",
            discovered_at=NOW - timedelta(minutes=5),
        )
        s.add(post)
        s.flush()
        assert post.id is not None
        fan_out(s, [post.id], now=NOW - timedelta(minutes=5))
        return post.id


def item(member_id: int, post_id: int) -> StreamItem:
    with session_scope() as s:
        row = s.exec(
            select(StreamItem).where(
                StreamItem.member_id == member_id, StreamItem.post_id == post_id
            )
        ).one()
        s.expunge(row)
        return row


def states(ids: dict[str, int], post_id: int) -> dict[str, StreamState]:
    with session_scope() as s:
        rows = s.exec(select(StreamItem).where(StreamItem.post_id == post_id)).all()
    names = {v: k for k, v in ids.items() if not k.endswith("_feed")}
    return {names[r.member_id]: r.state for r in rows}


def deliveries() -> list[Delivery]:
    with session_scope() as s:
        return list(s.exec(select(Delivery).order_by(col(Delivery.id))).all())


def left_behind_the_stream(slug: str, member_id: int) -> None:
    """Membership ended without the withdrawal (a fan-out racing the removal, or data
    from before it): only the checks where items are used stand in the way."""
    with session_scope() as s:
        tribe = get_tribe(s, slug)
        row = s.exec(
            select(Membership).where(
                Membership.tribe_id == tribe.id, Membership.member_id == member_id
            )
        ).one()
        row.status = MembershipStatus.LEFT


def test_removal_withdraws_pending_items_both_ways_and_keeps_them() -> None:
    ids = setup()
    alices, bobs = new_post(ids["alice_feed"], 1), new_post(ids["bob_feed"], 2)
    approved = new_post(ids["alice_feed"], 3)
    bobs_approved = item(ids["bob"], approved).id or 0
    with session_scope() as s:
        approve(s, member=get_member(s, EMAILS["bob"]), item_id=bobs_approved, now=NOW)
    with session_scope() as s:
        tribes.remove_member(
            s, member=get_member(s, EMAILS["alice"]), slug="writers", member_id=ids["bob"], now=NOW
        )
    # Bob's item for Alice's post, and Alice's and Carol's items for Bob's post.
    assert states(ids, alices) == {"bob": StreamState.WITHDRAWN, "carol": StreamState.PENDING}
    assert states(ids, bobs) == {"alice": StreamState.WITHDRAWN, "carol": StreamState.WITHDRAWN}
    assert item(ids["bob"], alices).decided_at == NOW
    # What Bob already approved stays as he decided.
    assert states(ids, approved)["bob"] == StreamState.APPROVED
    assert [d.state for d in deliveries()] == [DeliveryState.QUEUED]
    with session_scope() as s:
        assert pending_stream(s, member=get_member(s, EMAILS["bob"])) == []
        assert [e.title for e in pending_stream(s, member=get_member(s, EMAILS["carol"]))] == [
            "Post 3",
            "Post 1",
        ]


def test_leaving_withdraws_pending_items_both_ways() -> None:
    ids = setup()
    alices, bobs = new_post(ids["alice_feed"], 1), new_post(ids["bob_feed"], 2)
    with session_scope() as s:
        tribes.leave(s, member=get_member(s, EMAILS["bob"]), slug="writers", now=NOW)
    assert states(ids, alices) == {"bob": StreamState.WITHDRAWN, "carol": StreamState.PENDING}
    assert states(ids, bobs) == {"alice": StreamState.WITHDRAWN, "carol": StreamState.WITHDRAWN}


def test_a_post_shared_through_two_tribes_stays_pending_when_one_is_left() -> None:
    ids = setup()
    alices, carols = new_post(ids["alice_feed"], 1), new_post(ids["carol_feed"], 2)
    with session_scope() as s:
        tribes.leave(s, member=get_member(s, EMAILS["carol"]), slug="writers", now=NOW)
    # Carol and Alice are still both Poets; Carol and Bob share nothing any more.
    assert states(ids, alices) == {"bob": StreamState.PENDING, "carol": StreamState.PENDING}
    assert states(ids, carols) == {"alice": StreamState.PENDING, "bob": StreamState.WITHDRAWN}
    still = item(ids["carol"], alices).id or 0
    with session_scope() as s:
        approve(s, member=get_member(s, EMAILS["carol"]), item_id=still, now=NOW)


def test_rejoining_does_not_bring_withdrawn_items_back_but_new_posts_arrive() -> None:
    ids = setup()
    before = new_post(ids["alice_feed"], 1)
    with session_scope() as s:
        tribes.remove_member(
            s, member=get_member(s, EMAILS["alice"]), slug="writers", member_id=ids["bob"]
        )
    with session_scope() as s:
        add_to_tribe(s, tribe=get_tribe(s, "writers"), member=get_member(s, EMAILS["bob"]))
        fan_out(s, [before], now=NOW)  # a repeated fan-out changes nothing
    after = new_post(ids["alice_feed"], 2)
    assert states(ids, before)["bob"] == StreamState.WITHDRAWN
    assert states(ids, after)["bob"] == StreamState.PENDING
    with session_scope() as s:
        assert [e.title for e in pending_stream(s, member=get_member(s, EMAILS["bob"]))] == [
            "Post 2"
        ]
    withdrawn = item(ids["bob"], before).id or 0
    with session_scope() as s, pytest.raises(WithdrawnError, match="no longer share a tribe"):
        approve(s, member=get_member(s, EMAILS["bob"]), item_id=withdrawn, now=NOW)
    with session_scope() as s, pytest.raises(WithdrawnError):
        skip(s, member=get_member(s, EMAILS["bob"]), item_id=withdrawn, now=NOW)


def test_the_stream_lists_only_authors_who_still_share_a_tribe() -> None:
    ids = setup()
    new_post(ids["alice_feed"], 1)
    new_post(ids["carol_feed"], 2)
    left_behind_the_stream("writers", ids["bob"])
    with session_scope() as s:
        assert pending_stream(s, member=get_member(s, EMAILS["bob"])) == []
        assert pending_stream(s, member=get_member(s, EMAILS["bob"]), limit=10, offset=0) == []
        assert count_pending(s, member=get_member(s, EMAILS["bob"])) == 0
        # Nor does a former tribemate's post serve as the template's example.
        preview = template_preview(
            s, member=get_member(s, EMAILS["bob"]), network="x", template="{title} {url}"
        )
    assert "Post" not in preview


def test_approving_when_no_tribe_is_shared_any_more_is_refused_and_queues_nothing() -> None:
    ids = setup()
    post = new_post(ids["alice_feed"], 1)
    left_behind_the_stream("writers", ids["bob"])
    stale = item(ids["bob"], post).id or 0
    with session_scope() as s, pytest.raises(WithdrawnError, match="Alice no longer share"):
        approve(s, member=get_member(s, EMAILS["bob"]), item_id=stale, now=NOW)
    assert deliveries() == []
    with session_scope() as s, pytest.raises(WithdrawnError):
        approve(s, member=get_member(s, EMAILS["bob"]), item_id=stale, now=NOW)
    assert deliveries() == []


def test_approve_all_skips_an_item_whose_author_no_longer_shares_a_tribe() -> None:
    ids = setup()
    alices, carols = new_post(ids["alice_feed"], 1), new_post(ids["carol_feed"], 2)
    mine = [item(ids["bob"], alices).id or 0, item(ids["bob"], carols).id or 0]
    with session_scope() as s:  # Carol leaves "Writers" behind the stream's back
        left = s.exec(
            select(Membership).where(
                Membership.member_id == ids["carol"],
                Membership.tribe_id == get_tribe(s, "writers").id,
            )
        ).one()
        left.status = MembershipStatus.LEFT
    with session_scope() as s:
        outcome = approve_all(s, member=get_member(s, EMAILS["bob"]), item_ids=mine, now=NOW)
    assert [d.item_id for d in outcome.decisions] == [mine[0]]
    assert len(outcome.errors) == 1
    assert outcome.errors[0].startswith(f"#{mine[1]}: ")
    assert "no longer share a tribe" in outcome.errors[0]
    assert [d.post_id for d in deliveries()] == [alices]


def test_auto_approve_does_not_fire_for_a_former_tribemate() -> None:
    ids = setup()
    with session_scope() as s:
        set_auto_approve(
            s,
            member=get_member(s, EMAILS["bob"]),
            author=get_member(s, EMAILS["alice"]),
            enabled=True,
        )
        set_auto_approve(
            s,
            member=get_member(s, EMAILS["bob"]),
            author=get_member(s, EMAILS["carol"]),
            enabled=True,
        )
    alices, carols = new_post(ids["alice_feed"], 1), new_post(ids["carol_feed"], 2)
    left_behind_the_stream("writers", ids["alice"])
    with session_scope() as s:
        assert auto_approve_pending(s, now=NOW, config=CONFIG) == 1
    assert [d.post_id for d in deliveries()] == [carols]
    assert item(ids["bob"], alices).state != StreamState.APPROVED
    assert item(ids["bob"], carols).state == StreamState.APPROVED
