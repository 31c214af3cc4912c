"""The JSON API: every endpoint, its happy path and its bad input, answered as JSON."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from tests.builders import pk, posts, rss
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tests.web.conftest import World, api_token
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Delivery, Feed, Member, StreamItem
from tribe.members.people import get_member
from tribe.stream.approvals import approve

API = "/api/v1"


def snapshot() -> tuple[Any, ...]:
    """Everything a bad request must leave as it was."""
    with session_scope() as s:
        return (
            sorted((i.id, i.state) for i in s.exec(select(StreamItem))),
            sorted((d.id, d.state, d.due_at, d.text) for d in s.exec(select(Delivery))),
            sorted((f.id, f.url, f.removed_at) for f in s.exec(select(Feed))),
        )


def error_of(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "detail"}
    assert body["code"] == code
    assert body["detail"]
    return str(body["detail"])


def queued(world: World, n: int = 2) -> list[int]:
    """Carol approves `n` posts; the ids of her deliveries, in queue order."""
    for k in range(1, n + 1):
        item = world.item(world.carol, world.new_post(f"Post {k}", k))
        with session_scope() as s:
            approve(s, member=get_member(s, world.carol.email), item_id=item)
    with session_scope() as s:
        return [pk(d) for d in s.exec(select(Delivery).order_by(col(Delivery.due_at)))]


def test_without_a_token_or_with_a_wrong_one_every_call_is_401(
    app: TestClient, world: World
) -> None:
    detail = error_of(app.get(f"{API}/me"), 401, "not_signed_in")
    assert "Bearer" in detail
    error_of(
        app.get(f"{API}/stream", headers={"Authorization": "Bearer tribe_nope"}),
        401,
        "not_signed_in",
    )
    error_of(app.get(f"{API}/stream", headers={"Authorization": "Basic abc"}), 401, "not_signed_in")


@pytest.mark.parametrize("path", ["/me", "/members/me"])
def test_me(app: TestClient, world: World, path: str) -> None:
    body = app.get(f"{API}{path}", headers=api_token(world.bob.email)).json()
    assert body == {
        "id": world.bob.id,
        "email": "bob@example.com",
        "display_name": "Bob",
        "timezone": "America/Chicago",
        "is_operator": False,
    }


def test_stream_lists_pages_approves_with_own_words_and_skips(
    app: TestClient, world: World
) -> None:
    auth = api_token(world.bob.email)
    ids = [world.item(world.bob, world.new_post(f"Post {n}", n)) for n in (1, 2, 3)]
    page = app.get(f"{API}/stream?limit=2", headers=auth).json()
    assert page["count"] == 3
    assert len(page["data"]) == 2
    rest = app.get(f"{API}/stream?limit=2&offset=2", headers=auth).json()["data"]
    assert {i["id"] for i in page["data"] + rest} == set(ids)
    first = page["data"][0]
    assert {s["network"] for s in first["shares"]} == {"x", "mastodon"}
    assert first["summary"] == "Tomatoes split when watered unevenly."
    decision = app.post(
        f"{API}/stream/{first['id']}/approve",
        headers=auth,
        json={"texts": {"x": f"Must read {first['url']}"}},
    ).json()
    assert decision["state"] == "approved"
    texts = {q["network"]: q["text"] for q in decision["queued"]}
    assert texts["x"] == f"Must read {first['url']}"
    again = app.post(f"{API}/stream/{first['id']}/approve", headers=auth).json()
    assert again["repeated"] is True
    skipped = app.post(f"{API}/stream/{rest[0]['id']}/skip", headers=auth).json()
    assert skipped["state"] == "skipped"
    assert app.get(f"{API}/stream", headers=auth).json()["count"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("post", "/stream/abc/approve", None, 404, "not_found"),
        ("post", "/stream/999999/approve", None, 404, "not_found"),
        ("post", "/stream/999999/skip", None, 404, "not_found"),
        ("post", "/stream/{item}/approve", {"texts": {"x": "a" * 5001}}, 422, "invalid_request"),
        ("post", "/stream/{item}/approve", {"texts": {"myspace": "hi"}}, 422, "invalid_request"),
        ("post", "/stream/{item}/approve", {"texts": "hello"}, 422, "invalid_request"),
        (
            "post",
            "/stream/{item}/approve",
            {"text": {"x": "typo in the field"}},
            422,
            "invalid_request",
        ),
        ("post", "/stream/{item}/approve", {"texts": {"x": "word " * 80}}, 422, "invalid_input"),
        (
            "post",
            "/stream/{item}/approve",
            {"texts": {"mastodon": "no such account"}},
            422,
            "invalid_input",
        ),
        ("get", "/stream?limit=0", None, 422, "invalid_request"),
        ("get", "/stream?limit=100000", None, 422, "invalid_request"),
        ("get", "/stream?offset=-1", None, 422, "invalid_request"),
        ("post", "/queue/999999/move", {"direction": "up"}, 404, "not_found"),
        ("post", "/queue/{delivery}/move", {"direction": "sideways"}, 422, "invalid_request"),
        ("post", "/queue/{delivery}/move", {}, 422, "invalid_request"),
        ("post", "/queue/{delivery}/move", {"direction": "up"}, 409, "conflict"),
        ("post", "/queue/1.5/cancel", None, 404, "not_found"),
        ("post", "/queue/999999/cancel", None, 404, "not_found"),
        ("post", "/feeds", {"url": "ftp://example.com/feed"}, 422, "invalid_input"),
        ("post", "/feeds", {"url": "x" * 3000}, 422, "invalid_request"),
        ("post", "/feeds", {"url": 42}, 422, "invalid_request"),
        ("post", "/feeds", [], 422, "invalid_request"),
        ("delete", "/feeds/999999", None, 404, "not_found"),
        ("get", "/tribes/no-such-tribe", None, 404, "not_found"),
        ("get", "/tribes/no-such-tribe/members", None, 404, "not_found"),
        ("get", "/tribes/" + "x" * 100, None, 404, "not_found"),
        ("get", "/tribes/" + "x" * 100 + "/members", None, 404, "not_found"),
        ("post", "/stream/abc/skip", None, 404, "not_found"),
        ("delete", "/feeds/abc", None, 404, "not_found"),
        ("get", "/no-such-endpoint", None, 404, "not_found"),
        # Ids past the database's integer range name nothing (they used to overflow: 500).
        ("post", "/queue/9223372036854775808/cancel", None, 404, "not_found"),
        ("post", "/queue/2147483648/move", {"direction": "up"}, 404, "not_found"),
        ("post", "/stream/99999999999999999999/approve", None, 404, "not_found"),
        ("delete", "/feeds/9223372036854775807", None, 404, "not_found"),
        ("get", "/accounts/9223372036854775808/schedule", None, 404, "not_found"),
        ("post", "/queue/pause", {"account_id": 9223372036854775808}, 422, "invalid_request"),
        ("post", "/queue/resume", {"account_id": 0}, 422, "invalid_request"),
        ("put", "/me", None, 405, "method_not_allowed"),
    ],
)
def test_bad_input_is_answered_with_json_and_changes_nothing(
    app: TestClient, world: World, method: str, path: str, body: Any, status: int, code: str
) -> None:
    item = world.item(world.carol, world.new_post("Pending", 9))
    delivery = queued(world, 1)[0]
    before = snapshot()
    url = API + path.format(item=item, delivery=delivery)
    kwargs: dict[str, Any] = {"headers": api_token(world.carol.email)}
    if body is not None:
        kwargs["json"] = body
    error_of(app.request(method.upper(), url, **kwargs), status, code)
    assert snapshot() == before


def test_a_body_that_is_not_json_is_refused_and_changes_nothing(
    app: TestClient, world: World
) -> None:
    item = world.item(world.carol, world.new_post("Pending", 9))
    before = snapshot()
    headers = {**api_token(world.carol.email), "Content-Type": "application/json"}
    for body in ("{not json", '{"texts": '):
        response = app.post(f"{API}/stream/{item}/approve", content=body, headers=headers)
        error_of(response, 422, "invalid_request")
    assert snapshot() == before


@pytest.mark.parametrize(
    "path",
    ["/stream", "/queue", "/history", "/feeds", "/accounts", "/tribes", "/tribes/{slug}/members"],
)
@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=ten", "offset=-1", "offset=x"])
def test_every_list_refuses_bad_pagination(
    app: TestClient, world: World, path: str, query: str
) -> None:
    url = f"{API}{path.format(slug=world.slug)}?{query}"
    detail = error_of(app.get(url, headers=api_token(world.bob.email)), 422, "invalid_request")
    assert query.split("=", maxsplit=1)[0] in detail


def test_queue_lists_moves_and_cancels(app: TestClient, world: World) -> None:
    first, second = queued(world)
    auth = api_token(world.carol.email)
    listed = app.get(f"{API}/queue", headers=auth).json()
    assert [d["id"] for d in listed["data"]] == [first, second]
    assert listed["data"][0]["due_local"].endswith(("CET", "CEST"))  # Carol is in Paris
    moved = app.post(f"{API}/queue/{second}/move", headers=auth, json={"direction": "up"}).json()
    assert moved["due_at"] == listed["data"][0]["due_at"]
    assert app.post(f"{API}/queue/{first}/cancel", headers=auth).status_code == 204
    assert [d["id"] for d in app.get(f"{API}/queue", headers=auth).json()["data"]] == [second]
    history = app.get(f"{API}/history", headers=auth).json()
    assert history["count"] == 1
    assert history["data"][0]["state"] == "cancelled"


def test_feeds_are_added_after_a_check_listed_and_removed(
    app: TestClient, world: World, server: FeedServer
) -> None:
    server.routes["/feed"] = Served(rss(posts(2)))
    server.routes["/page"] = Served(b"<html>hello</html>", content_type="text/html")
    auth = api_token(world.carol.email)
    before = snapshot()
    detail = error_of(
        app.post(f"{API}/feeds", headers=auth, json={"url": server.url("/page")}), 422, "feed_error"
    )
    assert "feed" in detail
    assert snapshot() == before
    added = app.post(f"{API}/feeds", headers=auth, json={"url": server.url("/feed")})
    assert added.status_code == 201
    feed = added.json()
    assert feed["title"] == "A blog"
    assert feed["status"] == "active"
    error_of(
        app.post(f"{API}/feeds", headers=auth, json={"url": server.url("/feed")}), 409, "conflict"
    )
    assert [f["id"] for f in app.get(f"{API}/feeds", headers=auth).json()["data"]] == [feed["id"]]
    assert app.delete(f"{API}/feeds/{feed['id']}", headers=auth).status_code == 204
    assert app.get(f"{API}/feeds", headers=auth).json() == {"data": [], "count": 0}
    error_of(app.delete(f"{API}/feeds/{feed['id']}", headers=auth), 404, "not_found")


def test_accounts_and_tribes(app: TestClient, world: World) -> None:
    auth = api_token(world.bob.email)
    accounts = app.get(f"{API}/accounts", headers=auth).json()
    assert accounts["count"] == 2
    assert {a["network"] for a in accounts["data"]} == {"x", "mastodon"}
    assert "credentials" not in accounts["data"][0]
    tribes = app.get(f"{API}/tribes", headers=auth).json()
    assert [t["slug"] for t in tribes["data"]] == [world.slug]
    assert tribes["data"][0]["my_role"] == "member"
    assert app.get(f"{API}/tribes/{world.slug}", headers=auth).json()["members"] == 3
    members = app.get(f"{API}/tribes/{world.slug}/members", headers=auth).json()
    assert members["data"][0] == {
        "member_id": world.alice.id,
        "name": "Alice",
        "role": "chief",
        "muted": False,
    }
    assert "email" not in members["data"][0]


def test_the_operator_lists_every_tribe(app: TestClient, world: World) -> None:
    from tribe.members.people import get_member

    with session_scope() as s:
        get_member(s, world.dave.email).is_operator = True
    slugs = {
        t["slug"]
        for t in app.get(f"{API}/tribes", headers=api_token(world.dave.email)).json()["data"]
    }
    assert slugs == {world.slug, world.other_slug}


def carols_account() -> int:
    with session_scope() as s:
        account_id = s.exec(
            select(Account.id).join(Member).where(Member.display_name == "Carol")
        ).one()
    assert account_id is not None
    return account_id


def test_a_schedule_is_read_changed_and_previewed(app: TestClient, world: World) -> None:
    auth = api_token(world.carol.email)
    account = carols_account()
    url = f"{API}/accounts/{account}/schedule"
    before = app.get(url, headers=auth).json()
    assert before["timezone"] == "Europe/Paris"
    assert len(before["next"]) == 5
    slots = app.put(url, headers=auth, json={"slots": "mon-fri 07:30", "daily_cap": 1}).json()
    assert (slots["mode"], slots["daily_cap"]) == ("slots", 1)
    assert slots["slots"] == "mon-fri 07:30"  # as written, not one line per day
    assert all("07:30 CE" in time for time in slots["next"])  # Paris time, with its zone
    assert not any(time.startswith(("Sat", "Sun")) for time in slots["next"])
    interval = app.put(
        url, headers=auth, json={"every_minutes": 120, "between": ["09:00", "17:00"]}
    ).json()
    assert (interval["mode"], interval["every_minutes"]) == ("interval", 120)
    assert interval["between"] == ["09:00", "17:00"]
    assert interval["daily_cap"] == 1  # left out, so kept
    assert (interval.pop("moved"), interval.pop("message")) == (0, "")  # nothing was queued
    assert app.get(url, headers=auth).json() == interval


def test_templates_are_listed_changed_and_previewed(app: TestClient, world: World) -> None:
    auth = api_token(world.carol.email)
    listed = {t["network"]: t for t in app.get(f"{API}/templates", headers=auth).json()}
    assert set(listed) == {"x", "mastodon", "bluesky", "linkedin", "facebook", "threads"}
    assert "{url}" in listed["linkedin"]["template"]
    assert "{url}" in listed["x"]["template"]
    changed = app.put(
        f"{API}/templates/x", headers=auth, json={"template": "Read this: {title} {url}"}
    ).json()
    assert changed["template"] == "Read this: {title} {url}"
    assert changed["preview"].startswith("Read this: ")
    listed = {t["network"]: t for t in app.get(f"{API}/templates", headers=auth).json()}
    assert listed["x"]["template"] == "Read this: {title} {url}"


def test_the_queue_pauses_and_resumes_over_the_api(app: TestClient, world: World) -> None:
    auth = api_token(world.bob.email)
    with session_scope() as s:
        ids = list(s.exec(select(Account.id).join(Member).where(Member.display_name == "Bob")))
    assert app.post(f"{API}/queue/pause", headers=auth).status_code == 204
    assert all(a["paused"] for a in app.get(f"{API}/accounts", headers=auth).json()["data"])
    resumed = app.post(f"{API}/queue/resume", headers=auth, json={"account_id": ids[0]})
    assert resumed.status_code == 204
    paused = {a["id"]: a["paused"] for a in app.get(f"{API}/accounts", headers=auth).json()["data"]}
    assert paused == {ids[0]: False, ids[1]: True}
    assert app.post(f"{API}/queue/resume", headers=auth).status_code == 204
    assert not any(a["paused"] for a in app.get(f"{API}/accounts", headers=auth).json()["data"])


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        (
            "put",
            "/accounts/{account}/schedule",
            {"slots": "mon 09:00", "every_minutes": 60},
            422,
            "invalid_input",
        ),
        ("put", "/accounts/{account}/schedule", {"slots": "someday 25:00"}, 422, "invalid_input"),
        ("put", "/accounts/{account}/schedule", {"every_minutes": 0}, 422, "invalid_request"),
        ("put", "/accounts/{account}/schedule", {"every_minutes": "often"}, 422, "invalid_request"),
        ("put", "/accounts/{account}/schedule", {"between": ["09:00"]}, 422, "invalid_request"),
        (
            "put",
            "/accounts/{account}/schedule",
            {"between": ["9 am", "5 pm"]},
            422,
            "invalid_input",
        ),
        ("put", "/accounts/{account}/schedule", {"daily_cap": 1000}, 422, "invalid_request"),
        ("put", "/accounts/{account}/schedule", {"slots": "x" * 600}, 422, "invalid_request"),
        ("put", "/accounts/{account}/schedule", {"colour": "blue"}, 422, "invalid_request"),
        ("put", "/accounts/999999/schedule", {"daily_cap": 2}, 404, "not_found"),
        ("get", "/accounts/999999/schedule", None, 404, "not_found"),
        ("put", "/templates/x", {"template": "no link here {title}"}, 422, "invalid_input"),
        ("put", "/templates/x", {"template": "{title} {url} {secret}"}, 422, "invalid_input"),
        ("put", "/templates/x", {"template": "{url} " + "x" * 1000}, 422, "invalid_request"),
        ("put", "/templates/myspace", {"template": "{url}"}, 404, "not_found"),
        ("post", "/queue/pause", {"account_id": 999999}, 404, "not_found"),
        ("post", "/queue/resume", {"account_id": "one"}, 422, "invalid_request"),
    ],
)
def test_bad_schedules_templates_and_pauses_change_nothing(
    app: TestClient, world: World, method: str, path: str, body: Any, status: int, code: str
) -> None:
    auth = api_token(world.carol.email)
    account = carols_account()

    def state() -> Any:
        with session_scope() as s:
            row = s.get(Account, account)
            carol = s.get(Member, world.carol.id)
            assert row is not None
            assert carol is not None
            return (
                row.schedule_mode,
                row.slots,
                row.min_gap_minutes,
                row.window_start,
                row.window_end,
                row.daily_cap,
                row.paused,
                carol.templates,
                carol.queue_paused,
            )

    before = state()
    kwargs: dict[str, Any] = {"headers": auth}
    if body is not None:
        kwargs["json"] = body
    error_of(
        app.request(method.upper(), API + path.format(account=account), **kwargs), status, code
    )
    assert state() == before


def test_the_openapi_document_describes_the_api(app: TestClient) -> None:
    doc = app.get(f"{API}/openapi.json").json()
    assert "/api/v1/stream/{item_id}/approve" in doc["paths"]
    assert not any(p.startswith("/stream") for p in doc["paths"])  # pages are not API
    assert app.get(f"{API}/docs").status_code == 200


def test_a_token_use_is_recorded_at_most_once_a_minute(app: TestClient, world: World) -> None:
    from sqlalchemy import event

    from tribe.infra.db import get_engine
    from tribe.infra.models import ApiToken

    headers = api_token(world.bob.email)
    assert app.get(f"{API}/me", headers=headers).status_code == 200
    with session_scope() as s:
        first = s.exec(select(ApiToken)).one().last_used_at
    assert first is not None
    writes: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(get_engine(), "before_cursor_execute", seen)
    try:
        assert app.get(f"{API}/stream", headers=headers).status_code == 200
    finally:
        event.remove(get_engine(), "before_cursor_execute", seen)
    assert writes == []
    with session_scope() as s:
        assert s.exec(select(ApiToken)).one().last_used_at == first


def test_every_list_is_paged_by_the_database(app: TestClient, world: World) -> None:
    """`limit` and `offset` go into the query (LIMIT/OFFSET), and `count` is counted
    there too: no list is loaded whole to answer a page of it."""
    from sqlalchemy import event

    from tests import builders as b
    from tribe.infra.db import get_engine

    with session_scope() as s:
        b.feed(s, get_member(s, world.alice.email), "https://alice.blog/other-feed")
        get_member(s, world.alice.email).is_operator = True
    lists = {
        "/accounts": api_token(world.bob.email),
        f"/tribes/{world.slug}/members": api_token(world.bob.email),
        "/tribes": api_token(world.alice.email),
        "/feeds": api_token(world.alice.email),
        "/stream": api_token(world.bob.email),
    }
    for n in (1, 2):
        world.item(world.bob, world.new_post(f"Post {n}", n))
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    for path, auth in lists.items():
        whole = app.get(f"{API}{path}", headers=auth).json()
        assert whole["count"] == len(whole["data"]) >= 2, path
        statements.clear()
        event.listen(get_engine(), "before_cursor_execute", seen)
        try:
            page = app.get(f"{API}{path}?limit=1&offset=1", headers=auth).json()
        finally:
            event.remove(get_engine(), "before_cursor_execute", seen)
        assert page == {"data": whole["data"][1:2], "count": whole["count"]}, path
        assert any("LIMIT" in s.upper() and "OFFSET" in s.upper() for s in statements), path
