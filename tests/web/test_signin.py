"""Signing in: the operator's first account, passwords, sessions, CSRF, invites, links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from tests import builders as b
from tests.web.conftest import PASSWORD, World, client_for, csrf, post_form, sign_in, with_password
from tribe.core.errors import ConflictError, ForbiddenError, LinkError, TooManyAttemptsError
from tribe.core.kinds import MembershipStatus
from tribe.infra.db import session_scope
from tribe.infra.models import Member, Membership, WebSession
from tribe.members import auth, tribes
from tribe.members.people import get_member

OPERATOR = {
    "email": "op@example.org",
    "name": "Olga",
    "timezone": "Europe/Paris",
    "password": PASSWORD,
}


def test_an_empty_instance_sends_the_first_visitor_to_make_the_operator_account(
    app: TestClient,
) -> None:
    assert app.get("/", follow_redirects=False).headers["location"] == "/setup"
    response = post_form(app, "/setup", OPERATOR, page="/setup")
    assert response.status_code == 303
    assert response.headers["location"] == "/welcome"
    with session_scope() as s:
        assert get_member(s, "op@example.org").is_operator
    assert app.get("/tribes").status_code == 200  # signed in by the same response


def test_setup_is_closed_once_the_instance_has_a_member(app: TestClient) -> None:
    post_form(app, "/setup", OPERATOR, page="/setup")
    stranger = client_for(app)
    assert stranger.get("/setup", follow_redirects=False).headers["location"] == "/login"
    token = csrf(stranger, "/login")
    response = stranger.post(
        "/setup", data={**OPERATOR, "email": "eve@example.org", "csrf_token": token}
    )
    assert response.status_code == 422
    assert "already has its operator" in response.text
    with session_scope() as s:
        assert s.exec(select(func.count()).select_from(Member)).one() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("password", "short", "at least 10 characters"),
        ("email", "not-an-email", "is not an email address"),
        ("timezone", "Mars/Olympus", "is not an IANA time zone"),
    ],
)
def test_setup_explains_bad_input_and_stores_nothing(
    app: TestClient, field: str, value: str, message: str
) -> None:
    response = post_form(app, "/setup", {**OPERATOR, field: value}, page="/setup")
    assert response.status_code == 422
    assert message in response.text
    with session_scope() as s:
        assert s.exec(select(func.count()).select_from(Member)).one() == 0


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(app: TestClient) -> None:
    with_password("Alice")
    wrong = post_form(app, "/login", {"email": "alice@example.com", "password": "wrong password!"})
    unknown = post_form(app, "/login", {"email": "nobody@example.com", "password": PASSWORD})
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "do not match an account" in response.text
    assert app.get("/stream", follow_redirects=False).status_code == 303


def test_sign_in_sets_an_httponly_samesite_cookie_and_sign_out_ends_the_session(
    app: TestClient,
) -> None:
    with_password("Alice")
    response = post_form(app, "/login", {"email": "Alice@Example.com", "password": PASSWORD})
    cookie = response.headers["set-cookie"]
    assert "tribe_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    stolen = app.cookies.get("tribe_session")
    assert app.get("/stream").status_code == 200
    post_form(app, "/logout", page="/stream")
    assert app.get("/stream", follow_redirects=False).status_code == 303
    replay = client_for(app)
    replay.cookies.set("tribe_session", stolen)
    assert replay.get("/stream", follow_redirects=False).status_code == 303
    with session_scope() as s:
        assert s.exec(select(func.count()).select_from(WebSession)).one() == 0


def test_a_forged_session_cookie_signs_nobody_in(app: TestClient) -> None:
    with_password("Alice")
    sign_in(app, "alice@example.com")
    value = app.cookies.get("tribe_session")
    assert value
    token, signature = value.rsplit(".", 1)
    forged = client_for(app)
    forged.cookies.set("tribe_session", f"{token}x.{signature}")
    assert forged.get("/stream", follow_redirects=False).status_code == 303


def test_failed_sign_ins_are_limited_per_email_even_with_the_right_password_after(
    app: TestClient,
) -> None:
    with_password("Alice")
    for _ in range(5):
        post_form(app, "/login", {"email": "alice@example.com", "password": "guess guess guess"})
    response = post_form(app, "/login", {"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert "too many failed sign-ins" in response.text
    assert int(response.headers["retry-after"]) > 0
    # Another member is not locked out by it.
    with_password("Bob")
    assert sign_in(client_for(app), "bob@example.com")


def test_a_guesser_elsewhere_does_not_lock_the_member_out(db: None) -> None:
    limits = auth.LoginLimits(per_pair=3, per_email=12, per_address=12)
    with_password("Alice")
    for _ in range(3):
        with session_scope() as s:
            auth.authenticate(
                s,
                email="alice@example.com",
                password="guess guess guess",
                client="203.0.113.9",
                limits=limits,
            )
    with session_scope() as s, pytest.raises(TooManyAttemptsError):
        auth.authenticate(
            s, email="alice@example.com", password=PASSWORD, client="203.0.113.9", limits=limits
        )
    with session_scope() as s:
        member = auth.authenticate(
            s, email="alice@example.com", password=PASSWORD, client="198.51.100.7", limits=limits
        )
        assert member is not None


def test_the_limit_passes_with_its_window(db: None) -> None:
    limits = auth.LoginLimits(per_pair=2, window=timedelta(minutes=15))
    start = datetime.now(UTC)
    with_password("Alice")
    for _ in range(2):
        with session_scope() as s:
            assert (
                auth.authenticate(
                    s,
                    email="alice@example.com",
                    password="nope nope nope",
                    client="10.0.0.1",
                    limits=limits,
                    now=start,
                )
                is None
            )
    with session_scope() as s, pytest.raises(TooManyAttemptsError):
        auth.authenticate(
            s,
            email="alice@example.com",
            password=PASSWORD,
            client="10.0.0.1",
            limits=limits,
            now=start + timedelta(minutes=1),
        )
    later = start + timedelta(minutes=16)
    with session_scope() as s:
        member = auth.authenticate(
            s,
            email="alice@example.com",
            password=PASSWORD,
            client="10.0.0.1",
            limits=limits,
            now=later,
        )
        assert member is not None
        assert member.email == "alice@example.com"


def test_a_form_without_its_csrf_token_changes_nothing(app: TestClient, world: World) -> None:
    before_sign_in = csrf(app, "/login")
    sign_in(app, "bob@example.com")
    post_id = world.new_post()
    item = world.item(world.bob, post_id)
    for headers, data in [
        ({}, {}),
        ({}, {"csrf_token": "forged"}),
        ({"X-CSRF-Token": "x"}, {}),
        ({}, {"csrf_token": before_sign_in}),
    ]:
        response = app.post(f"/stream/{item}/skip", data=data, headers=headers)
        assert response.status_code == 403
        assert "expired" in response.text
    assert "Why tomatoes split" in app.get("/stream").text


def test_a_chief_invites_and_a_newcomer_signs_up_into_the_tribe(
    app: TestClient, world: World
) -> None:
    with session_scope() as s:
        token = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
    page = app.get(f"/join/{token}")
    assert page.status_code == 200
    assert "Join Writers" in page.text
    response = post_form(
        app,
        f"/join/{token}",
        {
            "email": "erin@example.com",
            "name": "Erin",
            "timezone": "Asia/Tokyo",
            "password": PASSWORD,
        },
        page=f"/join/{token}",
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/feeds")
    assert "Welcome to the tribe" in app.get(response.headers["location"]).text
    with session_scope() as s:
        erin = get_member(s, "erin@example.com")
        assert erin.timezone == "Asia/Tokyo"
        assert [
            m.name for m in tribes.mates(s, member=get_member(s, erin.email), slug=world.slug)
        ].count("Erin") == 1


def test_an_invite_link_cannot_take_over_an_existing_account(app: TestClient, world: World) -> None:
    with session_scope() as s:
        token = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
    response = post_form(
        app,
        f"/join/{token}",
        {
            "email": world.dave.email,
            "name": "Mallory",
            "timezone": "UTC",
            "password": "mallory's password",
        },
        page=f"/join/{token}",
    )
    assert response.status_code == 422
    assert "an account with this email exists" in response.text
    assert sign_in(client_for(app), world.dave.email)  # dave's password still works
    with session_scope() as s:
        assert get_member(s, world.dave.email).display_name == "Dave"


def test_a_signed_in_member_joins_with_one_click(app: TestClient, world: World) -> None:
    with session_scope() as s:
        token = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
    sign_in(app, world.dave.email)
    response = post_form(app, f"/join/{token}", page=f"/join/{token}")
    assert response.headers["location"] == f"/tribes/{world.slug}"
    with session_scope() as s:
        assert (
            tribes.tribe_info(s, member=get_member(s, world.dave.email), slug=world.slug).my_role
            == "member"
        )


def test_a_new_invite_link_withdraws_the_old_ones_and_old_links_expire(
    app: TestClient, world: World
) -> None:
    with session_scope() as s:
        old = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
        tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug, renew=True
        )
    response = app.get(f"/join/{old}")
    assert response.status_code == 410
    assert "withdrawn" in response.text
    assert app.get("/join/not-a-real-token").status_code == 410
    with session_scope() as s:
        fresh = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
        with pytest.raises(LinkError, match="expired"):
            tribes.invited_tribe(s, keys=b.keys(), token=fresh, max_age=timedelta(seconds=-1))


def test_only_the_chief_can_make_invite_links(world: World) -> None:
    with session_scope() as s, pytest.raises(ForbiddenError):
        tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.bob.email), slug=world.slug
        )


def test_a_password_link_works_once_and_signs_out_old_sessions(
    app: TestClient, world: World
) -> None:
    old_browser = sign_in(client_for(app), world.bob.email)
    with session_scope() as s:
        token = auth.reset_token(member=get_member(s, world.bob.email), keys=b.keys())
    response = post_form(
        app, f"/reset/{token}", {"password": "a brand new password"}, page=f"/reset/{token}"
    )
    assert response.status_code == 303
    assert old_browser.get("/stream", follow_redirects=False).status_code == 303
    again = app.get(f"/reset/{token}")
    assert again.status_code == 410  # the signature is fine; the link is used
    assert "already used" in again.text
    reuse = post_form(client_for(app), f"/reset/{token}", {"password": "yet another password"})
    assert reuse.status_code == 410
    assert "already used" in reuse.text


def test_leaving_keeps_the_membership_row_and_the_chief_must_hand_over_first(world: World) -> None:
    with session_scope() as s:
        with pytest.raises(ConflictError, match="hand the chief role"):
            tribes.leave(s, member=get_member(s, world.alice.email), slug=world.slug)
        tribes.leave(s, member=get_member(s, world.carol.email), slug=world.slug)
        rows = s.exec(select(Membership).where(Membership.member_id == world.carol.id)).all()
        assert [r.status for r in rows] == [MembershipStatus.LEFT]


def test_a_form_sent_after_the_session_ended_asks_to_sign_in_and_comes_back(
    app: TestClient, world: World
) -> None:
    sign_in(app, world.bob.email)
    token = csrf(app, "/feeds")
    with session_scope() as s:
        for ended in s.exec(select(WebSession)).all():
            ended.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    response = app.post(
        "/feeds",
        data={"csrf_token": token, "url": "https://bob.blog/feed"},
        headers={"Referer": "http://testserver/feeds"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/feeds"
    page = app.get(response.headers["location"])
    assert "you were signed out, so that was not done" in page.text
    assert 'name="next" value="/feeds"' in page.text
