"""No secret or token in a page, a log line or an API response."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests import builders as b
from tests.web.conftest import PASSWORD, World, client_for, post_form, sign_in
from tribe.core.kinds import Network
from tribe.delivery.placing import placement_config
from tribe.infra.db import session_scope
from tribe.infra.vault import process_vault
from tribe.members import auth, tribes
from tribe.members.accounts import add_account
from tribe.members.people import get_member
from tribe.networks.connect import Connected, store_connection


def test_no_secret_reaches_a_page_an_api_answer_or_a_log_line(
    app: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault = process_vault()
    assert vault is not None
    with session_scope() as s:
        store_connection(
            s,
            member=get_member(s, world.bob.email),
            vault=vault,
            config=placement_config(),
            connected=Connected(
                network=Network.MASTODON,
                handle="@bob@mastodon.social",
                credentials={"access_token": "MASTODON-ACCESS-SECRET"},
                remote_user_id="1",
                base_url="https://mastodon.social",
            ),
        )
        invite = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
        reset = auth.reset_token(member=get_member(s, world.carol.email), keys=b.keys())
        password_hash = get_member(s, world.bob.email).password_hash
        add_account(
            s, member=get_member(s, world.bob.email), network="bluesky", handle="bob.bsky.social"
        )
    world.new_post()
    bodies = []
    browser = sign_in(client_for(app), world.bob.email)
    session_token = browser.cookies.get("tribe_session")
    assert session_token
    made = post_form(browser, "/settings/tokens", {"name": "script"}, page="/settings")
    secret = made.text.split('id="new-token"')[0].rsplit('value="', 1)[1].split('"')[0]
    for path in [
        "/stream",
        "/queue",
        "/history",
        "/feeds",
        "/accounts",
        "/tribes",
        f"/tribes/{world.slug}",
        "/settings",
        "/schedule",
        "/templates",
    ]:
        page = browser.get(path)
        assert page.status_code == 200, path
        bodies.append(page.text)
    with session_scope() as s:
        get_member(s, world.bob.email).is_operator = True
    admin = browser.get("/admin")
    assert admin.status_code == 200
    bodies.append(admin.text)
    headers = {"Authorization": f"Bearer {secret}"}
    for path in [
        "/me",
        "/stream",
        "/queue",
        "/history",
        "/feeds",
        "/accounts",
        "/tribes",
        f"/tribes/{world.slug}",
        f"/tribes/{world.slug}/members",
    ]:
        answer = app.get(f"/api/v1{path}", headers=headers)
        assert answer.status_code == 200, path
        bodies.append(answer.text)
    bodies.append(client_for(app).get(f"/join/{invite}").text)
    bodies.append(client_for(app).get(f"/reset/{reset}").text)
    everything = "\n".join(bodies)
    # The test client logs the URLs it asks for; the app's own lines are what count.
    logs = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")
    for value in [
        secret,
        session_token.split(".")[0],
        PASSWORD,
        password_hash,
        "MASTODON-ACCESS-SECRET",
    ]:
        assert value not in everything
        assert value not in logs
    for value in [invite, reset]:  # links carry them: the page may, a log line never
        assert value not in logs
    assert "GET /join/{token} 200" in logs  # the request log names the route, not the path
    assert "GET /api/v1/me 200" in logs
