"""What an attacker tried against the web app (issue 10), pinned: sign-in limits that
never lock an owner out, limits before parsing, headers, sign-up that tells nothing."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import func, select

from config import get_settings
from tests import builders as b
from tests.fakenet.feeds import FeedServer, trickle
from tests.fakenet.mailbox import Mailbox
from tests.integration.cluster import wait_for
from tests.web.conftest import (
    PASSWORD,
    World,
    api_token,
    client_for,
    csrf,
    mail_text,
    post_form,
    sign_in,
    with_password,
)
from tribe.core.errors import TooManyAttemptsError
from tribe.infra.db import session_scope
from tribe.infra.models import LoginFailure, Member, Membership
from tribe.members import auth, tribes
from tribe.members.people import get_member
from tribe.web.app import create_app

LIMITS = auth.LoginLimits(per_pair=3, per_email=8, per_address=8, per_device=3)


def attempt(
    password: str,
    client: str,
    device: auth.Device | None = None,
    *,
    email: str = "alice@example.com",
) -> Member | None:
    with session_scope() as s:
        return auth.authenticate(
            s, email=email, password=password, client=client, limits=LIMITS, device=device
        )


def owners_device(member: Member) -> auth.Device:
    cookie = auth.device_cookie(b.keys(), member)
    device = auth.read_device(b.keys(), cookie, max_age=timedelta(days=1))
    assert device is not None
    return device


# Sign-in limits ---------------------------------------------------------------------------


@pytest.mark.usefixtures("db")
def test_failures_from_many_addresses_never_lock_the_owner_out_of_their_own_browser() -> None:
    alice = with_password("Alice")
    device = owners_device(alice)
    # A guesser spreads its failures over four networks (one of them an IPv6 /64).
    spread = ["203.0.113.9", "198.51.100.7", "192.0.2.1", "2001:db8::1"] * 2
    spread[-1] = "2001:db8::2"
    for client in spread[: LIMITS.per_email]:
        assert attempt("guess guess guess", client) is None
    with pytest.raises(TooManyAttemptsError):  # a new browser, even with the password
        attempt(PASSWORD, "192.0.2.50")
    member = attempt(PASSWORD, "192.0.2.50", device)  # the owner's browser still gets in
    assert member is not None
    assert member.email == "alice@example.com"


@pytest.mark.usefixtures("db")
def test_a_device_has_its_own_small_allowance_and_spends_nobody_elses() -> None:
    alice = with_password("Alice")
    stolen, own = owners_device(alice), owners_device(alice)
    for _ in range(LIMITS.per_device):
        assert attempt("guess guess guess", "203.0.113.9", stolen) is None
    with pytest.raises(TooManyAttemptsError):
        attempt(PASSWORD, "203.0.113.9", stolen)
    assert attempt(PASSWORD, "203.0.113.9", own) is not None
    assert attempt(PASSWORD, "198.51.100.7") is not None  # nor were browsers elsewhere limited


@pytest.mark.usefixtures("db")
def test_a_device_cookie_of_another_account_counts_as_no_device() -> None:
    with_password("Alice")
    bob = with_password("Bob")
    bobs = owners_device(bob)
    for _ in range(LIMITS.per_pair):
        assert attempt("guess guess guess", "203.0.113.9", bobs) is None
    with pytest.raises(TooManyAttemptsError):
        attempt(PASSWORD, "203.0.113.9", bobs)


@pytest.mark.usefixtures("db")
def test_an_ipv6_network_counts_as_one_address() -> None:
    for name in ("Alice", "Bob", "Carol"):
        with_password(name)
    for n in range(LIMITS.per_address):
        who = ["alice", "bob", "carol"][n % 3]
        attempt("guess guess guess", f"2001:db8:0:7::{n + 1:x}", email=f"{who}@example.com")
    with pytest.raises(TooManyAttemptsError):
        attempt(PASSWORD, "2001:db8:0:7:ffff::1", email="carol@example.com")
    assert attempt(PASSWORD, "2001:db8:0:8::1", email="carol@example.com") is not None


def test_the_browser_that_signed_in_keeps_its_way_in_while_others_are_locked_out(
    app: TestClient,
) -> None:
    with_password("Alice")
    owner = sign_in(client_for(app), "alice@example.com")
    device = owner.cookies.get("tribe_device")
    assert device
    post_form(owner, "/logout", page="/stream")
    settings = get_settings()
    limits = auth.LoginLimits(
        per_pair=settings.TRIBE_LOGIN_ATTEMPTS,
        per_email=settings.TRIBE_LOGIN_ATTEMPTS * 4,
        per_address=settings.TRIBE_LOGIN_ATTEMPTS * 4,
        window=settings.TRIBE_LOGIN_WINDOW,
    )
    for n in range(limits.per_email):  # from four addresses somewhere else
        with session_scope() as s:
            auth.authenticate(
                s,
                email="alice@example.com",
                password="guess guess guess",
                client=f"203.0.113.{n % 4}",
                limits=limits,
            )
    stranger = post_form(
        client_for(app), "/login", {"email": "alice@example.com", "password": PASSWORD}
    )
    assert stranger.status_code == 429
    back = post_form(owner, "/login", {"email": "alice@example.com", "password": PASSWORD})
    assert back.status_code == 303
    assert owner.get("/stream").status_code == 200


def test_the_device_cookie_is_private_to_the_sign_in_page(app: TestClient) -> None:
    with_password("Alice")
    response = post_form(app, "/login", {"email": "alice@example.com", "password": PASSWORD})
    cookies = response.headers.get_list("set-cookie")
    (device,) = [c for c in cookies if c.startswith("tribe_device=")]
    assert "HttpOnly" in device
    assert "Path=/login" in device
    assert "SameSite=lax" in device


# Limits before parsing --------------------------------------------------------------------


def _raw_post(base: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """A request as any client may send it, straight to the server (no client-side limits)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    conn.putrequest("POST", path)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    if "Transfer-Encoding" in headers:
        for start in range(0, len(body), 65536):
            chunk = body[start : start + 65536]
            try:
                conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            conn.send(b"0\r\n\r\n")
    else:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.send(body)
    response = conn.getresponse()
    return response.status, response.read()


def test_a_body_over_the_limit_is_refused_before_anything_reads_it(app: TestClient) -> None:
    limit = get_settings().TRIBE_MAX_REQUEST_BYTES
    with_password("Alice")
    big = json.dumps({"url": "x" * (limit + 1)})
    api = app.post("/api/v1/feeds", content=big, headers={"content-type": "application/json"})
    assert api.status_code == 413  # not the 401 of a request read first
    assert api.json()["code"] == "too_large"
    form = app.post(
        "/login",
        content=b"email=alice%40example.com&password=" + b"x" * limit,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 413
    assert "larger than 1 MiB" in form.text
    with session_scope() as s:  # the sign-in form was never read: no failure counted
        assert s.exec(select(func.count()).select_from(LoginFailure)).one() == 0
    assert app.get("/healthz").status_code == 200


@pytest.mark.integration
@pytest.mark.usefixtures("db")
def test_a_chunked_body_is_cut_off_at_the_limit_by_the_real_server(tmp_path: Path) -> None:
    from tests.integration.cluster import cluster, free_port

    limit = 64 * 1024
    with cluster(tmp_path, TRIBE_MAX_REQUEST_BYTES=str(limit)) as running:
        base = running.start_web(free_port())
        status, body = _raw_post(
            base,
            "/api/v1/feeds",
            b"[" + b"1," * (limit * 4) + b"1]",
            {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )
        assert status == 413
        assert json.loads(body)["code"] == "too_large"
        status, _ = _raw_post(
            base,
            "/login",
            b"x" * (limit * 4),
            {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(limit * 4)},
        )
        assert status == 413


def test_a_member_cannot_take_every_thread_with_slow_feed_checks(
    app: TestClient, world: World
) -> None:
    assert isinstance(app.app, FastAPI)
    limiter = app.app.state.outbound.calls
    bob, carol = world.bob.id, world.carol.id
    assert bob is not None
    assert carol is not None
    with limiter.slot(bob), limiter.slot(bob):  # two checks of bob's are running
        headers = api_token(world.bob.email)
        refused = app.post("/api/v1/feeds", json={"url": "https://bob.blog/feed"}, headers=headers)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert "already have checks running" in refused.json()["detail"]
        page = sign_in(client_for(app), world.bob.email)
        form = post_form(page, "/feeds", {"url": "https://bob.blog/feed"}, page="/feeds")
        assert form.status_code == 429
        assert "already have checks running" in form.text
        with limiter.slot(carol):  # carol has her own allowance
            pass


@pytest.mark.integration
def test_slow_feeds_added_in_parallel_leave_the_app_answering(
    tmp_path: Path, world: World, server: FeedServer
) -> None:
    """45 adds of a feed that sends a byte every two seconds, from three members at once:
    most are refused at once, the few admitted end at their short deadline, and the
    health check answers while they run (it used to wait for a free thread)."""
    from tests.integration.cluster import cluster, free_port

    server.routes["/slow.xml"] = trickle(b"<rss>" + b" " * 200 + b"</rss>", bytes_per_second=0.5)
    tokens = [api_token(m.email) for m in (world.bob, world.carol, world.dave)]
    with cluster(tmp_path, TRIBE_WEB_CALL_DEADLINE="6s") as running:
        base = running.start_web(free_port())

        def add(n: int) -> tuple[int, float]:
            body = json.dumps({"url": server.url(f"/slow.xml?n={n}")}).encode()
            request = urllib.request.Request(
                f"{base}/api/v1/feeds",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", **tokens[n % 3]},
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    status = answer.status
            except urllib.error.HTTPError as error:
                status = error.code
            return status, time.monotonic()

        with ThreadPoolExecutor(45) as pool:
            adds = [pool.submit(add, n) for n in range(45)]
            wait_for("the admitted checks to reach the feed", lambda: server.hits("/slow.xml") >= 6)
            with urllib.request.urlopen(f"{base}/healthz", timeout=60) as health:
                assert health.status == 200
            healthy_at = time.monotonic()
            results = [future.result() for future in adds]
    statuses = sorted(status for status, _ in results)
    assert statuses.count(429) >= 45 - 3 * get_settings().TRIBE_WEB_CALLS_PER_MEMBER
    admitted = [at for status, at in results if status != 429]
    assert admitted
    assert all(400 <= status < 500 for status in statuses)  # the deadline: a feed error
    assert healthy_at < min(admitted)


def test_the_instance_wide_limit_holds_across_members() -> None:
    from tribe.web.limits import CallLimiter

    limiter = CallLimiter(total=3, per_member=2, retry_after=10)
    with (
        limiter.slot(1),
        limiter.slot(2),
        limiter.slot(3),
        pytest.raises(TooManyAttemptsError, match="busy"),
        limiter.slot(4),
    ):
        pass
    with (  # everything was given back
        limiter.slot(4),
        limiter.slot(4),
        pytest.raises(TooManyAttemptsError, match="already have checks"),
        limiter.slot(4),
    ):
        pass


# Headers ----------------------------------------------------------------------------------


def test_pages_and_api_answers_are_never_stored_but_static_files_may_be(
    app: TestClient, world: World
) -> None:
    sign_in(app, world.bob.email)
    made = post_form(app, "/settings/tokens", {"name": "laptop"}, page="/settings")
    page = app.get(made.headers["location"]) if made.status_code == 303 else made
    assert "tribe_" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert app.get("/stream").headers["cache-control"] == "no-store"
    api = app.get("/api/v1/me", headers=api_token(world.bob.email))
    assert api.headers["cache-control"] == "no-store"
    assert "no-store" not in app.get("/static/app.css").headers.get("cache-control", "")


def test_under_https_every_cookie_is_secure(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    monkeypatch.setenv("TRIBE_BASE_URL", "https://tribe.example.org")
    get_settings.cache_clear()
    with TestClient(create_app(), base_url="https://testserver") as client:
        sign_in(client, world.bob.email)
        token = csrf(client, "/stream")
        item = world.item(world.bob, world.new_post("Secure", 5))
        response = client.post(
            f"/stream/{item}/skip", data={"csrf_token": token}, follow_redirects=False
        )
        cookies = response.headers.get_list("set-cookie")
        assert any(c.startswith("tribe_flash=") for c in cookies)
        other = TestClient(client.app, base_url="https://testserver")
        login = post_form(other, "/login", {"email": world.bob.email, "password": PASSWORD})
        cookies += login.headers.get_list("set-cookie")
    assert {c.split("=", 1)[0] for c in cookies} >= {"tribe_flash", "tribe_session", "tribe_device"}
    assert [c for c in cookies if "; Secure" not in c] == []


def test_the_api_docs_come_from_this_server_under_the_strict_policy(app: TestClient) -> None:
    page = app.get("/api/v1/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "unsafe-inline" not in policy
    assert "http" not in policy  # no other origin
    assert "<script>" not in page.text  # no inline script: the policy would refuse it
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/api/v1/docs/assets/{asset}" in page.text
        assert app.get(f"/api/v1/docs/assets/{asset}").status_code == 200
    assert app.get("/static/api-docs.js").status_code == 200


# Sign-up by invite -------------------------------------------------------------------------


def test_invite_sign_up_answers_the_same_whether_or_not_the_email_has_an_account(
    app: TestClient, world: World, mailbox: Mailbox
) -> None:
    with session_scope() as s:
        link = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
    form = {"name": "Somebody", "timezone": "UTC"}
    taken = post_form(
        client_for(app), f"/join/{link}", {**form, "email": world.dave.email}, page=f"/join/{link}"
    )
    new = post_form(
        client_for(app),
        f"/join/{link}",
        {**form, "email": "erin@example.com"},
        page=f"/join/{link}",
    )
    answers = [
        re.sub(r'(data-csrf="|name="csrf_token" value=")[^"]+', r"\1TOKEN", r.text)
        .replace(world.dave.email, "EMAIL")
        .replace("erin@example.com", "EMAIL")
        for r in (taken, new)
    ]
    assert [r.status_code for r in (taken, new)] == [200, 200]
    assert answers[0] == answers[1]
    assert "Check your email" in answers[0]
    with session_scope() as s:  # nothing made yet, dave's account untouched
        assert s.exec(select(Member).where(Member.email == "erin@example.com")).first() is None
    mails = {str(m["To"]): mail_text(m) for m in mailbox.messages}
    assert "has an account here already" in mails[world.dave.email]
    assert "/join/confirm/" not in mails[world.dave.email]
    code = mails["erin@example.com"].split("/join/confirm/")[1].split()[0]
    erin = client_for(app)
    assert erin.get(f"/join/confirm/{code}").status_code == 200  # opening it changes nothing
    with session_scope() as s:
        assert s.exec(select(Member).where(Member.email == "erin@example.com")).first() is None
    done = post_form(
        erin, f"/join/confirm/{code}", {"password": PASSWORD}, page=f"/join/confirm/{code}"
    )
    assert done.status_code == 303
    assert erin.get("/tribes").status_code == 200
    with session_scope() as s:
        member = s.exec(select(Member).where(Member.email == "erin@example.com")).one()
        assert s.exec(select(Membership).where(Membership.member_id == member.id)).one()
    again = post_form(
        client_for(app), f"/join/confirm/{code}", {"password": PASSWORD}, page=f"/join/{link}"
    )
    assert again.status_code == 410


def test_invite_sign_up_mails_are_limited_per_address(
    app: TestClient, world: World, mailbox: Mailbox
) -> None:
    with session_scope() as s:
        link = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
    form = {"name": "Erin", "timezone": "UTC", "email": "erin@example.com"}
    statuses = [
        post_form(client_for(app), f"/join/{link}", form, page=f"/join/{link}").status_code
        for _ in range(get_settings().TRIBE_LOGIN_ATTEMPTS + 1)
    ]
    assert statuses[-1] == 429
    assert len(mailbox.messages) == get_settings().TRIBE_LOGIN_ATTEMPTS


def test_a_withdrawn_invite_cannot_be_finished_by_its_emailed_link(
    app: TestClient, world: World, mailbox: Mailbox
) -> None:
    with session_scope() as s:
        link = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
    post_form(
        client_for(app),
        f"/join/{link}",
        {"name": "Erin", "timezone": "UTC", "email": "erin@example.com"},
        page=f"/join/{link}",
    )
    code = mail_text(mailbox.messages[0]).split("/join/confirm/")[1].split()[0]
    with session_scope() as s:
        tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug, renew=True
        )
    response = post_form(client_for(app), f"/join/confirm/{code}", {"password": PASSWORD})
    assert response.status_code == 410
    assert "withdrawn" in response.text


def test_without_email_the_account_is_made_at_once(app: TestClient, world: World) -> None:
    with session_scope() as s:
        link = tribes.invite_token(
            s, keys=b.keys(), member=get_member(s, world.alice.email), slug=world.slug
        )
    page = app.get(f"/join/{link}").text
    assert 'name="password"' in page
    response = post_form(
        app,
        f"/join/{link}",
        {"name": "Erin", "timezone": "UTC", "email": "erin@example.com", "password": PASSWORD},
        page=f"/join/{link}",
    )
    assert response.status_code == 303
