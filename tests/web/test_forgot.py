"""'Forgot your password?': a link by email when SMTP is configured, never a hint of who
has an account, and a limit on how many links one inbox gets."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from config import get_settings
from tests.fakenet.common import HOST
from tests.fakenet.smtp import FakeSMTP
from tests.web.conftest import World, client_for, post_form, sign_in


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> FakeSMTP:
    with FakeSMTP() as server:
        for name, value in {"TRIBE_SMTP_HOST": HOST, "TRIBE_SMTP_PORT": str(server.port),
                            "TRIBE_SMTP_TLS": "none", "TRIBE_SMTP_FROM": "tribe@example.org"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield server


def test_without_smtp_the_page_says_to_ask_the_operator(app: TestClient, world: World) -> None:
    page = app.get("/forgot").text
    assert "This instance sends no email" in page
    response = post_form(app, "/forgot", {"email": world.bob.email}, page="/login")
    assert "tribe member login-link" in response.text  # type: ignore[attr-defined]


def test_a_link_arrives_by_email_and_sets_the_password(
    app: TestClient, world: World, smtp: FakeSMTP
) -> None:
    answer = post_form(app, "/forgot", {"email": "Bob@Example.com"}, page="/forgot")
    assert "a link to set a new password is on its way" in answer.text  # type: ignore[attr-defined]
    (mail,) = smtp.received
    assert mail["To"] == "bob@example.com"
    assert mail["From"] == "tribe@example.org"
    link = re.search(
        r"http://127\.0\.0\.1:8000(/reset/\S+)", mail.get_payload(decode=True).decode()
    )  # type: ignore[union-attr]
    assert link
    done = post_form(app, link.group(1), {"password": "my new password!"}, page=link.group(1))
    assert done.status_code == 303  # type: ignore[attr-defined]
    fresh = client_for(app)
    post_form(fresh, "/login", {"email": world.bob.email, "password": "my new password!"})
    assert fresh.get("/stream").status_code == 200


def test_an_unknown_email_gets_the_same_answer_and_no_mail(
    app: TestClient, world: World, smtp: FakeSMTP
) -> None:
    answer = post_form(app, "/forgot", {"email": "nobody@example.com"}, page="/forgot")
    assert "a link to set a new password is on its way" in answer.text  # type: ignore[attr-defined]
    assert smtp.received == []


def test_one_inbox_gets_a_limited_number_of_links(
    app: TestClient, world: World, smtp: FakeSMTP
) -> None:
    for _ in range(7):
        post_form(app, "/forgot", {"email": world.bob.email}, page="/forgot")
    assert len(smtp.received) == 5  # TRIBE_LOGIN_ATTEMPTS
    assert sign_in(client_for(app), world.bob.email)  # signing in is not blocked by it
