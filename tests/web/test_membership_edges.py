"""Membership checked where it is used, at every edge: the stream page and its actions,
the API and the command line refuse an item whose author no longer shares a tribe with
the member, and a removed member sees nothing more of the tribe."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import select

from tests.cli import tribe
from tests.web.conftest import World, api_token, csrf, post_form, sign_in
from tribe.core.kinds import MembershipStatus, StreamState
from tribe.infra.db import session_scope
from tribe.infra.models import Delivery, Membership, StreamItem
from tribe.members import tribes
from tribe.members.people import get_member, get_tribe

API = "/api/v1"
INPLACE = {"X-Tribe-Inplace": "1"}


def carol_is_gone_behind_the_streams_back(world: World) -> None:
    """Carol's membership ends without the withdrawal (a fan-out racing her removal, or
    data from before it): only the checks where items are used stand in the way."""
    with session_scope() as s:
        row = s.exec(
            select(Membership).where(
                Membership.tribe_id == get_tribe(s, world.slug).id,
                Membership.member_id == world.carol.id,
            )
        ).one()
        row.status = MembershipStatus.LEFT


def no_deliveries() -> bool:
    with session_scope() as s:
        return s.exec(select(Delivery)).first() is None


def state_of(item_id: int) -> StreamState:
    with session_scope() as s:
        row = s.get(StreamItem, item_id)
        assert row is not None
        return row.state


def test_the_stream_page_refuses_an_item_whose_author_is_no_tribemate_any_more(
    app: TestClient, world: World
) -> None:
    item = world.item(world.carol, world.new_post("Gone with the wind"))
    sign_in(app, world.carol.email)
    token = csrf(app, "/stream")
    carol_is_gone_behind_the_streams_back(world)
    assert "Gone with the wind" not in app.get("/stream").text
    refused = app.post(
        f"/stream/{item}/approve", headers={**INPLACE, "X-CSRF-Token": token}, data={}
    )
    assert refused.status_code == 409
    assert "no longer share a tribe" in refused.text
    assert no_deliveries()
    assert state_of(item) == StreamState.PENDING  # refused, not decided (and not listed)


def test_the_stream_form_refuses_it_too_and_says_why(app: TestClient, world: World) -> None:
    item = world.item(world.carol, world.new_post("Gone with the wind"))
    sign_in(app, world.carol.email)
    carol_is_gone_behind_the_streams_back(world)
    sent = post_form(app, f"/stream/{item}/approve", page="/stream")
    assert sent.status_code == 303
    assert "no longer share a tribe" in app.get("/stream").text
    post_form(app, "/stream/approve-all", {"item_ids": [item]}, page="/stream")
    assert no_deliveries()


def test_the_api_refuses_it_with_a_json_error(app: TestClient, world: World) -> None:
    item = world.item(world.carol, world.new_post())
    carol_is_gone_behind_the_streams_back(world)
    auth = api_token(world.carol.email)
    assert app.get(f"{API}/stream", headers=auth).json()["count"] == 0
    refused = app.post(f"{API}/stream/{item}/approve", headers=auth)
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "conflict"
    assert "no longer share a tribe" in body["detail"]
    assert no_deliveries()
    assert state_of(item) == StreamState.PENDING  # refused, not decided (and not listed)


def test_the_command_line_refuses_it_in_one_line(world: World) -> None:
    item = world.item(world.carol, world.new_post())
    carol_is_gone_behind_the_streams_back(world)
    result = tribe("approve", world.carol.email, str(item))
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "no longer share a tribe" in line
    assert no_deliveries()
    assert state_of(item) == StreamState.PENDING  # refused, not decided (and not listed)
    everything = tribe("approve", world.carol.email, "--all")
    assert everything.exit_code == 0
    assert no_deliveries()


def test_a_removed_member_sees_nothing_more_of_the_tribe(app: TestClient, world: World) -> None:
    item = world.item(world.carol, world.new_post("Only for tribemates"))
    sign_in(app, world.carol.email)
    with session_scope() as s:
        tribes.remove_member(
            s,
            member=get_member(s, world.alice.email),
            slug=world.slug,
            member_id=world.carol.id or 0,
        )
    assert "Only for tribemates" not in app.get("/stream").text
    assert app.get(f"/tribes/{world.slug}").status_code == 404
    auth = api_token(world.carol.email)
    for path in (f"/tribes/{world.slug}", f"/tribes/{world.slug}/members"):
        assert app.get(f"{API}{path}", headers=auth).status_code == 404
    assert app.post(f"{API}/stream/{item}/approve", headers=auth).status_code == 409
    assert no_deliveries()
