"""The digest email's links (`/digest/{token}`): a GET shows, a POST does, once, for one
member and one action, with no session and no CSRF token; the one-click unsubscribe of
RFC 8058; and the CSRF exemption, which is this route's alone."""

from __future__ import annotations

import importlib
import pkgutil
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import col, select

from tests import builders as b
from tests.integration.cluster import free_port
from tests.web.browser import artifacts, chromium, marks, sideways
from tests.web.conftest import World, as_response, client_for, sign_in
from tribe.alliance.links import Action, DigestLink, digest_token
from tribe.core.kinds import DeliveryState, DigestMode, StreamState
from tribe.infra.db import session_scope
from tribe.infra.keys import Keyring
from tribe.infra.models import Account, Delivery, Member, StreamItem
from tribe.members.people import get_member
from tribe.members.tribes import leave
from tribe.stream.approvals import approve, skip
from tribe.web import pages
from tribe.web.app import create_app

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def token(member: Member, action: Action, *items: int, expires: datetime | None = None) -> str:
    assert member.id is not None
    if action != "unsubscribe":
        expires = expires or datetime.now(UTC) + timedelta(days=5)
    return digest_token(b.keys(), DigestLink(member.id, action, items, expires))


def stranger(app: TestClient) -> TestClient:
    """A mail client or scanner: no cookie, no session, no CSRF token."""
    return client_for(app)


def post(app: TestClient, link: str, data: dict[str, str] | None = None) -> httpx.Response:
    """The link's button pressed, or a one-click unsubscribe, from a client with no cookie."""
    client = stranger(app)
    return as_response(client.post(f"/digest/{link}", data=data or {}, follow_redirects=False))


def everything() -> tuple[Any, ...]:
    """What a link could change: every item's state, every delivery, every member's
    email choices."""
    with session_scope() as s:
        items = sorted((i.id, i.state, i.decided_at) for i in s.exec(select(StreamItem)))
        deliveries = sorted((d.id, d.state, d.due_at) for d in s.exec(select(Delivery)))
        members = sorted(
            (m.id, m.digest_mode, m.digest_hour, m.digest_weekday, m.nudges, m.reminders)
            for m in s.exec(select(Member))
        )
    return items, deliveries, members


def state_of(item_id: int) -> StreamState:
    with session_scope() as s:
        return s.get_one(StreamItem, item_id).state


def deliveries_of(item_id: int) -> list[Delivery]:
    with session_scope() as s:
        found = s.exec(select(Delivery).where(col(Delivery.stream_item_id) == item_id)).all()
        return sorted(found, key=lambda d: d.account_id)


def digest_of(member: Member) -> tuple[DigestMode, str, int]:
    with session_scope() as s:
        row = s.get_one(Member, member.id)
        return row.digest_mode, row.digest_hour, row.digest_weekday


def test_opening_an_approve_link_shows_the_post_and_changes_nothing(
    app: TestClient, world: World
) -> None:
    item = world.item(world.bob, world.new_post("Why tomatoes split"))
    link = token(world.bob, "approve", item)
    before = everything()
    for _ in range(3):  # a scanner, a preview, the member: none of them decides
        page = stranger(app).get(f"/digest/{link}")
        assert page.status_code == 200
    assert everything() == before
    assert "Why tomatoes split" in page.text
    assert "by Alice" in page.text
    assert "Writers" in page.text  # the tribe
    assert "Tomatoes split when watered unevenly." in page.text
    assert "@bob would post:" in page.text
    assert "@bob@mastodon.social would post:" in page.text
    assert "Why tomatoes split https://alice.blog/1" in page.text.replace("\n", " ")
    assert f'<form method="post" action="/digest/{link}"' in page.text
    assert '<button type="submit" class="primary">Approve</button>' in page.text
    assert 'name="csrf_token"' not in page.text.split("<main>")[1]


def test_the_approve_button_queues_once_as_the_stream_page_does(
    app: TestClient, world: World
) -> None:
    item = world.item(world.bob, world.new_post())
    link = token(world.bob, "approve", item)

    first = post(app, link)
    assert first.status_code == 200, first.text
    assert "<h1>Approved</h1>" in first.text
    assert "CST" in first.text or "CDT" in first.text  # when, in Bob's Chicago time
    assert state_of(item) == StreamState.APPROVED
    queued = deliveries_of(item)
    assert len(queued) == 2  # one per account: X and Mastodon
    assert {d.state for d in queued} == {DeliveryState.QUEUED}
    assert all("https://alice.blog/1" in d.text for d in queued)
    after_first = everything()

    second = post(app, link)
    assert second.status_code == 200
    assert "Already approved" in second.text
    assert "Nothing changed" in second.text
    assert everything() == after_first


def test_the_skip_button_skips_once(app: TestClient, world: World) -> None:
    item = world.item(world.bob, world.new_post())
    link = token(world.bob, "skip", item)
    page = stranger(app).get(f"/digest/{link}")
    assert '<button type="submit" class="primary">Skip</button>' in page.text
    assert state_of(item) == StreamState.PENDING

    done = post(app, link)
    assert done.status_code == 200
    assert "<h1>Skipped</h1>" in done.text
    assert state_of(item) == StreamState.SKIPPED
    assert deliveries_of(item) == []
    after = everything()
    again = post(app, link)
    assert "Already skipped" in again.text
    assert everything() == after
    # The other link of the same item now says what became of it, with no button.
    approve_page = stranger(app).get(f"/digest/{token(world.bob, 'approve', item)}").text
    assert "You already skipped this post" in approve_page
    assert "<button" not in approve_page.split("<main>")[1]


def test_approve_all_approves_the_token_s_items_that_still_wait_and_nothing_else(
    app: TestClient, world: World
) -> None:
    decided, skipped, waiting, later = (
        world.item(world.bob, world.new_post(f"Post {n}", n)) for n in (1, 2, 3, 4)
    )
    with session_scope() as s:
        bob = get_member(s, world.bob.email)
        approve(s, member=bob, item_id=decided)
        skip(s, member=bob, item_id=skipped)
    kept = deliveries_of(decided)
    link = token(world.bob, "all", decided, skipped, waiting)  # `later` came after the digest

    page = unescape(stranger(app).get(f"/digest/{link}").text)
    assert '<button type="submit" class="primary">Approve all 1</button>' in page
    assert "2 of this digest's 3 posts no longer wait for you" in page
    assert "Post 3" in page
    assert "Post 1" not in page
    assert "Post 4" not in page

    done = post(app, link)
    assert done.status_code == 200
    assert "Approved 1 post" in done.text
    assert state_of(waiting) == StreamState.APPROVED
    assert len(deliveries_of(waiting)) == 2
    assert state_of(decided) == StreamState.APPROVED
    assert deliveries_of(decided) == kept
    assert state_of(skipped) == StreamState.SKIPPED
    assert state_of(later) == StreamState.PENDING

    after = everything()
    again = post(app, link)
    assert "Nothing left to approve" in again.text
    assert everything() == after
    page = stranger(app).get(f"/digest/{link}").text
    assert "<h1>Nothing left to approve</h1>" in page
    assert "<button" not in page.split("<main>")[1]


def test_an_expired_link_does_nothing_and_says_so(app: TestClient, world: World) -> None:
    item = world.item(world.bob, world.new_post())
    link = token(world.bob, "approve", item, expires=datetime.now(UTC) - timedelta(minutes=1))
    before = everything()
    for response in (stranger(app).get(f"/digest/{link}"), post(app, link)):
        assert response.status_code == 410
        assert "this link has expired with the post it was for" in response.text
        assert "Traceback" not in response.text
    assert everything() == before


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),  # signature changed
        lambda t: "x" + t,  # payload changed
        lambda t: "not-a-token",
        lambda t: t.split(".")[0],  # the signature cut off
    ],
)
def test_a_forged_or_broken_link_does_nothing_and_says_so(
    app: TestClient, world: World, forge: Any
) -> None:
    item = world.item(world.bob, world.new_post())
    link = forge(token(world.bob, "approve", item))
    before = everything()
    for response in (stranger(app).get(f"/digest/{link}"), post(app, link)):
        assert response.status_code == 410
        assert "this link is not valid; check that it was copied whole" in response.text
        assert "Traceback" not in response.text
    assert everything() == before


def test_a_link_made_with_another_instance_s_key_is_refused(app: TestClient, world: World) -> None:
    item = world.item(world.bob, world.new_post())
    assert world.bob.id is not None
    elsewhere = Keyring((Fernet.generate_key().decode(),), "environment")
    theirs = digest_token(elsewhere, DigestLink(world.bob.id, "approve", (item,), None))
    assert post(app, theirs).status_code == 410
    assert state_of(item) == StreamState.PENDING


def test_a_link_of_one_member_cannot_act_on_another_member_s_item(
    app: TestClient, world: World
) -> None:
    bobs = world.item(world.bob, world.new_post())
    before = everything()
    for action in ("approve", "skip"):
        link = token(world.carol, action, bobs)  # signed for Carol, naming Bob's item
        page = stranger(app).get(f"/digest/{link}").text
        assert "This post is not in your stream." in page
        assert "<button" not in page.split("<main>")[1]
        done = post(app, link)
        assert done.status_code == 404
        assert "This post is not in your stream." in done.text
    done = post(app, token(world.carol, "all", bobs))
    assert "Nothing left to approve" in done.text
    assert everything() == before


def test_an_item_no_longer_pending_says_why(app: TestClient, world: World) -> None:
    expired = world.item(world.bob, world.new_post("Old news", 1))
    with session_scope() as s:
        s.get_one(StreamItem, expired).state = StreamState.EXPIRED
    done = post(app, token(world.bob, "approve", expired))
    assert done.status_code == 409
    assert "waited in your stream until it expired" in done.text
    assert deliveries_of(expired) == []

    withdrawn = world.item(world.bob, world.new_post("Fresh news", 2))
    with session_scope() as s:
        leave(s, member=get_member(s, world.bob.email), slug=world.slug)
    assert state_of(withdrawn) == StreamState.WITHDRAWN
    page = stranger(app).get(f"/digest/{token(world.bob, 'approve', withdrawn)}").text
    assert "you and its author no longer share a tribe" in page
    done = post(app, token(world.bob, "approve", withdrawn))
    assert done.status_code == 409
    assert "you and its author no longer share a tribe" in done.text
    assert deliveries_of(withdrawn) == []


def test_a_member_with_no_account_is_told_to_connect_one(app: TestClient, world: World) -> None:
    carols = world.item(world.carol, world.new_post())
    with session_scope() as s:
        for account in s.exec(select(Account).where(col(Account.member_id) == world.carol.id)):
            account.active = False
    page = stranger(app).get(f"/digest/{token(world.carol, 'approve', carols)}").text
    assert "You have no social account to post it from yet" in page
    done = post(app, token(world.carol, "approve", carols))
    assert done.status_code == 422
    assert "has no active social account" in done.text
    assert state_of(carols) == StreamState.PENDING


def test_the_unsubscribe_link_shows_a_button_and_changes_nothing(
    app: TestClient, world: World
) -> None:
    link = token(world.bob, "unsubscribe")
    before = everything()
    page = stranger(app).get(f"/digest/{link}")
    assert page.status_code == 200
    assert "bob@example.com" in page.text
    assert "daily at 08:00 (America/Chicago)" in page.text
    assert '<button type="submit" class="primary">Stop the digest</button>' in page.text
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.text
    assert everything() == before


def test_one_click_unsubscribe_per_rfc_8058(app: TestClient, world: World) -> None:
    """What a mail client sends for `List-Unsubscribe-Post: List-Unsubscribe=One-Click`:
    a form-encoded POST to the link, without cookies, and it must not be redirected."""
    with session_scope() as s:
        bob = get_member(s, world.bob.email)
        bob.digest_mode, bob.digest_hour, bob.digest_weekday = DigestMode.WEEKLY, "18:30", 2
    link = token(world.bob, "unsubscribe")
    client = stranger(app)
    response = as_response(
        client.post(
            f"/digest/{link}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
    )
    assert response.status_code == 200, response.text
    assert "The digest is off" in response.text
    assert digest_of(world.bob) == (DigestMode.OFF, "18:30", 2)  # its hour kept for later
    assert digest_of(world.carol) == (DigestMode.DAILY, "08:00", 0)  # nobody else's

    again = post(app, link, ONE_CLICK)
    assert again.status_code == 200
    assert "It was off already" in again.text
    page = stranger(app).get(f"/digest/{link}").text
    assert "Your digest is off already" in page
    assert "<button" not in page.split("<main>")[1]


def page_forms() -> list[str]:
    """Every POST route of the pages, as an address (each path parameter filled with 1),
    read from each page module's own router."""
    found = []
    for info in pkgutil.iter_modules(pages.__path__):
        module = importlib.import_module(f"{pages.__name__}.{info.name}")
        for route in module.router.routes:
            if isinstance(route, APIRoute) and "POST" in (route.methods or ()):
                found.append(re.sub(r"\{[^}]+\}", "1", route.path))
    return found


# The POST routes that take no CSRF token: a mail client's one-click unsubscribe (RFC
# 8058) posts to them with no cookie; the signed token in the address is the authority.
ONE_CLICK_ROUTES = ("/digest/1", "/t/1/unsubscribe/1")


def test_the_csrf_exemption_is_the_one_click_links_alone(app: TestClient, world: World) -> None:
    forms = page_forms()
    assert set(ONE_CLICK_ROUTES) <= set(forms)
    assert len(forms) > 20  # the stream's, the queue's, the settings', the operator's...
    item = world.item(world.bob, world.new_post())
    signed_in = sign_in(app, world.bob.email)
    for path in forms:
        for client in (signed_in, stranger(app)):  # a member's form, or a forged one
            response = as_response(client.post(path, data={}, follow_redirects=False))
            if path in ONE_CLICK_ROUTES:  # no CSRF token asked: the link's own token is refused
                assert response.status_code == 410, response.text
            else:
                assert response.status_code == 403, (path, response.status_code)
                assert "this form had expired" in response.text
    assert state_of(item) == StreamState.PENDING
    assert digest_of(world.bob)[0] == DigestMode.DAILY


def _browser_test(test: Callable[..., None]) -> Callable[..., None]:
    for mark in marks(timeout=120, sqlite_only=True):
        test = mark(test)
    return test


@_browser_test
def test_the_approve_page_at_phone_width_in_chromium(
    world: World, request: pytest.FixtureRequest
) -> None:
    """The page a member lands on from the email, at 375px: it fits, its one button
    approves, and the answer says where the post was queued (screenshots of both)."""
    item = world.item(world.bob, world.new_post("Why tomatoes split, and what to do"))
    link = token(world.bob, "approve", item)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.05)
    folder = artifacts(request, "digest-link")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 375, "height": 740})
            page.goto(f"http://127.0.0.1:{port}/digest/{link}")
            page.screenshot(path=str(folder / "01-approve.png"), full_page=True)
            assert sideways(page) == 0
            assert state_of(item) == StreamState.PENDING
            page.click("button:has-text('Approve')")
            page.wait_for_load_state()
            page.screenshot(path=str(folder / "02-approved.png"), full_page=True)
            assert page.locator("h1").inner_text() == "Approved"
            assert sideways(page) == 0
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert state_of(item) == StreamState.APPROVED
