"""The first ten minutes, in the browser alone (issue 11's "done when").

An empty instance started with `make run`'s settings — SQLite, the embedded broker, no
TRIBE_SECRET_KEYS (so the local key file and dry run) — and real web, worker and beat
processes. Through the browser only: the operator sets up, creates a tribe and copies
its invite; a second member signs up with it in another browser; both add feeds; the
first publishes and presses "Check now"; the second sees the post arrive without a
reload, edits and approves it, finds it in the queue, sends it next, and finds it in
History as "dry run — not sent" with its text.

Every step is photographed at desktop and at phone width (test-artifacts/<backend>/
first-run/), and no page may scroll sideways at 390 px.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page

from tests import builders as b
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tests.integration.cluster import cluster, free_port
from tests.web.browser import DESKTOP, PHONE, artifacts, chromium, marks, sideways

PASSWORD = "a long enough password"

pytestmark = marks(timeout=300, sqlite_only=True)  # the first run is make run's: SQLite


class Camera:
    """Photographs each step at desktop and phone width; at phone width nothing may make
    the page scroll sideways."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def take(self, page: Page, name: str) -> None:
        self.count += 1
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(
                path=self.folder / f"{self.count:02d}-{name}-{label}.png", full_page=True
            )
            if label == "phone":
                overflow = sideways(page)
                assert overflow <= 0, f"{name}: the page is {overflow}px wider than a phone"
        page.set_viewport_size(DESKTOP)


@pytest.fixture
def browsers() -> Iterator[tuple[Page, Page]]:
    with chromium() as browser:
        contexts = [browser.new_context(viewport=DESKTOP) for _ in range(2)]
        contexts[0].grant_permissions(["clipboard-read", "clipboard-write"])
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.set_default_timeout(15_000)
        yield pages[0], pages[1]
        for context in contexts:
            context.close()


def publish(server: FeedServer, path: str, title: str, items: list[b.Item]) -> None:
    server.routes[path] = Served(b.rss(items, title=title))


def test_from_an_empty_instance_to_a_reshare_in_the_browser_alone(
    browsers: tuple[Page, Page], server: FeedServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    alice, bob = browsers
    camera = Camera(artifacts(request, "first-run"))
    alice_posts = b.posts(1, prefix="alice", start_hours_ago=200)  # old: the baseline keeps it
    publish(server, "/alice.xml", "Alice grows", alice_posts)
    publish(server, "/bob.xml", "Bob bakes", b.posts(1, prefix="bob", start_hours_ago=200))

    # make run's settings: no key in the environment (the local key file is made), so
    # dry run; "Check now" every few seconds instead of a minute, to keep the test short.
    with cluster(
        tmp_path / "procs", TRIBE_SECRET_KEYS="", TRIBE_CHECK_EVERY="2s", TRIBE_DISPATCH_EVERY="1s"
    ) as running:
        running.start_worker("one")
        running.start_beat()
        base = running.start_web(free_port(), TRIBE_SECRET_KEYS="")

        # 1. The operator sets up the instance and lands on the first steps.
        alice.goto(base)
        alice.wait_for_url("**/setup")
        assert "Dry run:" in alice.content()
        camera.take(alice, "setup")
        alice.fill("input[name=name]", "Alice")
        alice.fill("input[name=email]", "alice@example.com")
        alice.fill("input[name=password]", PASSWORD)
        alice.fill("input[name=timezone]", "Europe/Paris")
        alice.click("text=Create the operator account")
        alice.wait_for_url("**/welcome")
        assert alice.locator(".step.done").count() == 0
        camera.take(alice, "welcome")

        # 2. A tribe, from the first step.
        alice.fill("input[name=name]", "Garden Writers")
        alice.click("text=Create the tribe")
        alice.wait_for_url("**/tribes/garden-writers")
        camera.take(alice, "tribe")

        # 3. Copy the invite link.
        alice.click("button[data-copy]")
        alice.wait_for_selector("button[data-copy]:has-text('Copied ✓')")
        invite = alice.evaluate("navigator.clipboard.readText()")
        assert invite == alice.input_value("#invite-link")
        assert "/join/" in invite
        alice.goto(f"{base}/welcome")
        assert alice.locator(".step.done").count() == 2  # the tribe, and the copied invite
        camera.take(alice, "welcome-invited")

        # 4. Alice adds her feed.
        alice.goto(f"{base}/feeds")
        alice.fill("input[name=url]", server.url("/alice.xml"))
        alice.click("text=Add feed")
        alice.wait_for_selector("text=Alice grows")
        camera.take(alice, "alice-feed")

        # 5. Bob signs up with the invite, in his own browser.
        bob.goto(invite)
        assert "Chief: Alice" in bob.content()
        camera.take(bob, "join")
        bob.fill("input[name=name]", "Bob")
        bob.fill("input[name=email]", "bob@example.com")
        bob.fill("input[name=password]", PASSWORD)
        bob.fill("input[name=timezone]", "America/Chicago")
        bob.click("text=Create my account and join")
        bob.wait_for_url("**/feeds?welcome=*")

        # 6. Bob adds his feed and a practice account (dry run: a handle is enough).
        bob.fill("input[name=url]", server.url("/bob.xml"))
        bob.click("text=Add feed")
        bob.wait_for_selector("text=Bob bakes")
        camera.take(bob, "bob-feed")
        bob.goto(f"{base}/accounts")
        bob.select_option("#practice select[name=network]", "mastodon")
        bob.fill("#practice input[name=handle]", "bob@mastodon.example")
        bob.click("text=Add practice account")
        bob.wait_for_selector("text=practice (dry run)")
        camera.take(bob, "accounts")

        # 7. Bob's account posts at one fixed time, twelve hours away.
        later = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago")) + timedelta(hours=12)
        bob.goto(f"{base}/schedule")
        bob.fill("input[name=slots]", f"mon-sun {later:%H}:00")
        bob.click("button[value=save]")
        bob.wait_for_selector(".flash.done")
        camera.take(bob, "schedule")

        # 8. Bob opens his stream; a fake clock lets the test skip the poll's wait.
        bob.clock.install()
        bob.goto(f"{base}/stream")
        bob.evaluate("window.notReloaded = true")
        assert bob.locator("h1 small").inner_text() == "0 waiting"
        camera.take(bob, "stream-empty")

        # 9. Alice publishes, and checks her feed now.
        publish(
            server,
            "/alice.xml",
            "Alice grows",
            [
                b.Item(
                    "Tomatoes in December",
                    guid="alice-dec",
                    link="https://alice.blog/december",
                    published=datetime.now(UTC) - timedelta(minutes=5),
                ),
                *alice_posts,
            ],
        )
        alice.goto(f"{base}/feeds")
        alice.wait_for_timeout(2_100)  # TRIBE_CHECK_EVERY since the feed was added
        alice.click("button:has-text('Check now')")
        note = alice.locator("[data-check-note]:not([hidden])")
        note.wait_for()
        assert "1 new post" in note.inner_text()
        assert "1 tribemate" in note.inner_text()
        camera.take(alice, "checked")

        # 10. Bob sees it arrive without a reload, and shows it.
        bob.clock.fast_forward(30_000)
        bar = bob.locator("[data-new-bar]")
        bar.wait_for(state="visible")
        assert bar.inner_text() == "1 new post — show"
        camera.take(bob, "new-post")
        bar.locator("button", has_text="show").click()
        item = bob.locator("article.item", has_text="Tomatoes in December")
        item.wait_for()
        assert bob.evaluate("window.notReloaded") is True

        # 11. He edits the text and approves it with Ctrl+Enter.
        text = "Tomatoes in winter, really: https://alice.blog/december"
        area = item.locator("textarea[name=text_mastodon]")
        area.fill(text)
        area.press("Control+Enter")
        item.locator(".decided.approved").wait_for()
        camera.take(bob, "approved")

        # 12. It waits in his queue, twelve hours away, until he sends it next. Posting
        # any time of day from now on, its next allowed time is now.
        bob.goto(f"{base}/queue")
        queued = bob.locator(".deliveries li", has_text="Tomatoes in December")
        assert text in queued.inner_text()
        camera.take(bob, "queue")
        bob.goto(f"{base}/schedule")
        bob.check("input[name=mode][value=interval]")
        bob.fill("input[name=every]", "1")
        bob.fill("input[name=start]", "00:00")
        bob.fill("input[name=end]", "23:59")
        bob.click("button[value=save]")
        bob.wait_for_selector(".flash.done")
        bob.goto(f"{base}/queue")
        before = bob.locator(".deliveries li", has_text="Tomatoes in December").inner_text()
        bob.locator(".deliveries li", has_text="Tomatoes in December").locator(
            "button", has_text="Send next"
        ).click()
        bob.wait_for_function(
            "(before) => !document.body.innerText.includes(before)", arg=before
        )  # re-rendered in place with its new time (or already sent and gone)
        camera.take(bob, "sent-next")

        # 13. The dispatcher logs it (dry run) at that time — times fall on the minute, so
        # up to a minute from now: History says so, with his words.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            bob.goto(f"{base}/history")
            if "dry run — not sent" in bob.content():
                break
            bob.wait_for_timeout(1_000)
        entry = bob.locator(".deliveries li", has_text="Tomatoes in December")
        assert "dry run — not sent" in entry.inner_text()
        assert text in entry.inner_text()
        camera.take(bob, "history")
