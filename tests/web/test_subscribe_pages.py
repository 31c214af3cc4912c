"""The letter's subscribers on the web: the public form (the same answer for every
address, a limit per client address), the confirmation email's link (a GET shows a
button, the POST confirms), the unsubscribe link (a button, and RFC 8058's one-click
POST with no cookie), and clear pages for links that are forged or expired."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from config import get_settings
from tests import builders as b
from tests.fakenet.mailbox import Mailbox
from tests.web.conftest import World, as_response, client_for, csrf, mail_text, post_form
from tribe.alliance.letter_links import (
    LetterLink,
    letter_token,
    member_unsubscribe_url,
    subscriber_unsubscribe_url,
)
from tribe.core.kinds import SubscriberState
from tribe.infra.db import session_scope
from tribe.infra.models import LetterPlan, Mail, Membership, Subscriber, Tribe

READER = "reader@example.net"
BASE = "http://127.0.0.1:8000"  # TRIBE_BASE_URL of the tests


@pytest.fixture
def public(world: World) -> str:
    """Writers made public with its letter on: its slug."""
    with session_scope() as s:
        tribe = s.exec(select(Tribe).where(col(Tribe.slug) == world.slug)).one()
        tribe.is_public = True
        s.add(LetterPlan(tribe_id=b.pk(tribe), enabled=True))
    return world.slug


def ask(client: TestClient, slug: str, email: str) -> httpx.Response:
    """The public page's form, sent from `client` with its CSRF token."""
    return post_form(client, f"/t/{slug}/subscribe", {"email": email}, page="/login")


def state_of(email: str = READER) -> SubscriberState | None:
    with session_scope() as s:
        row = s.exec(select(Subscriber).where(col(Subscriber.email) == email)).first()
        return None if row is None else row.state


def confirm_path(box: Mailbox, email: str = READER) -> str:
    (message,) = box.to(email)
    found = re.search(rf"{re.escape(BASE)}(/t/\S+/confirm/\S+)", mail_text(message))
    assert found, mail_text(message)
    return found.group(1)


def subscriber_id(email: str = READER) -> int:
    with session_scope() as s:
        return b.pk(s.exec(select(Subscriber).where(col(Subscriber.email) == email)).one())


def stranger(app: TestClient) -> TestClient:
    """A mail client or a scanner: no cookie, no session, no CSRF token."""
    return client_for(app)


def main_part(page: str) -> str:
    return page.split("<main>")[1]


def test_subscribe_confirm_by_the_button(app: TestClient, public: str, mailbox: Mailbox) -> None:
    answer = ask(app, public, READER)
    assert answer.status_code == 200, answer.text
    assert "Check your inbox" in answer.text
    assert state_of() == SubscriberState.PENDING
    path = confirm_path(mailbox)
    assert path.startswith(f"/t/{public}/confirm/")

    for _ in range(2):  # a mail scanner, then the reader: opening confirms nothing
        page = stranger(app).get(path)
        assert page.status_code == 200
    assert state_of() == SubscriberState.PENDING
    assert "Confirm your subscription?" in page.text
    assert "Writers" in page.text
    assert READER not in page.text  # masked: r•••@e•••.net
    assert "r•••@e•••.net" in page.text
    assert '<button type="submit" class="primary">Confirm my subscription</button>' in page.text

    reader = client_for(app)
    done = post_form(reader, path, page=path)
    assert done.status_code == 200, done.text
    assert "<h1>You are subscribed</h1>" in done.text
    assert state_of() == SubscriberState.CONFIRMED
    again = post_form(reader, path, page="/login")  # a second click (its page had the form)
    assert "You were subscribed already" in again.text
    assert "Nothing changed" in again.text
    page = reader.get(path).text
    assert "<button" not in main_part(page)
    assert len(mailbox.messages) == 1


def test_every_address_gets_the_same_answer(app: TestClient, public: str, mailbox: Mailbox) -> None:
    """New, pending, confirmed, set aside, a member's own: one page for all, so the form
    tells nobody who reads the letter."""
    with session_scope() as s:
        tribe_id = b.pk(s.exec(select(Tribe).where(col(Tribe.slug) == public)).one())
        now = datetime.now(UTC)
        for email, state in (
            ("pending@example.net", SubscriberState.PENDING),
            ("confirmed@example.net", SubscriberState.CONFIRMED),
            ("aside@example.net", SubscriberState.SET_ASIDE),
        ):
            s.add(Subscriber(tribe_id=tribe_id, email=email, state=state, asked_at=now))
    client = client_for(app)
    pages = {}
    for email in (
        "new@example.net",
        "pending@example.net",
        "confirmed@example.net",
        "aside@example.net",
        "bob@example.com",  # a member
    ):
        response = ask(client, public, email)
        assert response.status_code == 200
        pages[email] = response.text.replace(email, "ADDRESS")
    assert len(set(pages.values())) == 1, pages
    assert "an email with a link to confirm is on its way" in pages["new@example.net"]
    # Emails went where one was due (aside was asked minutes ago: none before 15 minutes).
    assert sorted(str(m["To"]) for m in mailbox.messages) == ["bob@example.com", "new@example.net"]
    assert state_of("confirmed@example.net") == SubscriberState.CONFIRMED
    assert state_of("aside@example.net") == SubscriberState.PENDING


def test_a_bad_address_gets_the_form_again_with_what_to_fix(
    app: TestClient, public: str, mailbox: Mailbox
) -> None:
    response = ask(app, public, "reader.example.net")
    assert response.status_code == 400
    assert "&#39;reader.example.net&#39; is not an email address" in response.text
    assert "enter one like name@example.com" in response.text
    assert f'action="/t/{public}/subscribe"' in response.text
    assert 'value="reader.example.net"' in response.text
    assert 'name="csrf_token"' in response.text
    empty = ask(app, public, "")
    assert empty.status_code == 400
    assert "enter your email address" in empty.text
    assert mailbox.messages == []
    with session_scope() as s:
        assert s.exec(select(Subscriber)).all() == []


def test_a_tribe_without_a_public_letter_is_not_found(app: TestClient, world: World) -> None:
    # Writers is private with no letter; Cooks has none either; nobody has the third.
    for slug in (world.slug, world.other_slug, "nobody-has-this"):
        response = ask(app, slug, READER)
        assert response.status_code == 404
        assert f"no tribe with the slug &#39;{slug}&#39;" in response.text
    assert state_of() is None


def test_the_form_is_limited_per_client_address(
    app: TestClient, public: str, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIBE_LOGIN_ATTEMPTS", "2")  # 8 a quarter of an hour per address
    get_settings.cache_clear()
    client = client_for(app)
    token = csrf(client)
    answers = [
        as_response(
            client.post(
                f"/t/{public}/subscribe",
                data={"email": f"r{n}@example.net", "csrf_token": token},
            )
        )
        for n in range(10)
    ]
    assert [a.status_code for a in answers] == [200] * 8 + [429] * 2
    refused = answers[-1]
    assert "too many subscriptions from your network; try again in" in refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert len(mailbox.messages) == 8


def test_the_unsubscribe_link_shows_a_button_and_changes_nothing(
    app: TestClient, public: str, mailbox: Mailbox
) -> None:
    ask(app, public, READER)
    assert post_form(app, confirm_path(mailbox), page=confirm_path(mailbox)).status_code == 200
    url = subscriber_unsubscribe_url(b.keys(), BASE, slug=public, subscriber_id=subscriber_id())
    path = url.removeprefix(BASE)
    page = stranger(app).get(path)
    assert page.status_code == 200
    assert "Stop the letter?" in page.text
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.text
    assert 'name="csrf_token"' not in main_part(page.text)
    assert state_of() == SubscriberState.CONFIRMED

    done = as_response(stranger(app).post(path, data={}, follow_redirects=False))
    assert done.status_code == 200
    assert "<h1>Unsubscribed</h1>" in done.text
    assert state_of() == SubscriberState.UNSUBSCRIBED
    page = stranger(app).get(path).text
    assert "You are unsubscribed" in page
    assert "<button" not in main_part(page)


def test_one_click_unsubscribe_per_rfc_8058(app: TestClient, public: str) -> None:
    """What a mail client sends for `List-Unsubscribe-Post: List-Unsubscribe=One-Click`:
    a form-encoded POST, without cookies, that must not be redirected."""
    with session_scope() as s:
        tribe_id = b.pk(s.exec(select(Tribe).where(col(Tribe.slug) == public)).one())
        s.add(Subscriber(tribe_id=tribe_id, email=READER, state=SubscriberState.CONFIRMED))
    path = subscriber_unsubscribe_url(
        b.keys(), BASE, slug=public, subscriber_id=subscriber_id()
    ).removeprefix(BASE)
    for round_ in range(2):
        response = as_response(
            stranger(app).post(
                path,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                follow_redirects=False,
            )
        )
        assert response.status_code == 200, response.text
        assert ("Nothing changed" in response.text) == (round_ == 1)
        assert state_of() == SubscriberState.UNSUBSCRIBED


def test_a_member_s_one_click_stops_their_letter(
    app: TestClient, world: World, public: str
) -> None:
    with session_scope() as s:
        tribe_id = b.pk(s.exec(select(Tribe).where(col(Tribe.slug) == public)).one())
    url = member_unsubscribe_url(
        b.keys(), BASE, slug=public, tribe_id=tribe_id, member_id=b.pk(world.bob)
    )
    path = url.removeprefix(BASE)
    page = stranger(app).get(path).text
    assert "You stay in the tribe." in page
    assert world.bob.email not in page
    response = as_response(
        stranger(app).post(path, content=b"List-Unsubscribe=One-Click", follow_redirects=False)
    )
    assert response.status_code == 200
    assert "You are still in the tribe" in response.text
    with session_scope() as s:
        readers = {
            m.member_id: m.letter_reader
            for m in s.exec(select(Membership).where(col(Membership.tribe_id) == tribe_id))
        }
    assert readers[b.pk(world.bob)] is False
    assert sum(not reads for reads in readers.values()) == 1


@pytest.mark.parametrize("action", ["confirm", "unsubscribe"])
def test_forged_and_expired_links_get_a_clear_page(
    app: TestClient, public: str, action: str
) -> None:
    with session_scope() as s:
        tribe_id = b.pk(s.exec(select(Tribe).where(col(Tribe.slug) == public)).one())
        s.add(Subscriber(tribe_id=tribe_id, email=READER))
    sub = subscriber_id()
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    link = (
        LetterLink("confirm", subscriber_id=sub, expires=tomorrow)
        if action == "confirm"
        else LetterLink("unsubscribe", subscriber_id=sub)
    )
    good = letter_token(b.keys(), link)
    expired = letter_token(
        b.keys(),
        LetterLink("confirm", subscriber_id=sub, expires=datetime.now(UTC) - timedelta(minutes=1)),
    )
    cases = {"x" + good: "this link is not valid", good[:-4]: "this link is not valid"}
    if action == "confirm":
        cases[expired] = "this confirmation link has expired"
    client = client_for(app)
    for token, said in cases.items():
        path = f"/t/{public}/{action}/{token}"
        answers = [client.get(path)]
        fields = {"csrf_token": csrf(client)} if action == "confirm" else {}
        answers.append(client.post(path, data=fields, follow_redirects=False))
        for answer in answers:
            assert answer.status_code == 410, (path, answer.status_code)
            assert said in answer.text
            assert "Traceback" not in answer.text
    assert state_of() == SubscriberState.PENDING
    with session_scope() as s:
        assert s.exec(select(Mail)).all() == []


def test_only_the_unsubscribe_post_goes_without_a_csrf_token(
    app: TestClient, public: str, mailbox: Mailbox
) -> None:
    """The form and the confirm button are forms like any other; the unsubscribe link
    alone is exempt, for mail clients' one-click (its signed token is the authority)."""
    ask(app, public, READER)
    confirm = confirm_path(mailbox)
    unsubscribe = subscriber_unsubscribe_url(
        b.keys(), BASE, slug=public, subscriber_id=subscriber_id()
    ).removeprefix(BASE)
    for path in (f"/t/{public}/subscribe", confirm):
        response = as_response(
            stranger(app).post(path, data={"email": "x@example.net"}, follow_redirects=False)
        )
        assert response.status_code == 403, path
        assert "this form had expired" in response.text
    assert state_of() == SubscriberState.PENDING
    assert state_of("x@example.net") is None
    response = as_response(stranger(app).post(unsubscribe, follow_redirects=False))
    assert response.status_code == 200
    assert state_of() == SubscriberState.UNSUBSCRIBED
