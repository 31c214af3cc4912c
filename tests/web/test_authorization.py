"""Who may touch what: every (role, endpoint, someone else's object) is refused.

A member sees only their own tribes' posts and members and their own queue, feeds,
accounts and tokens; chief-only actions are refused to members; the operator's one
extra power is seeing every tribe and feed. Someone else's object is answered 404 (as
if it did not exist), a chief-only action on a visible tribe 403.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from tests import builders as b
from tests.web.conftest import World, api_token, client_for, csrf, sign_in
from tests.web.test_api import snapshot
from tribe.infra.db import session_scope
from tribe.infra.models import Account, ApiToken, Delivery, Member, Membership, Preference, Tribe
from tribe.members import auth, tribes
from tribe.members.accounts import add_account
from tribe.members.people import get_member
from tribe.stream.approvals import approve


def objects(world: World) -> dict[str, Any]:
    """Bob's stream item, delivery, account and token; Alice's feed; a join request."""
    post = world.new_post()
    bob_item = world.item(world.bob, post)
    with session_scope() as s:
        approve(s, member=get_member(s, world.bob.email), item_id=bob_item)
        delivery = s.exec(select(Delivery)).first()
        account = s.exec(select(Account).where(Account.member_id == world.bob.id)).first()
        token, _ = auth.create_token(s, member=get_member(s, world.bob.email), name="bob's")
        s.exec(select(Tribe).where(Tribe.slug == world.slug)).one().is_open = True
    with session_scope() as s:
        add_account(
            s, member=get_member(s, world.dave.email), network="bluesky", handle="dave.bsky.social"
        )
        tribes.request_to_join(s, member=get_member(s, world.dave.email), slug=world.slug)
        (request,) = tribes.join_requests(
            s, member=get_member(s, world.alice.email), slug=world.slug
        )
        bob_feed = b.pk(b.feed(s, get_member(s, world.bob.email), "https://bob.blog/feed"))
    other_item = world.item(world.carol, world.new_post("Another", 2))
    assert delivery is not None
    assert account is not None
    return {
        "item": bob_item,
        "carol_item": other_item,
        "delivery": delivery.id,
        "account": account.id,
        "token": token.id,
        "feed": world.feed_id,
        "request": request.id,
        "slug": world.slug,
        "bob": world.bob.id,
        "alice": world.alice.id,
        "bob_feed": bob_feed,
        "other_slug": world.other_slug,
    }


def everything() -> tuple[Any, ...]:
    rows = snapshot()
    with session_scope() as s:
        return (
            rows,
            sorted((m.tribe_id, m.member_id, m.role, m.status) for m in s.exec(select(Membership))),
            sorted(
                (t.slug, t.description, t.is_open, t.invite_epoch, t.chief_id)
                for t in s.exec(select(Tribe))
            ),
            sorted(
                (a.id, a.active, a.connection, a.reshare, a.paused) for a in s.exec(select(Account))
            ),
            sorted((t.id, t.revoked_at) for t in s.exec(select(ApiToken))),
            sorted((p.member_id, p.author_id, p.muted) for p in s.exec(select(Preference))),
            sorted((m.id, m.queue_paused) for m in s.exec(select(Member))),
        )


# (who, method, path, form or JSON body, expected status)
API_CASES = [
    ("dave", "GET", "/tribes/{slug}", None, 404),
    ("dave", "GET", "/tribes/{slug}/members", None, 404),
    ("dave", "POST", "/stream/{item}/approve", None, 404),
    ("dave", "POST", "/stream/{item}/skip", None, 404),
    ("carol", "POST", "/stream/{item}/approve", None, 404),
    ("carol", "POST", "/stream/{item}/skip", None, 404),
    ("carol", "POST", "/queue/{delivery}/move", {"direction": "down"}, 404),
    ("carol", "POST", "/queue/{delivery}/cancel", None, 404),
    ("carol", "DELETE", "/feeds/{feed}", None, 404),
    ("operator", "POST", "/stream/{item}/approve", None, 404),
    ("operator", "POST", "/queue/{delivery}/cancel", None, 404),
    ("operator", "DELETE", "/feeds/{feed}", None, 404),
    # Bob's chief: his tribe is hers, his stream, queue and feeds are not.
    ("alice", "POST", "/stream/{item}/approve", None, 404),
    ("alice", "POST", "/stream/{item}/skip", None, 404),
    ("alice", "POST", "/queue/{delivery}/move", {"direction": "down"}, 404),
    ("alice", "POST", "/queue/{delivery}/cancel", None, 404),
    ("alice", "DELETE", "/feeds/{bob_feed}", None, 404),
    ("carol", "GET", "/accounts/{account}/schedule", None, 404),
    ("carol", "PUT", "/accounts/{account}/schedule", {"daily_cap": 1}, 404),
    ("alice", "PUT", "/accounts/{account}/schedule", {"slots": "mon 01:00"}, 404),
    ("carol", "POST", "/queue/pause", {"account_id": "{account}"}, 404),
    ("alice", "POST", "/queue/resume", {"account_id": "{account}"}, 404),
    ("operator", "PUT", "/accounts/{account}/schedule", {"daily_cap": 1}, 404),
]

PAGE_CASES = [
    ("dave", "GET", "/tribes/{slug}", None, 404),
    ("carol", "GET", "/admin", None, 404),
    ("dave", "POST", "/stream/{item}/approve", {}, 404),
    ("carol", "POST", "/stream/{item}/skip", {}, 404),
    ("carol", "POST", "/queue/{delivery}/move", {"direction": "down"}, 404),
    ("carol", "POST", "/queue/{delivery}/cancel", {}, 404),
    ("carol", "POST", "/queue/pause", {"account_id": "{account}"}, 404),
    ("carol", "POST", "/queue/resume", {"account_id": "{account}"}, 404),
    ("carol", "POST", "/history/{delivery}/confirm", {}, 404),
    ("carol", "POST", "/history/{delivery}/retry", {}, 404),
    ("carol", "POST", "/feeds/{feed}/remove", {}, 404),
    ("carol", "POST", "/accounts/{account}/disconnect", {}, 404),
    ("carol", "POST", "/accounts/{account}/sharing", {"reshare": "post"}, 404),
    ("carol", "POST", "/settings/tokens/{token}/revoke", {}, 404),
    (
        "carol",
        "POST",
        "/schedule/{account}",
        {"mode": "slots", "slots": "mon 01:00", "cap": "1"},
        404,
    ),
    ("carol", "POST", "/tribes/{slug}", {"description": "mine now", "is_open": "false"}, 403),
    ("carol", "POST", "/tribes/{slug}/invite", {}, 403),
    ("carol", "POST", "/tribes/{slug}/requests/{request}", {"accept": "true"}, 403),
    ("carol", "POST", "/tribes/{slug}/members/{bob}/remove", {}, 403),
    ("carol", "POST", "/tribes/{slug}/members/{bob}/chief", {}, 403),
    ("dave", "POST", "/tribes/{slug}/leave", {}, 404),
    ("dave", "POST", "/tribes/{slug}/members/{bob}/mute", {"muted": "true"}, 404),
    ("dave", "POST", "/tribes/{slug}/members/{alice}/remove", {}, 404),
    ("operator", "POST", "/tribes/{slug}", {"description": "operator edit"}, 403),
    ("operator", "POST", "/tribes/{slug}/members/{bob}/remove", {}, 403),
    ("operator", "POST", "/stream/{item}/approve", {}, 404),
    ("operator", "POST", "/accounts/{account}/disconnect", {}, 404),
    # Bob's chief: his tribe is hers, his stream, queue, accounts, feeds and tokens are not.
    ("alice", "POST", "/stream/{item}/approve", {}, 404),
    ("alice", "POST", "/stream/{item}/skip", {}, 404),
    ("alice", "POST", "/queue/{delivery}/cancel", {}, 404),
    ("alice", "POST", "/queue/pause", {"account_id": "{account}"}, 404),
    ("alice", "POST", "/history/{delivery}/retry", {}, 404),
    ("alice", "POST", "/accounts/{account}/disconnect", {}, 404),
    ("alice", "POST", "/accounts/{account}/sharing", {"reshare": "post"}, 404),
    ("alice", "POST", "/feeds/{bob_feed}/remove", {}, 404),
    ("alice", "POST", "/settings/tokens/{token}/revoke", {}, 404),
    (
        "alice",
        "POST",
        "/schedule/{account}",
        {"mode": "slots", "slots": "mon 01:00", "cap": "1"},
        404,
    ),
    ("carol", "POST", "/tribes/{other_slug}/join", {}, 404),  # a closed tribe
]


def _who(world: World, name: str) -> str:
    if name == "operator":  # an operator who is in no tribe of the objects
        with session_scope() as s:
            member = get_member(s, world.dave.email)
            member.is_operator = True
        return world.dave.email
    return str(getattr(world, name).email)


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("who", "method", "path", "body", "status"), API_CASES)
def test_the_api_refuses_other_members_objects(
    app: TestClient, world: World, who: str, method: str, path: str, body: Any, status: int
) -> None:
    ids = objects(world)
    kwargs: dict[str, Any] = {"headers": api_token(_who(world, who))}
    before = everything()
    if body is not None:
        kwargs["json"] = _fill(body, ids)
    response = app.request(method, "/api/v1" + _fill(path, ids), **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["code"] in {"not_found", "forbidden"}
    assert everything() == before


@pytest.mark.parametrize(("who", "method", "path", "body", "status"), PAGE_CASES)
def test_the_pages_refuse_other_members_objects(
    app: TestClient, world: World, who: str, method: str, path: str, body: Any, status: int
) -> None:
    ids = objects(world)
    browser = sign_in(client_for(app), _who(world, who))
    token = csrf(browser, "/settings")
    before = everything()
    headers = {"X-Tribe-Inplace": "1", "X-CSRF-Token": token}
    response = browser.request(
        method,
        _fill(path, ids),
        headers=headers,
        data=_fill(body, ids) if method == "POST" else None,
    )
    assert response.status_code == status, response.text
    assert everything() == before


def test_the_operator_sees_every_tribe_but_not_to_act_in_it(app: TestClient, world: World) -> None:
    ids = objects(world)
    operator = sign_in(client_for(app), _who(world, "operator"))
    page = operator.get(f"/tribes/{ids['slug']}")
    assert page.status_code == 200
    assert "/join/" not in page.text  # no invite link: only the chief has one
