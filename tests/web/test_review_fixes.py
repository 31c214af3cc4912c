"""Holes an independent review found in the web app, each pinned by a test."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import select

from config import get_settings
from tests import builders as b
from tests.fakenet.mastodon import FakeMastodon
from tests.web.conftest import (
    World,
    api_token,
    client_for,
    csrf,
    go_link,
    post_form,
    sign_in,
)
from tribe.core.errors import InvalidInputError, LinkError
from tribe.core.sharetext import check_template
from tribe.infra.db import get_engine, session_scope
from tribe.infra.models import Account
from tribe.members import auth, tribes
from tribe.members.people import get_member


@pytest.mark.parametrize("template", ["{title} {url!r}", "{title:>999999999} {url}", "{url:d}"])
def test_a_template_with_conversions_or_format_specs_is_refused(template: str) -> None:
    with pytest.raises(InvalidInputError, match="placeholders plainly"):
        check_template(template)


def test_the_template_preview_refuses_them_without_a_500(app: TestClient, world: World) -> None:
    sign_in(app, world.bob.email)
    headers = {"X-Tribe-Inplace": "1", "X-CSRF-Token": csrf(app, "/templates")}
    response = app.post("/templates/x/preview", data={"template": "{url!z}"}, headers=headers)
    assert response.status_code == 422
    saved = post_form(app, "/templates/x", {"template": "{url:d}"}, page="/templates")
    assert saved.status_code == 303
    assert app.get("/templates").status_code == 200  # still usable: nothing was saved


def test_a_removed_member_cannot_come_back_with_an_old_invite(world: World) -> None:
    with session_scope() as s:
        link = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
        tribes.remove_member(
            s, member=get_member(s, world.alice.email), slug=world.slug, member_id=b.pk(world.carol)
        )
    with session_scope() as s, pytest.raises(LinkError, match="withdrawn"):
        tribes.accept_invite(
            s,
            keys=b.keys(),
            member=get_member(s, world.carol.email),
            token=link,
            max_age=get_settings().TRIBE_INVITE_TTL,
        )


def test_taking_an_account_back_revokes_its_api_tokens(app: TestClient, world: World) -> None:
    headers = api_token(world.bob.email)
    assert app.get("/api/v1/me", headers=headers).status_code == 200
    with session_scope() as s:
        token = auth.reset_token(member=get_member(s, world.bob.email), keys=b.keys())
    post_form(app, f"/reset/{token}", {"password": "taken back, at last"}, page=f"/reset/{token}")
    assert app.get("/api/v1/me", headers=headers).status_code == 401


def test_a_mastodon_callback_must_carry_the_attempts_state(
    app: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIBE_ALLOWED_NETWORKS", "127.0.0.2/32,127.0.0.1/32")
    monkeypatch.setenv(
        "TRIBE_MASTODON_REDIRECT_URL", "http://testserver/accounts/connect/mastodon/callback"
    )
    get_settings.cache_clear()
    with FakeMastodon(domain="fake.social") as fake:
        sign_in(app, world.carol.email)
        start = post_form(
            app, "/accounts/connect/mastodon", {"instance": fake.base_url}, page="/accounts"
        )
        assert start.status_code == 200
        state = parse_qs(urlsplit(go_link(start.text)).query)["state"][0]
        planted = fake.authorize("mallory")
        refused = app.get(f"/accounts/connect/mastodon/callback?code={planted}&state=guessed")
        assert refused.status_code == 422
        done = app.get(
            f"/accounts/connect/mastodon/callback?code={fake.authorize('carol')}&state={state}",
            follow_redirects=False,
        )
        assert done.status_code == 303
    with session_scope() as s:
        handles = set(s.exec(select(Account.handle).where(Account.member_id == world.carol.id)))
    assert "carol@fake.social" in handles
    assert "mallory@fake.social" not in handles


def test_a_huge_gap_is_a_clear_error(app: TestClient, world: World) -> None:
    sign_in(app, world.bob.email)
    with session_scope() as s:
        account_id = s.exec(select(Account.id).where(Account.member_id == world.bob.id)).first()
    response = post_form(
        app,
        f"/schedule/{account_id}",
        {"mode": "interval", "every": "9" * 30, "start": "08:00", "end": "20:00", "cap": "5"},
        page="/schedule",
    )
    assert response.status_code == 422


def test_a_failed_form_never_goes_back_to_another_site(app: TestClient, world: World) -> None:
    sign_in(app, world.bob.email)
    token = csrf(app, "/stream")
    response = app.post(
        "/stream/999999/skip",
        data={"csrf_token": token},
        follow_redirects=False,
        headers={"Referer": "http://testserver//evil.example/x"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_reading_a_link_writes_nothing(app: TestClient, world: World) -> None:
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement.lstrip().upper())

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert app.get("/join/forged.token.here").status_code == 410
        with session_scope() as s:
            link = tribes.invite_token(
                s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
            )
        statements.clear()
        assert app.get(f"/join/{link}").status_code == 200
        reads = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert reads
    assert not [st for st in reads if st.startswith(("INSERT", "UPDATE", "DELETE"))]


def test_another_browser_cannot_use_a_token_from_someone_elses_session(
    app: TestClient, world: World
) -> None:
    sign_in(app, world.bob.email)
    token = csrf(app, "/stream")
    other = sign_in(client_for(app), world.carol.email)
    other.cookies.set("tribe_csrf", app.cookies.get("tribe_csrf") or "")
    response = other.post("/queue/pause", data={"csrf_token": token})
    assert response.status_code == 403
