"""feeds.js in real Chromium, under the strict CSP: "Check now" answers in place on the
Feeds page (the card is replaced) and on the Operator page (a line), and a check too
soon says when to try again and holds the button until then."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn
from playwright.sync_api import ConsoleMessage, Page

from tests import builders as b
from tests.builders import Item, ago, posts, rss
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tests.integration.cluster import free_port
from tests.web.browser import chromium, marks
from tests.web.conftest import PASSWORD, with_password
from tribe.infra.db import session_scope
from tribe.infra.models import Feed
from tribe.web.app import create_app

pytestmark = marks(timeout=120, sqlite_only=True)


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The web app, served in this process on a free port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("TRIBE_BASE_URL", base)
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while not server.started:
        assert datetime.now(UTC) < deadline, "the web app did not start"
        threading.Event().wait(0.05)
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def problems() -> list[str]:
    """What the page logged as an error, and the errors its scripts threw."""
    return []


@pytest.fixture
def page(problems: list[str]) -> Iterator[Page]:
    def console(message: ConsoleMessage) -> None:
        # Chromium logs every 4xx answer; the 429 of a check too soon is one on purpose.
        if message.type == "error" and "status of 429" not in message.text:
            problems.append(message.text)

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 390, "height": 844})
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.on("console", console)
        tab.on("pageerror", lambda error: problems.append(str(error)))
        yield tab
        context.close()


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_load_state()


def test_check_now_in_place_in_the_browser(
    page: Page, problems: list[str], web: str, server: FeedServer
) -> None:
    alice = with_password("Alice", "Europe/Paris")
    bob = with_password("Bob")
    olga = with_password("Olga", operator=True)
    with session_scope() as s:
        b.tribe(s, "Writers", alice, bob)
        feed_id = b.pk(b.feed(s, alice, server.url("/alice.xml")))
    old = posts(2)
    server.routes["/alice.xml"] = Served(rss(old, title="Alice grows"))
    b.poll_now(feed_id)
    with session_scope() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        feed.last_polled_at = ago(minutes=5)

    sign_in(page, web, alice.email)
    page.goto(f"{web}/feeds")
    card = page.locator(f"#feed-{feed_id}")
    assert "Just out" not in card.inner_text()
    fresh = Item("Just out", guid="new", link="https://alice.blog/new", published=ago(minutes=1))
    server.routes["/alice.xml"] = Served(rss([fresh, *old], title="Alice grows"))
    page.evaluate("window.stayed = true")  # gone if the page reloads
    card.locator("button:has-text('Check now')").click()
    card.locator("text=Checked just now: 1 new post, announced to 1 tribemate").wait_for()
    assert "announced to 1 tribemate · not shared yet" in card.inner_text()
    assert page.evaluate("window.stayed") is True  # answered in place
    assert server.hits("/alice.xml") == 2

    card.locator("button:has-text('Check now')").click()
    note = card.locator("[data-check-note]")
    note.locator("text=at most once a minute").wait_for()
    assert "wait" in (note.get_attribute("class") or "")
    assert card.locator("button:has-text('Check now')").is_disabled()  # until Retry-After
    assert server.hits("/alice.xml") == 2
    assert page.evaluate("window.stayed") is True

    page.goto(f"{web}/login")  # the operator, on the Operator page
    page.context.clear_cookies()
    sign_in(page, web, olga.email)
    with session_scope() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        feed.last_polled_at = ago(minutes=5)
    page.goto(f"{web}/admin")
    row = page.locator("tr", has_text="Alice grows")
    row.locator("button:has-text('Check now')").click()
    row.locator("output", has_text="not modified since the last check").wait_for()
    assert server.hits("/alice.xml") == 3
    assert problems == []  # no script error, nothing refused by the CSP
