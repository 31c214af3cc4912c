"""The stream page, live: new posts announced after an id and shown as fragments, skips
undone (in place, from "Skipped recently", by the API), tribes named, and mute and
auto-approve set from the tribe page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlmodel import col, select

from tests import builders as b
from tests.web.conftest import (
    World,
    api_token,
    as_response,
    client_for,
    csrf,
    post_form,
    sign_in,
)
from tribe.core.kinds import StreamState
from tribe.infra.db import session_scope
from tribe.infra.models import Preference, StreamItem
from tribe.members import tribes
from tribe.members.people import get_member
from tribe.stream.approvals import ApprovalConfig, approve, skip
from tribe.stream.items import new_entries
from tribe.stream.preferences import auto_approve_pending

INPLACE = {"X-Tribe-Inplace": "1"}
API = "/api/v1"


def after_of(page: str) -> int:
    """The id the stream page asks for new posts after."""
    match = re.search(r'data-after="(\d+)"', page)
    assert match, page
    return int(match.group(1))


def waiting_of(page: str) -> int:
    match = re.search(r"<span data-waiting[^>]*>(\d+)</span> waiting", page)
    assert match, page
    return int(match.group(1))


def state_of(item_id: int) -> StreamState:
    with session_scope() as s:
        item = s.get(StreamItem, item_id)
        assert item is not None
        return item.state


def inplace_post(client: TestClient, path: str) -> httpx.Response:
    return as_response(
        client.post(path, headers={**INPLACE, "X-CSRF-Token": csrf(client, "/stream")})
    )


# --- new posts while the page is open ---------------------------------------------------------


def test_new_posts_are_counted_after_the_pages_newest_item_and_only_the_members_own(
    app: TestClient, world: World
) -> None:
    old = world.item(world.bob, world.new_post("Before the page", 1))
    bob = sign_in(app, world.bob.email)
    after = after_of(bob.get("/stream").text)
    assert after == old
    assert bob.get(f"/stream/new?after={after}").json() == {"count": 0}

    first = world.item(world.bob, world.new_post("After the page", 2))
    world.new_post("And another", 3)
    assert bob.get(f"/stream/new?after={after}").json() == {"count": 2}
    assert bob.get(f"/stream/new?after={first}").json() == {"count": 1}

    # Carol got the same posts in her own stream; Dave, in another tribe, got nothing.
    carol = sign_in(client_for(app), world.carol.email)
    assert carol.get("/stream/new?after=0").json() == {"count": 3}
    dave = sign_in(client_for(app), world.dave.email)
    assert dave.get("/stream/new?after=0").json() == {"count": 0}

    # A decided item is no longer new.
    with session_scope() as s:
        skip(s, member=get_member(s, world.bob.email), item_id=first)
    assert bob.get(f"/stream/new?after={after}").json() == {"count": 1}
    assert carol.get("/stream/new?after=0").json() == {"count": 3}


def test_asking_for_new_posts_needs_a_signed_in_member_and_a_sane_id(
    app: TestClient, world: World
) -> None:
    assert app.get("/stream/new?after=0", headers=INPLACE).status_code == 401
    sign_in(app, world.bob.email)
    for bad in ("-1", "nope", str(2**63)):
        response = app.get(f"/stream/new?after={bad}", headers=INPLACE)
        assert 400 <= response.status_code < 500, response.text
    assert app.get("/stream/items?after=-1", headers=INPLACE).status_code < 500


def test_the_fragment_shows_the_new_items_as_the_page_does(app: TestClient, world: World) -> None:
    world.item(world.bob, world.new_post("Before the page", 1))
    bob = sign_in(app, world.bob.email)
    page = bob.get("/stream").text
    after = after_of(page)
    second = world.item(world.bob, world.new_post("Second new", 2))
    third = world.item(world.bob, world.new_post("Third new", 3))

    fragment = bob.get(f"/stream/items?after={after}", headers=INPLACE)
    assert fragment.status_code == 200
    html = fragment.text
    assert "<html" not in html
    # Bob's two, newest first; Carol's items of the same posts (ids in between) are hers.
    assert re.findall(r'id="item-(\d+)"', html) == [str(third), str(second)]
    assert "Before the page" not in html
    assert "Third new" in html
    assert "Second new" in html
    # The same item markup as the page: the forms, the texts per account, the CSRF token.
    assert f'action="/stream/{third}/approve"' in html
    assert f'formaction="/stream/{third}/skip"' in html
    assert 'name="text_x"' in html
    assert 'name="text_mastodon"' in html
    token = csrf(bob, "/stream")
    assert f'name="csrf_token" value="{token}"' in html
    assert "by Alice · Writers · " in html

    # What the fragment returns can be acted on in place, like any item of the page.
    done = bob.post(f"/stream/{third}/skip", headers={**INPLACE, "X-CSRF-Token": token})
    assert "Skipped." in done.text
    assert bob.get(f"/stream/items?after={third}").text.strip() == ""


def test_new_items_come_a_page_at_a_time_oldest_first(world: World) -> None:
    ids = [world.item(world.bob, world.new_post(f"Post {n}", n)) for n in range(1, 6)]
    with session_scope() as s:
        first = new_entries(s, member=get_member(s, world.bob.email), after=ids[0], limit=2)
        rest = new_entries(
            s, member=get_member(s, world.bob.email), after=first[-1].item_id, limit=10
        )
    assert [e.item_id for e in first] == ids[1:3]
    assert [e.item_id for e in rest] == ids[3:]


def test_the_page_gives_the_counts_its_script_keeps_up_to_date(
    app: TestClient, world: World
) -> None:
    ids = [world.item(world.bob, world.new_post(f"Post {n}", n)) for n in range(1, 4)]
    bob = sign_in(app, world.bob.email)
    page = bob.get("/stream").text
    assert waiting_of(page) == 3
    assert 'data-elsewhere="0"' in page
    assert "Approve all 3 shown" in page
    assert re.findall(r'name="item_ids" value="(\d+)"', page) == [str(i) for i in ids[::-1]]
    assert "<kbd>Ctrl</kbd>+<kbd>Enter</kbd>" in page
    assert "<kbd>Esc</kbd>" in page
    assert "/static/stream.js" in page
    assert "/static/stream.css" in page
    assert bob.get("/static/stream.js").status_code == 200

    with session_scope() as s:
        skip(s, member=get_member(s, world.bob.email), item_id=ids[0])
    assert waiting_of(bob.get("/stream").text) == 2


def test_approve_all_takes_more_than_a_page_of_items_once_new_ones_were_shown(
    app: TestClient, world: World
) -> None:
    ids = [world.item(world.carol, world.new_post(f"Post {n}", n)) for n in range(1, 28)]
    carol = sign_in(app, world.carol.email)
    response = post_form(carol, "/stream/approve-all", {"item_ids": ids}, page="/stream")
    assert response.status_code == 303
    flash = carol.get("/stream").text.split('<p class="flash')[1].split("</p>")[0]
    assert "item_ids" not in flash  # not refused as too many
    with session_scope() as s:
        states = [i.state for i in s.exec(select(StreamItem).where(col(StreamItem.id).in_(ids)))]
    # Each was tried: those her queue had room for are approved (the rest say why not).
    approved = states.count(StreamState.APPROVED)
    assert approved > 0
    assert f"approved {approved} posts" in flash


# --- tribes by name ---------------------------------------------------------------------------


def test_items_name_the_shared_tribes_by_name_and_the_api_keeps_the_slugs(
    app: TestClient, world: World
) -> None:
    with session_scope() as s:
        owls = b.tribe(s, "Night Owls & Co", world.alice, world.bob)
        owls_slug = owls.slug
    item = world.item(world.bob, world.new_post())
    bob = sign_in(app, world.bob.email)
    page = bob.get("/stream").text
    assert "by Alice · Night Owls &amp; Co, Writers · " in page
    assert owls_slug != "Night Owls & Co"
    assert f"· {owls_slug}" not in page

    (entry,) = app.get(f"{API}/stream", headers=api_token(world.bob.email)).json()["data"]
    assert entry["id"] == item
    assert entry["tribe_names"] == ["Night Owls & Co", "Writers"]
    assert entry["tribes"] == [owls_slug, world.slug]


# --- undoing a skip ---------------------------------------------------------------------------


def test_a_skip_is_undone_in_place_once(app: TestClient, world: World) -> None:
    item = world.item(world.bob, world.new_post())
    bob = sign_in(app, world.bob.email)
    skipped = inplace_post(bob, f"/stream/{item}/skip")
    assert "Skipped." in skipped.text
    assert f'action="/stream/{item}/unskip"' in skipped.text
    assert "Undo" in skipped.text
    assert 'name="csrf_token"' in skipped.text
    assert state_of(item) == StreamState.SKIPPED

    undone = inplace_post(bob, f"/stream/{item}/unskip")
    assert undone.status_code == 200
    assert undone.headers["X-Tribe-Stream"] == "1"
    assert f'id="item-{item}"' in undone.text
    assert f'action="/stream/{item}/approve"' in undone.text
    assert state_of(item) == StreamState.PENDING
    with session_scope() as s:
        row = s.get(StreamItem, item)
        assert row is not None
        assert row.decided_at is None

    again = inplace_post(bob, f"/stream/{item}/unskip")
    assert again.status_code == 200
    assert again.headers["X-Tribe-Stream"] == "0"
    assert state_of(item) == StreamState.PENDING
    assert waiting_of(bob.get("/stream").text) == 1


def test_a_skip_is_undone_from_the_skipped_recently_list(app: TestClient, world: World) -> None:
    items = [world.item(world.bob, world.new_post(f"Post {n}", n)) for n in (1, 2, 3)]
    bob = sign_in(app, world.bob.email)
    assert "Skipped recently" not in bob.get("/stream").text
    now = datetime.now(UTC)
    with session_scope() as s:
        for n, item in enumerate(items):
            skip(
                s,
                member=get_member(s, world.bob.email),
                item_id=item,
                now=now + timedelta(minutes=n),
            )
    page = bob.get("/stream").text
    assert "Skipped recently" in page
    listed = re.findall(r'<li id="skipped-(\d+)">', page)
    assert listed == [str(i) for i in items[::-1]]  # the last skipped first
    assert f'action="/stream/{items[1]}/unskip"' in page

    response = post_form(bob, f"/stream/{items[1]}/unskip", page="/stream")
    assert response.status_code == 303
    page = bob.get("/stream").text
    assert "back in your stream" in page
    assert state_of(items[1]) == StreamState.PENDING
    assert re.findall(r'<li id="skipped-(\d+)">', page) == [str(items[2]), str(items[0])]
    assert f'id="item-{items[1]}"' in page
    assert waiting_of(page) == 1

    post_form(bob, f"/stream/{items[1]}/unskip", page="/stream")  # twice: nothing changes
    assert state_of(items[1]) == StreamState.PENDING
    assert waiting_of(bob.get("/stream").text) == 1


def test_the_skipped_list_keeps_the_last_twenty(app: TestClient, world: World) -> None:
    items = [world.item(world.bob, world.new_post(f"Post {n}", n)) for n in range(1, 23)]
    with session_scope() as s:
        for item in items:
            skip(s, member=get_member(s, world.bob.email), item_id=item)
    page = sign_in(app, world.bob.email).get("/stream").text
    assert len(re.findall(r'<li id="skipped-(\d+)">', page)) == 20


def test_an_item_too_old_to_come_back_stays_skipped(app: TestClient, world: World) -> None:
    item = world.item(world.bob, world.new_post())
    with session_scope() as s:
        skip(s, member=get_member(s, world.bob.email), item_id=item)
        row = s.get(StreamItem, item)
        assert row is not None
        row.created_at = datetime.now(UTC) - ApprovalConfig().expiry - timedelta(hours=1)
    bob = sign_in(app, world.bob.email)
    assert "Skipped recently" not in bob.get("/stream").text
    refused = inplace_post(bob, f"/stream/{item}/unskip")
    assert refused.status_code == 409
    assert "too old to come back" in refused.text
    assert state_of(item) == StreamState.SKIPPED


def test_an_item_whose_author_is_no_tribemate_any_more_stays_skipped(
    app: TestClient, world: World
) -> None:
    item = world.item(world.bob, world.new_post())
    with session_scope() as s:
        skip(s, member=get_member(s, world.bob.email), item_id=item)
    bob = sign_in(app, world.bob.email)
    assert f"skipped-{item}" in bob.get("/stream").text
    with session_scope() as s:
        tribes.leave(s, member=get_member(s, world.bob.email), slug=world.slug)
    assert f"skipped-{item}" not in bob.get("/stream").text
    refused = inplace_post(bob, f"/stream/{item}/unskip")
    assert refused.status_code == 409
    assert "no longer share a tribe" in refused.text
    assert state_of(item) == StreamState.SKIPPED


def test_only_a_skip_is_undone_and_only_by_its_member(app: TestClient, world: World) -> None:
    approved = world.item(world.bob, world.new_post("Approved", 1))
    skipped = world.item(world.bob, world.new_post("Skipped", 2))
    with session_scope() as s:
        approve(s, member=get_member(s, world.bob.email), item_id=approved)
        skip(s, member=get_member(s, world.bob.email), item_id=skipped)
    bob = sign_in(app, world.bob.email)
    refused = inplace_post(bob, f"/stream/{approved}/unskip")
    assert refused.status_code == 409
    assert state_of(approved) == StreamState.APPROVED

    carol = sign_in(client_for(app), world.carol.email)
    assert inplace_post(carol, f"/stream/{skipped}/unskip").status_code == 404
    assert inplace_post(carol, f"/stream/{2**63}/unskip").status_code == 404
    assert state_of(skipped) == StreamState.SKIPPED


def test_the_api_undoes_a_skip(app: TestClient, world: World) -> None:
    auth = api_token(world.bob.email)
    item = world.item(world.bob, world.new_post("One", 1))
    approved = world.item(world.bob, world.new_post("Two", 2))
    assert app.post(f"{API}/stream/{item}/skip", headers=auth).json()["state"] == "skipped"
    undone = app.post(f"{API}/stream/{item}/unskip", headers=auth)
    assert undone.status_code == 200
    body = undone.json()
    assert body["state"] == "pending"
    assert body["repeated"] is False
    assert body["queued"] == []
    again = app.post(f"{API}/stream/{item}/unskip", headers=auth).json()
    assert again["repeated"] is True
    assert state_of(item) == StreamState.PENDING
    assert item in [i["id"] for i in app.get(f"{API}/stream", headers=auth).json()["data"]]

    app.post(f"{API}/stream/{approved}/approve", headers=auth)
    conflict = app.post(f"{API}/stream/{approved}/unskip", headers=auth)
    assert conflict.status_code == 409
    assert conflict.json()["code"]
    missing = app.post(f"{API}/stream/{item}/unskip", headers=api_token(world.carol.email))
    assert missing.status_code == 404


# --- mute and auto-approve from the tribe page ------------------------------------------------


def test_auto_approve_is_set_from_the_tribe_page_and_used_by_the_next_run(
    app: TestClient, world: World
) -> None:
    bob = sign_in(app, world.bob.email)
    tribe_page = f"/tribes/{world.slug}"
    page = bob.get(tribe_page).text
    form = f'action="{tribe_page}/members/{world.alice.id}/auto-approve"'
    assert form in page
    assert f'action="{tribe_page}/members/{world.bob.id}/auto-approve"' not in page  # not me
    assert "auto-approved, at most" not in page

    response = post_form(
        bob,
        f"{tribe_page}/members/{world.alice.id}/auto-approve",
        {"enabled": "true", "daily_cap": "2"},
        page=tribe_page,
    )
    assert response.status_code == 303
    page = bob.get(tribe_page).text
    assert "Alice&#39;s new posts are approved for you, at most 2 a day" in page
    row = page.split(f'id="mate-{world.alice.id}"')[1].split("</li>")[0]
    assert "auto-approved, at most 2 a day" in row
    assert 'name="enabled" value="true" checked' in row
    assert 'name="daily_cap" min="1" max="50" required value="2"' in row

    item = world.item(world.bob, world.new_post("Auto", 1))
    config = ApprovalConfig()
    with session_scope() as s:
        assert auto_approve_pending(s, now=datetime.now(UTC), config=config) >= 1
        row_ = s.get(StreamItem, item)
        assert row_ is not None
        assert row_.state == StreamState.APPROVED
        assert row_.auto is True

    post_form(
        bob,
        f"{tribe_page}/members/{world.alice.id}/auto-approve",
        {"daily_cap": "2"},
        page=tribe_page,
    )
    page = bob.get(tribe_page).text
    assert "new posts wait for you in your stream" in page
    assert "auto-approved, at most" not in page
    later = world.item(world.bob, world.new_post("By hand", 2))
    with session_scope() as s:
        auto_approve_pending(s, now=datetime.now(UTC), config=config)
    assert state_of(later) == StreamState.PENDING


def test_a_bad_daily_cap_or_someone_outside_the_tribe_changes_nothing(
    app: TestClient, world: World
) -> None:
    def prefs() -> list[tuple[int, int, bool, int]]:
        with session_scope() as s:
            return sorted(
                (p.member_id, p.author_id, p.auto_approve, p.auto_daily_cap)
                for p in s.exec(select(Preference))
            )

    bob = sign_in(app, world.bob.email)
    tribe_page = f"/tribes/{world.slug}"
    for cap in ("0", "51", "-3", "lots"):
        post_form(
            bob,
            f"{tribe_page}/members/{world.alice.id}/auto-approve",
            {"enabled": "true", "daily_cap": cap},
            page=tribe_page,
        )
    assert prefs() == []
    post_form(
        bob,
        f"{tribe_page}/members/{world.alice.id}/auto-approve",
        {"enabled": "true", "daily_cap": "51"},
        page=tribe_page,
    )
    assert "between 1 and 50" in bob.get(tribe_page).text

    dave = sign_in(client_for(app), world.dave.email)
    outside = post_form(
        dave,
        f"{tribe_page}/members/{world.alice.id}/auto-approve",
        {"enabled": "true", "daily_cap": "3"},
        page="/stream",
    )
    assert outside.status_code in (303, 404)
    assert prefs() == []
    myself = post_form(
        bob,
        f"{tribe_page}/members/{world.bob.id}/auto-approve",
        {"enabled": "true", "daily_cap": "3"},
        page=tribe_page,
    )
    assert myself.status_code == 303
    assert "that is you" in bob.get(tribe_page).text
    assert prefs() == []


def test_mute_is_offered_and_shown_on_each_tribemates_row(app: TestClient, world: World) -> None:
    bob = sign_in(app, world.bob.email)
    tribe_page = f"/tribes/{world.slug}"

    def row(member_id: int | None) -> str:
        page: str = bob.get(tribe_page).text
        return page.split(f'id="mate-{member_id}"', 1)[1].split("</li>", 1)[0]

    assert ">Mute</button>" in row(world.alice.id)
    post_form(
        bob, f"{tribe_page}/members/{world.alice.id}/mute", {"muted": "true"}, page=tribe_page
    )
    assert ">Unmute</button>" in row(world.alice.id)
    assert '<span class="badge warn">muted</span>' in row(world.alice.id)
    assert ">Mute</button>" in row(world.carol.id)
