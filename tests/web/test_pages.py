"""The members' pages: stream, queue, history, feeds, tribes, settings, operator."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import col, select

from tests.builders import posts, rss
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tests.web.conftest import World, client_for, csrf, post_form, sign_in
from tribe.core.kinds import DeliveryState, StreamState
from tribe.infra.db import session_scope
from tribe.infra.models import Delivery, Feed, StreamItem
from tribe.members import tribes
from tribe.members.auth import list_tokens
from tribe.members.people import get_member
from tribe.stream.approvals import approve

INPLACE = {"X-Tribe-Inplace": "1"}


def test_every_page_asks_a_stranger_to_sign_in_first(app: TestClient) -> None:
    for path in ["/stream", "/queue", "/history", "/feeds", "/accounts", "/tribes", "/settings"]:
        response = app.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path}"


def test_the_stream_shows_each_post_with_the_text_every_account_would_post(
    app: TestClient, world: World
) -> None:
    world.new_post("Why tomatoes split")
    page = sign_in(app, world.bob.email).get("/stream")
    assert page.status_code == 200
    assert "Why tomatoes split" in page.text
    assert "Tomatoes split when watered unevenly." in page.text  # summary, as plain text
    assert "<b>watered</b>" not in page.text
    assert 'name="text_x"' in page.text
    assert 'name="text_mastodon"' in page.text
    assert 'data-max="280"' in page.text
    assert '<span class="count" data-count="stream">1</span>' in page.text


def test_approving_in_place_answers_a_fragment_with_the_times_in_local_time(
    app: TestClient, world: World
) -> None:
    item = world.item(world.bob, world.new_post())
    sign_in(app, world.bob.email)
    token = csrf(app, "/stream")
    response = app.post(
        f"/stream/{item}/approve", headers={**INPLACE, "X-CSRF-Token": token}, data={}
    )
    assert response.status_code == 200
    assert "Approved." in response.text
    assert "<html" not in response.text
    assert "CST" in response.text or "CDT" in response.text  # Bob's Chicago time
    with session_scope() as s:
        assert len(s.exec(select(Delivery)).all()) == 2
    assert "Why tomatoes split" not in app.get("/stream").text
    queue = app.get("/queue").text
    assert "Why tomatoes split" in queue
    assert "America/Chicago" in queue


def test_edited_text_is_posted_and_unedited_text_stays_the_template(
    app: TestClient, world: World
) -> None:
    item = world.item(world.bob, world.new_post())
    sign_in(app, world.bob.email)
    page = app.get("/stream").text
    mastodon_text = page.split('name="text_mastodon"')[1].split(">", 1)[1].split("</textarea>")[0]
    response = post_form(
        app,
        f"/stream/{item}/approve",
        {"text_x": "Alice nails it https://alice.blog/1", "text_mastodon": mastodon_text},
        page="/stream",
    )
    assert response.status_code == 303
    with session_scope() as s:
        texts = sorted(d.text for d in s.exec(select(Delivery)).all())
    assert "Alice nails it https://alice.blog/1" in texts
    assert any("Why tomatoes split" in t for t in texts)


def test_a_text_that_does_not_fit_is_refused_in_place_and_nothing_is_queued(
    app: TestClient, world: World
) -> None:
    item = world.item(world.bob, world.new_post())
    sign_in(app, world.bob.email)
    token = csrf(app, "/stream")
    response = app.post(
        f"/stream/{item}/approve",
        headers={**INPLACE, "X-CSRF-Token": token},
        data={"text_x": "word " * 100 + "https://alice.blog/1"},
    )
    assert response.status_code == 422
    assert "x" in response.text.lower()
    with session_scope() as s:
        assert s.exec(select(Delivery)).all() == []
        assert s.get_one(StreamItem, item).state == StreamState.PENDING


def test_skip_and_approve_all_visible(app: TestClient, world: World) -> None:
    first = world.item(world.bob, world.new_post("First", 1))
    items = [world.item(world.bob, world.new_post(f"Post {n}", n)) for n in (2, 3)]
    sign_in(app, world.bob.email)
    token = csrf(app, "/stream")
    skipped = app.post(f"/stream/{first}/skip", headers={**INPLACE, "X-CSRF-Token": token})
    assert "Skipped." in skipped.text
    response = post_form(app, "/stream/approve-all", {"item_ids": items}, page="/stream")
    assert response.status_code == 303
    assert "approved 2 posts" in app.get("/stream").text
    with session_scope() as s:
        states = {
            i.id: i.state
            for i in s.exec(select(StreamItem).where(StreamItem.member_id == world.bob.id))
        }
    assert states == {
        first: StreamState.SKIPPED,
        items[0]: StreamState.APPROVED,
        items[1]: StreamState.APPROVED,
    }


def test_someone_elses_stream_item_is_not_found_and_stays_pending(
    app: TestClient, world: World
) -> None:
    item = world.item(world.bob, world.new_post())
    sign_in(app, world.carol.email)
    response = post_form(app, f"/stream/{item}/approve", page="/stream")
    assert response.status_code == 303
    assert "no stream item" in app.get("/stream").text
    with session_scope() as s:
        assert s.get_one(StreamItem, item).state == StreamState.PENDING


def test_the_queue_moves_cancels_and_pauses(app: TestClient, world: World) -> None:
    for n in (1, 2):
        item = world.item(world.carol, world.new_post(f"Post {n}", n))
        with session_scope() as s:
            approve(s, member=get_member(s, world.carol.email), item_id=item)
    with session_scope() as s:
        first, second = s.exec(select(Delivery).order_by(col(Delivery.due_at))).all()
    sign_in(app, world.carol.email)
    post_form(app, f"/queue/{second.id}/move", {"direction": "up"}, page="/queue")
    with session_scope() as s:
        assert s.get_one(Delivery, second.id).due_at == first.due_at
    post_form(app, f"/queue/{first.id}/cancel", page="/queue")
    post_form(app, "/queue/pause", page="/queue")
    page = app.get("/queue").text
    assert "Resume everything" in page
    with session_scope() as s:
        assert s.get_one(Delivery, first.id).state == DeliveryState.CANCELLED
    history = app.get("/history").text
    assert "cancelled" in history


def test_adding_a_feed_checks_it_and_explains_what_is_wrong(
    app: TestClient, world: World, server: FeedServer
) -> None:
    server.routes["/feed"] = Served(rss(posts(3)))
    server.routes["/page"] = Served(
        b"<html><body>a blog page, not a feed</body></html>", content_type="text/html"
    )
    sign_in(app, world.carol.email)
    bad = post_form(app, "/feeds", {"url": server.url("/page")}, page="/feeds")
    assert bad.status_code == 303
    page = app.get("/feeds").text
    assert 'class="flash error"' in page
    assert "not an RSS or Atom feed" in page or "not a feed" in page
    good = post_form(app, "/feeds", {"url": server.url("/feed")}, page="/feeds")
    assert good.status_code == 303
    page = app.get("/feeds").text
    assert "A blog" in page
    assert "3 posts found" in page
    with session_scope() as s:
        feed = s.exec(select(Feed).where(Feed.owner_id == world.carol.id)).one()
    post_form(app, f"/feeds/{feed.id}/remove", page="/feeds")
    assert "A blog" not in app.get("/feeds").text.split("</h1>")[1].split("removed")[0]
    with session_scope() as s:
        assert s.get_one(Feed, feed.id).removed_at is not None


def test_a_chief_edits_renews_the_invite_answers_requests_and_hands_over(
    app: TestClient, world: World
) -> None:
    sign_in(app, world.alice.email)
    page = app.get(f"/tribes/{world.slug}").text
    assert "http://127.0.0.1:8000/join/" in page
    post_form(
        app,
        f"/tribes/{world.slug}",
        {"description": "We grow things", "is_open": "true"},
        page=f"/tribes/{world.slug}",
    )
    dave = sign_in(client_for(app), world.dave.email)
    assert "We grow things" in dave.get("/tribes").text
    post_form(dave, f"/tribes/{world.slug}/join", {"message": "I grow beans"}, page="/tribes")
    page = app.get(f"/tribes/{world.slug}").text
    assert "I grow beans" in page
    with session_scope() as s:
        (request,) = tribes.join_requests(
            s, member=get_member(s, world.alice.email), slug=world.slug
        )
    post_form(
        app,
        f"/tribes/{world.slug}/requests/{request.id}",
        {"accept": "true"},
        page=f"/tribes/{world.slug}",
    )
    assert "Dave" in app.get(f"/tribes/{world.slug}").text
    post_form(
        app, f"/tribes/{world.slug}/members/{world.bob.id}/chief", page=f"/tribes/{world.slug}"
    )
    with session_scope() as s:
        info = tribes.tribe_info(s, member=get_member(s, world.bob.email), slug=world.slug)
    assert info.my_role == "chief"
    assert info.chief_name == "Bob"


def test_a_member_cannot_use_the_chiefs_powers(app: TestClient, world: World) -> None:
    sign_in(app, world.carol.email)
    page = app.get(f"/tribes/{world.slug}").text
    assert "/join/" not in page  # no invite link for members
    for path in [
        f"/tribes/{world.slug}",
        f"/tribes/{world.slug}/invite",
        f"/tribes/{world.slug}/members/{world.bob.id}/remove",
    ]:
        post_form(app, path, {"description": "taken over"}, page="/tribes")
        assert "only the chief" in app.get("/tribes").text
    with session_scope() as s:
        info = tribes.tribe_info(s, member=get_member(s, world.bob.email), slug=world.slug)
        assert info.description == ""
        assert len(tribes.mates(s, member=get_member(s, world.bob.email), slug=world.slug)) == 3


def test_api_tokens_are_shown_once_and_revoked_from_settings(app: TestClient, world: World) -> None:
    sign_in(app, world.bob.email)
    made = post_form(app, "/settings/tokens", {"name": "my script"}, page="/settings")
    secret = made.text.split('id="new-token"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert secret.startswith("tribe_")
    assert app.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    settings_page = app.get("/settings").text
    assert secret not in settings_page
    assert "my script" in settings_page
    with session_scope() as s:
        (token,) = list_tokens(s, member=get_member(s, world.bob.email))
    post_form(app, f"/settings/tokens/{token.id}/revoke", page="/settings")
    assert app.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_only_the_operator_sees_every_feed_and_its_errors(app: TestClient, world: World) -> None:
    with session_scope() as s:
        feed = s.get(Feed, world.feed_id)
        assert feed is not None
        feed.error_message, feed.error_count = "the server answered 500", 3
    sign_in(app, world.alice.email)
    assert app.get("/admin").status_code == 404
    with session_scope() as s:
        get_member(s, world.dave.email).is_operator = True
    operator = sign_in(client_for(app), world.dave.email)
    page = operator.get("/admin").text
    assert "the server answered 500" in page
    assert "https://alice.blog/feed" in page
    assert "Writers" in page
