"""The public tribe and its letter, the whole way round in real Chromium, with a real web
app, worker and beat, and a real SMTP server (aiosmtpd, in this process).

Alice, the chief, makes Garden Writers public and turns the letter on; a stranger opens
the public page, subscribes and confirms through the link in the email; the beat opens
the first edition and tells Alice, its editor; she writes it from the prefilled draft,
previews the email and sends it; the stranger, Alice and Bob receive it once each; the
stranger unsubscribes with the one click of RFC 8058, as a mail client does. Screenshots
of the public page, the editor's draft and the email go to
test-artifacts/<backend>/letter/.
"""

from __future__ import annotations

import itertools
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page
from sqlmodel import col, select

from tests import builders as b
from tests.alliance import reshares as r
from tests.fakenet.mailbox import Mailbox, email, parts
from tests.integration.cluster import cluster, free_port
from tests.web.browser import DESKTOP, PHONE, artifacts, chromium, marks, sideways
from tests.web.conftest import PASSWORD, with_password
from tribe.core.kinds import EditionState, SubscriberState
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Edition, Subscriber

pytestmark = marks(timeout=240, sqlite_only=True)

STRANGER = "reader@example.net"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found


def sign_in(browser: Browser, base: str, email_address: str) -> Page:
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm questions
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email_address)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/stream")
    return page


def wait_for(what: str, check: object, timeout: float = 60) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.2)


def link_in(text: str, path: str) -> str:
    found = re.search(rf"https?://\S+{re.escape(path)}\S+", text)
    assert found, f"no {path} link in:\n{text}"
    return found.group(0)


def edition_state() -> EditionState | None:
    with read_scope() as s:
        edition = s.get(Edition, 1)
        return edition.state if edition else None


def test_a_stranger_subscribes_an_editor_writes_and_everyone_gets_one_letter(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    folder = artifacts(request, "letter")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    taken = itertools.count()

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(folder / f"{next(taken):02d}-{name}.png"), full_page=True)
        assert sideways(page) <= 0, f"the {name} page scrolls sideways"

    alice = with_password("Alice", "Europe/Paris")
    bob = with_password("Bob", "America/Chicago")
    now = datetime.now(UTC)
    with session_scope() as s:
        tribe = r.tribe(s, "Garden Writers", alice, bob, since=now - timedelta(days=30))
        tribe.description = "Six gardeners who write about what grows, and what does not."
        slug = tribe.slug
        for owner, reader, titles in (
            (alice, bob, ["Why tomatoes split", "A winter of kale"]),
            (bob, alice, ["Compost, honestly"]),
        ):
            feed = b.feed(s, owner, f"https://{owner.display_name.lower()}.blog/feed")
            feed.site_url = f"https://{owner.display_name.lower()}.blog/"
            for n, title in enumerate(titles):
                post = r.post(s, feed, title, at=now - timedelta(hours=5 + n))
                post.summary = f"<p>{title}: what this season taught me.</p>"
                r.item(s, post, reader, at=now - timedelta(hours=5 + n))

    with Mailbox() as box, cluster(tmp_path / "procs", **box.settings()) as running:
        base = running.start_web(free_port())
        running.env.update(TRIBE_LETTER_EVERY="1s", TRIBE_DISPATCH_EVERY="1s", TRIBE_MAIL_RATE="0")
        running.start_worker("one")
        running.start_beat()

        # The chief makes the tribe public and turns the letter on, writing it herself.
        page = sign_in(browser, base, alice.email)
        page.goto(f"{base}/tribes/{slug}")
        page.click("#public button:has-text('Make public')")
        page.wait_for_selector("#public >> text=Make private")
        page.goto(f"{base}/tribes/{slug}/letter")
        page.check("input[name=editor]")
        page.click("form[action$='/letter/roles'] button")
        page.wait_for_selector("text=Take turns writing it")
        page.check("input[name=enabled]")
        page.check("input[name=cadence][value=weekly]")
        page.select_option("select[name=weekday]", "4")
        page.fill("input[name=hour]", "09:00")
        page.check("input[name=if_unsent][value=send]")
        page.click("#plan button:has-text('Save')")
        page.wait_for_selector("#letter-status >> text=weekly on Friday at 09:00")

        # A stranger reads the public page and subscribes.
        for size, label in ((PHONE, "phone"), (DESKTOP, "desktop")):
            stranger = browser.new_context(viewport=size).new_page()
            stranger.set_default_timeout(15_000)
            stranger.goto(f"{base}/t/{slug}")
            assert "Why tomatoes split" in stranger.inner_text("main")
            assert "alice@example.com" not in stranger.content()
            shot(stranger, f"public-page-{label}")
        stranger.fill("form.subscribe input[name=email]", STRANGER)
        stranger.click("form.subscribe button")
        stranger.wait_for_selector("text=check your inbox", timeout=15_000)
        wait_for("the confirmation email", lambda: box.to(STRANGER))
        text, _ = parts(email(box.to(STRANGER)[0]))
        stranger.goto(link_in(text, "/confirm/"))
        stranger.click("button.primary")
        stranger.wait_for_load_state()
        with read_scope() as s:
            subscriber = s.exec(select(Subscriber).where(col(Subscriber.email) == STRANGER)).one()
            assert subscriber.state == SubscriberState.CONFIRMED

        # The beat opens edition #1 and tells its editor; she writes it from the draft.
        wait_for(
            "the editor's email",
            lambda: any("Your turn" in str(m["Subject"]) for m in box.to(alice.email)),
        )
        page.goto(f"{base}/tribes/{slug}/letter")
        draft = page.locator("#draft")
        assert "Why tomatoes split" in draft.inner_text()
        assert "Compost, honestly" in draft.inner_text()
        page.fill("input[name=subject]", "What grew this week")
        page.fill("textarea[name=intro]", "Dear readers,\n\nThree posts from the garden.")
        tomatoes = draft.locator(".letter-post", has_text="Why tomatoes split")
        tomatoes.locator("input[name=note]").fill("Alice on why tomatoes crack after rain.")
        shot(page, "editor-draft")
        page.click("button[value=preview]")
        page.wait_for_url("**/letter/preview**")
        preview = page.frame_locator("iframe").locator("body")
        assert "Three posts from the garden." in preview.inner_text()
        page.goto(f"{base}/tribes/{slug}/letter")
        page.click("button[value=send]")
        wait_for("the letter to go out", lambda: edition_state() == EditionState.SENT)
        readers = {STRANGER, alice.email, bob.email}
        wait_for(
            "the letter to reach every reader",
            lambda: (
                {str(m["To"]) for m in box.messages if m["Subject"] == "What grew this week"}
                >= readers
            ),
        )
        time.sleep(3)  # more beats and dispatches change nothing
        letters = [m for m in box.messages if m["Subject"] == "What grew this week"]
        assert Counter(str(m["To"]) for m in letters) == Counter(readers)

        # The email's HTML, as the stranger's mail client shows it.
        theirs = email(next(m for m in letters if str(m["To"]) == STRANGER))
        letter_text, letter_html = parts(theirs)
        assert "Alice on why tomatoes crack after rain." in letter_text
        view = browser.new_context(viewport=PHONE).new_page()
        view.set_content(letter_html)
        assert "Dear readers," in view.inner_text("body")
        shot(view, "email-html")

        # One click unsubscribes, as a mail client does it: a POST with no cookie.
        unsubscribe = str(theirs["List-Unsubscribe"]).strip("<>")
        assert theirs["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        answer = httpx.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}, timeout=10)
        assert answer.status_code == 200
        with read_scope() as s:
            assert s.exec(
                select(Subscriber).where(col(Subscriber.email) == STRANGER)
            ).one().state == (SubscriberState.UNSUBSCRIBED)
        # The edition is in the public archive.
        stranger.goto(f"{base}/t/{slug}/letters/1")
        assert "Three posts from the garden." in stranger.inner_text("main")
