"""The first run, in the browser alone: dry run says so, practice accounts, the getting-
started steps, a stable invite link with a copy button, the join page, the favicon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from config import get_settings
from tests import builders as b
from tests.web.conftest import PASSWORD, World, client_for, post_form, sign_in, with_password
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Tribe
from tribe.members import tribes
from tribe.members.people import get_member
from tribe.stream.approvals import approval_config, approve

SETUP = {
    "email": "op@example.org",
    "name": "Olga",
    "timezone": "Europe/Paris",
    "password": PASSWORD,
}


@pytest.fixture
def dry_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBE_DRY_RUN", "true")
    get_settings.cache_clear()


@pytest.mark.usefixtures("dry_run")
def test_in_dry_run_every_page_says_so_and_only_the_operator_is_told_how_to_stop_it(
    app: TestClient, world: World
) -> None:
    operator = with_password("Olga", operator=True)
    member = sign_in(client_for(app), world.bob.email)
    boss = sign_in(client_for(app), operator.email)
    for path in ("/stream", "/queue", "/history", "/feeds", "/accounts", "/tribes"):
        page = member.get(path).text
        assert "Dry run:" in page, path
        assert "TRIBE_DRY_RUN=false" not in page, path
    assert "TRIBE_DRY_RUN=false" in boss.get("/stream").text
    assert "Dry run:" in app.get("/login").text  # before signing in too


def test_without_dry_run_there_is_no_banner_and_no_practice(app: TestClient, world: World) -> None:
    sign_in(app, world.bob.email)
    assert "Dry run:" not in app.get("/stream").text
    assert "Practice account" not in app.get("/accounts").text
    refused = post_form(
        app, "/accounts/practice", {"network": "x", "handle": "@bob2"}, page="/accounts"
    )
    assert refused.status_code in (303, 404)
    with session_scope() as s:
        assert s.exec(select(Account).where(Account.handle == "bob2")).first() is None


@pytest.mark.usefixtures("dry_run")
def test_in_dry_run_a_practice_account_by_handle_is_enough_to_approve(
    app: TestClient, world: World
) -> None:
    erin = with_password("Erin")
    with session_scope() as s:
        b.tribe(s, "Practice", world.alice, erin)
    sign_in(app, erin.email)
    page = app.get("/accounts").text
    assert "Practice account" in page
    added = post_form(
        app,
        "/accounts/practice",
        {"network": "mastodon", "handle": "erin@m.social"},
        page="/accounts",
    )
    assert added.status_code == 303
    assert "practice (dry run)" in app.get("/accounts").text
    post = world.new_post("Practice makes perfect", 7)
    item = world.item(erin, post)
    with session_scope() as s:
        decision = approve(
            s, member=get_member(s, erin.email), item_id=item, config=approval_config()
        )
    assert [q.network.value for q in decision.queued] == ["mastodon"]


def test_setup_leads_to_the_steps_and_each_is_ticked_when_done(app: TestClient) -> None:
    response = post_form(app, "/setup", SETUP, page="/setup")
    assert response.headers["location"] == "/welcome"
    page = app.get("/welcome").text
    assert page.count('class="step "') == 4  # nothing done yet
    post_form(app, "/tribes", {"name": "Garden Writers"}, page="/welcome")
    page = app.get("/welcome").text
    assert page.count('class="step done"') == 1
    assert "/join/" in page  # the invite link, with its copy button
    assert 'data-copy="#invite-link"' in page
    with session_scope() as s:
        b.feed(s, get_member(s, SETUP["email"]), "https://olga.blog/feed")
    page = app.get("/welcome").text
    assert page.count('class="step done"') == 2
    assert "Your feeds" in page


def test_the_invite_link_stays_the_same_until_the_chief_renews_it(
    app: TestClient, world: World
) -> None:
    sign_in(app, world.alice.email)
    first = app.get(f"/tribes/{world.slug}").text
    again = app.get(f"/tribes/{world.slug}").text
    assert _invite(first) == _invite(again)
    assert 'data-copy="#invite-link"' in first
    post_form(app, f"/tribes/{world.slug}/invite", page=f"/tribes/{world.slug}")
    renewed = app.get(f"/tribes/{world.slug}").text
    assert _invite(renewed) != _invite(first)
    stranger = client_for(app)
    assert stranger.get(_path(_invite(first))).status_code == 410  # withdrawn
    assert stranger.get(_path(_invite(renewed))).status_code == 200


def test_an_expired_invite_link_is_shown_as_such_with_a_way_to_renew(
    app: TestClient, world: World
) -> None:
    with session_scope() as s:
        tribe = s.exec(select(Tribe).where(Tribe.slug == world.slug)).one()
        tribe.invite_issued_at = datetime.now(UTC) - get_settings().TRIBE_INVITE_TTL - timedelta(1)
    sign_in(app, world.alice.email)
    page = app.get(f"/tribes/{world.slug}").text
    assert "This invite link expired on" in page
    assert "Make a new link" in page
    post_form(app, f"/tribes/{world.slug}/invite", page=f"/tribes/{world.slug}")
    assert "This invite link expired" not in app.get(f"/tribes/{world.slug}").text


def test_the_join_page_shows_the_tribe_its_chief_and_how_many_are_in_it(
    app: TestClient, world: World
) -> None:
    with session_scope() as s:
        token = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
        tribes.update_tribe(
            s, member=get_member(s, world.alice.email), slug=world.slug, description="We grow."
        )
    page = app.get(f"/join/{token}").text
    assert "Join Writers" in page
    assert "Chief: Alice" in page
    assert "3 members" in page
    assert "We grow." in page


def test_every_page_names_a_favicon_and_it_is_there(app: TestClient) -> None:
    assert 'rel="icon"' in app.get("/login").text
    icon = app.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert app.get("/static/favicon.svg").status_code == 200


def _invite(page: str) -> str:
    start = page.index('id="invite-link"')
    line = page[page.rindex("<input", 0, start) : page.index(">", start)]
    return line.split('value="')[1].split('"')[0]


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]
