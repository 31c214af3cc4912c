"""The page actions a member uses less often than the stream: each one done through its
form, and what the page then shows."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import col, select

from tests.web.conftest import World, client_for, post_form, sign_in
from tribe.core.kinds import Connection, DeliveryState, MembershipStatus, Network, PollOutcome
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Delivery, Feed, Member, Membership, Tribe
from tribe.members import tribes
from tribe.members.people import get_member
from tribe.stream.approvals import approve


def carol_has_a_delivery(world: World) -> Delivery:
    item = world.item(world.carol, world.new_post())
    with session_scope() as s:
        approve(s, member=get_member(s, world.carol.email), item_id=item)
    with session_scope() as s:
        delivery = s.exec(select(Delivery)).one()
        s.expunge(delivery)
        return delivery


def bobs_accounts() -> dict[Network, Account]:
    with session_scope() as s:
        rows = s.exec(select(Account).join(Member).where(Member.display_name == "Bob")).all()
        for row in rows:
            s.expunge(row)
        return {a.network: a for a in rows}


def test_the_queue_says_why_each_reshare_goes_out_when_it_does(
    app: TestClient, world: World
) -> None:
    delivery = carol_has_a_delivery(world)
    assert delivery.reason  # the slot, gap or cap that decided the time
    page = sign_in(app, world.carol.email).get("/queue").text
    assert f"Why then: {html.escape(delivery.reason)}" in page


def test_one_account_pauses_and_resumes_even_after_pausing_everything(
    app: TestClient, world: World
) -> None:
    accounts = bobs_accounts()
    x, mastodon = accounts[Network.X], accounts[Network.MASTODON]
    sign_in(app, world.bob.email)
    post_form(app, "/queue/pause", {"account_id": x.id}, page="/queue")
    assert bobs_accounts()[Network.X].paused
    assert not bobs_accounts()[Network.MASTODON].paused
    post_form(app, "/queue/pause", page="/queue")
    assert app.get("/queue").text.count('<span class="badge">paused</span>') == 2
    post_form(app, "/queue/resume", {"account_id": mastodon.id}, page="/queue")
    page = app.get("/queue").text
    assert page.count('<span class="badge">paused</span>') == 1
    assert "Pause everything" in page
    assert {n: a.paused for n, a in bobs_accounts().items()} == {
        Network.X: True,
        Network.MASTODON: False,
    }


def test_history_says_what_went_wrong_and_offers_what_to_do(app: TestClient, world: World) -> None:
    failed = carol_has_a_delivery(world)
    second = world.item(world.carol, world.new_post(n=2))
    with session_scope() as s:
        approve(s, member=get_member(s, world.carol.email), item_id=second)
    with session_scope() as s:
        account = s.get(Account, failed.account_id)
        assert account is not None
        account.connection = Connection.CONNECTED
        for row in s.exec(select(Delivery)).all():
            if row.id == failed.id:
                row.state, row.reason = DeliveryState.FAILED, "X refused the text: a duplicate"
            else:
                row.state, row.reason = DeliveryState.UNCONFIRMED, "no answer in time"
                unsure_id = row.id
    sign_in(app, world.carol.email)
    page = app.get("/history").text
    assert "It failed: X refused the text: a duplicate. You can queue it again" in page
    assert "tribe could not tell whether it went out (no answer in time)" in page
    assert f'action="/history/{failed.id}/retry"' in page
    assert f'action="/history/{unsure_id}/confirm"' in page
    assert f'action="/history/{failed.id}/confirm"' not in page  # only an unconfirmed one

    post_form(app, f"/history/{unsure_id}/confirm", page="/history")
    post_form(app, f"/history/{failed.id}/retry", page="/history")
    assert "queued again for" in app.get("/queue").text
    with session_scope() as s:
        states = {d.id: d.state for d in s.exec(select(Delivery)).all()}
    assert states == {failed.id: DeliveryState.QUEUED, unsure_id: DeliveryState.SENT}


def test_the_feeds_page_shows_status_last_and_next_poll_in_local_time(
    app: TestClient, world: World
) -> None:
    polled = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    with session_scope() as s:
        feed = s.get(Feed, world.feed_id)
        assert feed is not None
        feed.last_polled_at, feed.next_poll_at = polled, polled + timedelta(minutes=15)
        feed.last_outcome, feed.error_message = PollOutcome.ERROR, "the server answered HTTP 500"
    page = sign_in(app, world.alice.email).get("/feeds").text  # Alice lives in Paris
    assert "<dt>Status</dt><dd>error</dd>" in page
    assert "12:00" in page  # last poll, 10:00 UTC
    assert "12:15" in page  # next poll
    assert "Last error: the server answered HTTP 500" in page


def test_accounts_show_their_state_and_disconnect(app: TestClient, world: World) -> None:
    x = bobs_accounts()[Network.X]
    with session_scope() as s:
        account = s.get(Account, x.id)
        assert account is not None
        account.connection = Connection.NEEDS_RECONNECT
    sign_in(app, world.bob.email)
    assert "needs reconnect" in app.get("/accounts").text
    done = post_form(app, f"/accounts/{x.id}/disconnect", page="/accounts")
    assert done.status_code == 303
    assert "disconnected @bob; its queued reshares are held" in app.get("/accounts").text
    assert bobs_accounts()[Network.X].connection == Connection.UNCONNECTED


def membership(slug: str, member: Member) -> Membership | None:
    with session_scope() as s:
        found = s.exec(
            select(Membership)
            .join(Tribe, col(Tribe.id) == col(Membership.tribe_id))
            .where(Tribe.slug == slug, Membership.member_id == member.id)
        ).first()
        if found is not None:
            s.expunge(found)
        return found


def test_a_member_creates_a_tribe_and_becomes_its_chief(app: TestClient, world: World) -> None:
    sign_in(app, world.dave.email)
    made = post_form(
        app, "/tribes", {"name": "Night Bakers", "description": "Bread"}, page="/tribes"
    )
    assert made.headers["location"] == "/tribes/night-bakers"
    page = app.get("/tribes/night-bakers").text
    assert "your tribe is ready" in page
    assert "/join/" in page  # the chief's invite link
    with session_scope() as s:
        info = tribes.tribe_info(s, member=get_member(s, world.dave.email), slug="night-bakers")
    assert info.my_role == "chief"
    refused = post_form(app, "/tribes", {"name": "   "}, page="/tribes")
    assert refused.status_code == 303
    assert 'class="flash error"' in app.get("/tribes").text


def test_a_chief_refuses_a_request_and_removes_a_member(app: TestClient, world: World) -> None:
    alice = sign_in(app, world.alice.email)
    post_form(alice, f"/tribes/{world.slug}", {"is_open": "true"}, page=f"/tribes/{world.slug}")
    dave = sign_in(client_for(app), world.dave.email)
    post_form(dave, f"/tribes/{world.slug}/join", page="/tribes")
    with session_scope() as s:
        (request,) = tribes.join_requests(
            s, member=get_member(s, world.alice.email), slug=world.slug
        )
    post_form(alice, f"/tribes/{world.slug}/requests/{request.id}", page=f"/tribes/{world.slug}")
    assert "refused" in alice.get(f"/tribes/{world.slug}").text
    assert membership(world.slug, world.dave) is None

    post_form(
        alice, f"/tribes/{world.slug}/members/{world.carol.id}/remove", page=f"/tribes/{world.slug}"
    )
    assert "removed from the tribe" in alice.get(f"/tribes/{world.slug}").text
    removed = membership(world.slug, world.carol)
    assert removed is None or removed.status != MembershipStatus.ACTIVE


def test_a_member_mutes_a_tribemate_and_leaves(app: TestClient, world: World) -> None:
    sign_in(app, world.bob.email)
    tribe_page = f"/tribes/{world.slug}"
    post_form(
        app, f"{tribe_page}/members/{world.alice.id}/mute", {"muted": "true"}, page=tribe_page
    )
    assert '<span class="badge warn">muted</span>' in app.get(tribe_page).text
    world.new_post("Muted, so not for Bob", n=7)
    assert "Muted, so not for Bob" not in app.get("/stream").text
    post_form(
        app, f"{tribe_page}/members/{world.alice.id}/mute", {"muted": "false"}, page=tribe_page
    )
    assert '<span class="badge warn">muted</span>' not in app.get(tribe_page).text

    myself = post_form(
        app, f"{tribe_page}/members/{world.bob.id}/mute", {"muted": "true"}, page=tribe_page
    )
    assert myself.status_code == 303
    assert "that is you" in app.get(tribe_page).text

    post_form(app, f"{tribe_page}/leave", page=tribe_page)
    assert f"you left {world.slug}" in app.get("/tribes").text
    left = membership(world.slug, world.bob)
    assert left is None or left.status != MembershipStatus.ACTIVE
