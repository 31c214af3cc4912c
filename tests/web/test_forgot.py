"""'Forgot your password?': a link by email when SMTP is configured, never a hint of who
has an account, and a limit on how many links one inbox gets."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.fakenet.mailbox import Mailbox
from tests.web.conftest import World, client_for, mail_text, post_form, sign_in


def test_without_smtp_the_page_says_to_ask_the_operator(app: TestClient, world: World) -> None:
    page = app.get("/forgot").text
    assert "This instance sends no email" in page
    response = post_form(app, "/forgot", {"email": world.bob.email}, page="/login")
    assert "tribe member login-link" in response.text


def test_a_link_arrives_by_email_and_sets_the_password(
    app: TestClient, world: World, mailbox: Mailbox
) -> None:
    answer = post_form(app, "/forgot", {"email": "Bob@Example.com"}, page="/forgot")
    assert "a link to set a new password is on its way" in answer.text
    (mail,) = mailbox.messages
    assert mail["To"] == "bob@example.com"
    assert mail["From"] == mailbox.settings()["TRIBE_SMTP_FROM"]
    link = re.search(r"http://127\.0\.0\.1:8000(/reset/\S+)", mail_text(mail))
    assert link
    done = post_form(app, link.group(1), {"password": "my new password!"}, page=link.group(1))
    assert done.status_code == 303
    fresh = client_for(app)
    post_form(fresh, "/login", {"email": world.bob.email, "password": "my new password!"})
    assert fresh.get("/stream").status_code == 200


def test_an_unknown_email_gets_the_same_answer_and_no_mail(
    app: TestClient, world: World, mailbox: Mailbox
) -> None:
    answer = post_form(app, "/forgot", {"email": "nobody@example.com"}, page="/forgot")
    assert "a link to set a new password is on its way" in answer.text
    assert mailbox.messages == []


def test_one_inbox_gets_a_limited_number_of_links(
    app: TestClient, world: World, mailbox: Mailbox
) -> None:
    for _ in range(7):
        post_form(app, "/forgot", {"email": world.bob.email}, page="/forgot")
    assert len(mailbox.messages) == 5  # TRIBE_LOGIN_ATTEMPTS
    assert sign_in(client_for(app), world.bob.email)  # signing in is not blocked by it
