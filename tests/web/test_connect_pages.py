"""Connecting accounts in the browser, against the local fake networks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from config import get_settings
from tests.fakenet.bluesky import FakeBluesky
from tests.fakenet.common import SECRET, internal_server, redirector
from tests.fakenet.facebook import FakeFacebook
from tests.fakenet.linkedin import FakeLinkedIn
from tests.fakenet.mastodon import FakeMastodon
from tests.fakenet.threads import FakeThreads
from tests.fakenet.x import FakeX
from tests.web.conftest import World, go_link, post_form, sign_in
from tribe.core.kinds import Connection, Network
from tribe.infra.db import session_scope
from tribe.infra.models import Account, ReachSnapshot
from tribe.infra.vault import process_vault


@pytest.fixture(autouse=True)
def fakes_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fakes listen on 127.0.0.2, which member-given servers may only use when allowed;
    127.0.0.1 is allowed too, but nothing else on loopback (tests/fakenet's INTERNAL)."""
    monkeypatch.setenv("TRIBE_ALLOWED_NETWORKS", "127.0.0.2/32,127.0.0.1/32")
    get_settings.cache_clear()


def account(handle: str) -> Account:
    with session_scope() as s:
        found = s.exec(select(Account).where(Account.handle == handle)).one()
        s.expunge(found)
        return found


def step_link(html: str) -> str:
    match = re.search(r'<a href="([^"]+)" target="_blank"', html)
    assert match, html
    return match.group(1).replace("&amp;", "&")


def test_bluesky_connects_with_an_app_password(app: TestClient, world: World) -> None:
    with FakeBluesky() as fake:
        fake.add_account("carol.bsky.social", "app-pass-word")
        sign_in(app, world.carol.email)
        wrong = post_form(
            app,
            "/accounts/connect/bluesky",
            {"handle": "carol.bsky.social", "password": "nope", "pds": fake.base_url},
            page="/accounts",
        )
        assert wrong.status_code == 303
        assert 'class="flash error"' in app.get("/accounts").text
        done = post_form(
            app,
            "/accounts/connect/bluesky",
            {"handle": "carol.bsky.social", "password": "app-pass-word", "pds": fake.base_url},
            page="/accounts",
        )
        assert done.status_code == 303
        page = app.get("/accounts").text
    assert "connected bluesky" in page
    assert "app-pass-word" not in page
    assert account("carol.bsky.social").connection == Connection.CONNECTED


def test_mastodon_connects_with_the_code_the_instance_shows(app: TestClient, world: World) -> None:
    with FakeMastodon(domain="fake.social") as fake:
        sign_in(app, world.carol.email)
        step = post_form(
            app, "/accounts/connect/mastodon", {"instance": fake.base_url}, page="/accounts"
        )
        assert step.status_code == 200
        assert "tribe_connect" in step.headers["set-cookie"]
        link = step_link(step.text)
        assert link.startswith(fake.base_url + "/oauth/authorize")
        code = fake.authorize("carol")
        fake.set_followers("carol", 4321)
        done = post_form(app, "/accounts/connect/mastodon/finish", {"code": code}, page="/accounts")
        assert done.status_code == 303
        assert "connected mastodon" in app.get("/accounts").text
    connected = account("carol@fake.social")
    assert connected.connection == Connection.CONNECTED
    # Connecting is when the account's followers are first read.
    with session_scope() as s:
        readings = s.exec(select(ReachSnapshot).where(ReachSnapshot.account_id == connected.id))
        assert [r.followers for r in readings] == [4321]
    vault = process_vault()
    assert vault is not None
    assert vault.open(connected.credentials or "")["access_token"]


def test_x_connects_with_a_pin(
    app: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeX() as fake:
        user = fake.add_user("carol_writes")
        for name, value in {
            "TRIBE_X_API_URL": fake.base_url,
            "TRIBE_X_API_KEY": fake.consumer_key,
            "TRIBE_X_API_SECRET": fake.consumer_secret,
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        sign_in(app, world.carol.email)
        step = post_form(app, "/accounts/connect/x", page="/accounts")
        request_token = parse_qs(urlsplit(step_link(step.text)).query)["oauth_token"][0]
        pin = fake.authorize_oauth1(request_token, user)
        # Someone else's browser cannot finish Carol's connection.
        other = sign_in(TestClient(app.app), world.bob.email)
        stolen = post_form(other, "/accounts/connect/x/finish", {"code": pin}, page="/accounts")
        assert stolen.status_code == 410
        done = post_form(app, "/accounts/connect/x/finish", {"code": pin}, page="/accounts")
        assert done.status_code == 303
    assert account("carol_writes").remote_user_id == user.id
    with session_scope() as s:
        assert (
            s.exec(
                select(Account).where(
                    Account.member_id == world.bob.id, Account.handle == "carol_writes"
                )
            ).first()
            is None
        )


def test_x_oauth2_returns_to_the_callback(
    app: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeX() as fake:
        user = fake.add_user("carol_writes")
        settings = {
            "TRIBE_X_API_URL": fake.base_url,
            "TRIBE_X_CLIENT_ID": fake.client_id,
            "TRIBE_X_CLIENT_SECRET": fake.client_secret or "",
            "TRIBE_X_REDIRECT_URL": "http://testserver/accounts/connect/x/callback",
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        sign_in(app, world.carol.email)
        start = post_form(app, "/accounts/connect/x", page="/accounts")
        # A page that goes on, not a 303: browsers hold a form's redirect to `form-action`.
        assert start.status_code == 200
        back = fake.oauth2_redirect(go_link(start.text), user)
        assert back.startswith("http://testserver/accounts/connect/x/callback?")
        done = app.get(back, follow_redirects=False)
        assert done.status_code == 303, done.text
    vault = process_vault()
    assert vault is not None
    assert vault.open(account("carol_writes").credentials or "")["auth"] == "oauth2"


def test_an_expired_or_missing_step_says_start_again(app: TestClient, world: World) -> None:
    sign_in(app, world.carol.email)
    response = app.post(
        "/accounts/connect/mastodon/finish",
        data={"code": "abc"},
        headers={"X-Tribe-Inplace": "1", "X-CSRF-Token": "x"},
    )
    assert response.status_code == 403  # no CSRF token: refused before anything
    missing = post_form(app, "/accounts/connect/mastodon/finish", {"code": "abc"}, page="/accounts")
    assert missing.status_code == 410
    assert "start it again" in missing.text


def plain_refusal(host: str) -> str:
    """The one message for a refused address and a name that does not resolve alike."""
    return (
        f"tribe could not reach a public server at {host}; check the address "
        "— tribe only connects to servers on the public internet"
    )


def both_forms(server: str) -> list[tuple[str, dict[str, object]]]:
    return [
        ("/accounts/connect/mastodon", {"instance": server}),
        (
            "/accounts/connect/bluesky",
            {"handle": "carol.bsky.social", "password": "app-pass-word", "pds": server},
        ),
    ]


def in_place(app: TestClient, path: str, form: dict[str, object]) -> httpx.Response:
    return post_form(app, path, form, page="/accounts", headers={"X-Tribe-Inplace": "1"})


@pytest.mark.parametrize("server", ["http://host:99999", "https://h:1:2", "http://[::1"])
def test_a_server_address_that_is_not_one_answers_422_with_a_sentence(
    app: TestClient, world: World, server: str
) -> None:
    sign_in(app, world.carol.email)
    for path, form in both_forms(server):
        answer = in_place(app, path, form)
        assert answer.status_code == 422, answer.text
        assert re.search(r"invalid port|not a valid web address", answer.text)
        # The plain form goes back to the page, which shows the sentence.
        back = post_form(app, path, form, page="/accounts")
        assert back.status_code == 303
        assert re.search(r"invalid port|not a valid web address", app.get("/accounts").text)


@pytest.mark.parametrize(
    ("server", "host"),
    [("http://127.0.0.3:9", "127.0.0.3"), ("http://no-such-host.invalid", "no-such-host.invalid")],
)
def test_a_refused_address_and_an_unknown_name_read_the_same(
    app: TestClient, world: World, server: str, host: str
) -> None:
    sign_in(app, world.carol.email)
    for path, form in both_forms(server):
        answer = in_place(app, path, form)
        assert answer.status_code == 422
        assert answer.text == plain_refusal(host)


def test_a_server_that_redirects_inside_reaches_nothing_there(
    app: TestClient, world: World
) -> None:
    """A 307 to the operator's network would carry the app password there."""
    sign_in(app, world.carol.email)
    with internal_server() as internal, redirector(internal.base_url) as hostile:
        for path, form in both_forms(hostile.base_url):
            answer = in_place(app, path, form)
            assert answer.status_code == 422
            assert "answered with a redirect (HTTP 307)" in answer.text
            assert SECRET not in answer.text
        assert internal.requests == []


def test_a_network_tribe_does_not_know_is_not_found(app: TestClient, world: World) -> None:
    sign_in(app, world.carol.email)
    assert post_form(app, "/accounts/connect/myspace", page="/accounts").status_code == 404
    assert app.get("/accounts/connect/myspace/callback?code=x").status_code == 404


def test_a_field_longer_than_its_network_allows_is_refused(app: TestClient, world: World) -> None:
    sign_in(app, world.carol.email)
    answer = in_place(
        app, "/accounts/connect/bluesky", {"handle": "c" * 254, "password": "app-pass-word"}
    )
    assert answer.status_code == 422
    assert "Handle: at most 253 characters" in answer.text


def test_a_callback_without_a_code_changes_nothing(app: TestClient, world: World) -> None:
    sign_in(app, world.carol.email)
    back = app.get("/accounts/connect/x/callback?error=access_denied", follow_redirects=False)
    assert back.status_code == 303
    assert "X did not authorize tribe; nothing changed" in app.get("/accounts").text


# LinkedIn, a Facebook Page and Threads: a sign-in on the network that comes back. ---------


def oauth_network(network: str) -> tuple[Any, Callable[[str], str], str]:
    """(the started fake, how its member approves tribe on its page: authorize address ->
    the address the browser is sent back to, the account's name in tribe)."""
    if network == "linkedin":
        linkedin = FakeLinkedIn().start()
        person = linkedin.add_user("Carol Writes")
        return linkedin, lambda url: linkedin.oauth2_redirect(url, person), "Carol Writes"
    if network == "facebook":
        facebook = FakeFacebook().start()
        page = facebook.add_user("Carol's Garden")
        return facebook, lambda url: facebook.redirect(url, page.manager), "Carol's Garden"
    threads = FakeThreads().start()
    user = threads.add_user("carol.writes")
    return threads, lambda url: threads.oauth2_redirect(url, user), "carol.writes"


@pytest.mark.parametrize("network", ["linkedin", "facebook", "threads"])
def test_oauth_networks_connect_through_their_callback(
    app: TestClient, world: World, monkeypatch: pytest.MonkeyPatch, network: str
) -> None:
    fake, approve, handle = oauth_network(network)
    try:
        callback = f"http://testserver/accounts/connect/{network}/callback"
        for name, value in {
            **fake.env(),
            f"TRIBE_{network.upper()}_REDIRECT_URL": callback,
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        sign_in(app, world.carol.email)
        assert f'action="/accounts/connect/{network}"' in app.get("/accounts").text
        start = post_form(app, f"/accounts/connect/{network}", page="/accounts")
        assert start.status_code == 200, start.text
        back = approve(go_link(start.text))
        assert back.startswith(callback + "?")
        done = app.get(back.split("#", 1)[0], follow_redirects=False)  # browsers keep #_ local
        assert done.status_code == 303, done.text
        page = app.get("/accounts").text
    finally:
        fake.stop()
    assert f"connected {network}" in page
    stored = account(handle)
    assert stored.connection == Connection.CONNECTED
    vault = process_vault()
    assert vault is not None
    creds = vault.open(stored.credentials or "")
    assert creds["access_token"] not in page
    # LinkedIn's and Threads' sign-ins run out (and are renewed ahead); a Page's does not.
    assert (stored.token_expires_at is not None) == (network != "facebook")


def test_a_member_who_declines_on_the_network_is_told_and_nothing_changes(
    app: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLinkedIn() as linkedin:
        callback = "http://testserver/accounts/connect/linkedin/callback"
        for name, value in {**linkedin.env(), "TRIBE_LINKEDIN_REDIRECT_URL": callback}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        sign_in(app, world.carol.email)
        start = post_form(app, "/accounts/connect/linkedin", page="/accounts")
        back = app.get(linkedin.declined_redirect(go_link(start.text)), follow_redirects=False)
    assert back.status_code == 303
    assert "LinkedIn did not authorize tribe" in app.get("/accounts").text
    with session_scope() as s:
        linked = s.exec(select(Account).where(Account.network == Network.LINKEDIN)).all()
    assert linked == []
