"""The operator's outbox: the emails tribe wrote to data/outbox/ (no SMTP server set) and
the outbox table's recent rows, for the operator only, with no way out of the folder."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from config import get_settings
from tests.fakenet.mailbox import Mailbox
from tests.web.conftest import sign_in, with_password
from tribe.core.kinds import MailState
from tribe.infra.db import session_scope
from tribe.infra.mail import FileTransport, outbox_folder
from tribe.infra.models import Mail
from tribe.infra.outbox import Letter, OutboxConfig, enqueue, send_now

CONFIG = OutboxConfig(sender="tribe@tribe.example.org", rate=0)


def folder() -> Path:
    return outbox_folder(get_settings())


def write(key: str, to: str, subject: str, text: str, html: str | None = None) -> Path:
    """An email queued and sent as the workers send it with no SMTP server: a file."""
    with session_scope() as s:
        assert enqueue(
            s, key=key, kind="digest", letter=Letter(to, subject, text, html), sender=CONFIG.sender
        )
    report = send_now([key], FileTransport(folder()), config=CONFIG)
    assert report.sent == 1
    (written,) = [p for p in folder().glob("*.eml") if key.replace(":", "_") in p.name]
    return written


@pytest.fixture
def operator(app: TestClient) -> TestClient:
    sign_in(app, with_password("Olga", "Europe/Paris", operator=True).email)
    return app


def test_the_operator_sees_the_written_emails_newest_first_and_opens_one(
    operator: TestClient,
) -> None:
    older = write("digest:1:a", "ann@example.com", "Your tribe today: 2 posts", "First digest")
    newer = write(
        "digest:2:b",
        "ben@example.com",
        "Your tribe this week",
        "Second digest",
        html="<p>Second <b>digest</b></p>",
    )
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    os.utime(older, (hour_ago, hour_ago))

    page = operator.get("/admin")
    assert page.status_code == 200
    outbox = page.text.split('id="outbox"')[1]
    assert str(folder()) in outbox
    assert outbox.index("Your tribe this week") < outbox.index("Your tribe today: 2 posts")
    assert "ann@example.com" in outbox
    assert "ben@example.com" in outbox
    link = re.search(r'href="(/admin/outbox/[^"]+)">Your tribe this week<', outbox)
    assert link, outbox
    assert link.group(1) == f"/admin/outbox/{newer.name}"

    shown = operator.get(link.group(1))
    assert shown.status_code == 200
    assert shown.headers["content-type"].startswith("text/plain")
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert "To: ben@example.com" in shown.text
    assert "Subject: Your tribe this week" in shown.text
    assert "Second digest" in shown.text  # the text part, decoded
    assert "<p>Second <b>digest</b></p>" in shown.text  # the HTML part, as its source


def test_an_email_s_markup_is_shown_as_text_never_as_a_page(operator: TestClient) -> None:
    written = write(
        "digest:3:c",
        "cat@example.com",
        "<script>alert(1)</script>",
        "Hi",
        html="<img src=x onerror=alert(2)>",
    )
    page = operator.get("/admin").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    shown = operator.get(f"/admin/outbox/{written.name}")
    assert shown.headers["content-type"].startswith("text/plain")
    assert "<img src=x onerror=alert(2)>" in shown.text  # inert: plain text, not sniffed


def test_the_outbox_rows_show_their_state_and_why_one_failed(operator: TestClient) -> None:
    with session_scope() as s:
        for n, (state, reason) in enumerate(
            [
                (
                    MailState.FAILED,
                    "the SMTP server answered 550 for zoe@example.com: no such user",
                ),
                (MailState.QUEUED, "the SMTP server answered 451 for yan@example.com: try later"),
                (MailState.SENT, "sent"),
            ]
        ):
            s.add(
                Mail(
                    key=f"nudge:{n}",
                    kind="nudge",
                    to=f"m{n}@example.com",
                    subject=f"Nudge {n}",
                    text="Hello",
                    message_id=f"<{n}@tribe.example.org>",
                    state=state,
                    reason=reason,
                    attempts=n,
                )
            )
    page = operator.get("/admin").text.split('id="outbox"')[1]
    failed = page.split("m0@example.com")[1].split("</tr>")[0]
    assert "failed" in failed
    assert "550 for zoe@example.com: no such user" in failed
    assert '<tr class="failing"><td data-label="Queued">' in page
    queued = page.split("m1@example.com")[1].split("</tr>")[0]
    assert "queued" in queued
    assert "451" in queued
    assert "1 try" in queued
    sent = page.split("m2@example.com")[1].split("</tr>")[0]
    assert "sent" in sent
    assert "2 tries" in sent


def test_with_smtp_set_the_page_lists_the_rows_and_no_folder(
    mailbox: Mailbox, operator: TestClient
) -> None:
    with session_scope() as s:
        assert enqueue(
            s,
            key="digest:9:x",
            kind="digest",
            letter=Letter("xia@example.com", "Your digest", "Hi"),
            sender=CONFIG.sender,
        )
    page = operator.get("/admin").text.split('id="outbox"')[1]
    assert "SMTP server set in" in page
    assert "/admin/outbox/" not in page
    assert "xia@example.com" in page
    assert "queued" in page
    assert operator.get("/admin/outbox/anything.eml").status_code == 404


def test_a_member_who_is_not_the_operator_sees_no_outbox(app: TestClient) -> None:
    written = write("digest:4:d", "dan@example.com", "Private digest", "Secret stream")
    sign_in(app, with_password("Bob").email)
    for path in ("/admin", f"/admin/outbox/{written.name}"):
        response = app.get(path)
        assert response.status_code == 404, path
        assert "Secret stream" not in response.text
        assert "Private digest" not in response.text


def test_only_a_listed_email_can_be_opened(operator: TestClient, tribe_env: Path) -> None:
    write("digest:5:e", "eve@example.com", "A digest", "Hello")
    (tribe_env / "secret.txt").write_text("database password")
    (folder() / "notes.txt").write_text("database password")
    (folder() / ".draft.eml.part").write_text("database password")
    (folder() / "link.eml").symlink_to(tribe_env / "secret.txt")
    for name in [
        "..%2Fsecret.txt",
        "..%2F..%2Fdata%2Fsecret.txt",
        "%2E%2E%2Fsecret.txt",
        "notes.txt",
        ".draft.eml.part",
        "link.eml",
        "..%5Csecret.txt",
        "secret.txt%00.eml",
    ]:
        response = operator.get(f"/admin/outbox/{name}")
        assert response.status_code == 404, name
        assert "database password" not in response.text, name
    page = operator.get("/admin").text
    assert "link.eml" not in page
    assert "notes.txt" not in page
