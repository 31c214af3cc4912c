"""A member's whole day in real Chromium, against real web, worker and beat processes.

Sign up by invite, add a feed, see a tribemate's new post arrive after a poll, edit and
approve it, find it in the queue at the right local time, and see it sent to the local
fake Mastodon and listed in history. Playwright drives Debian's Chromium
(/usr/bin/chromium); no browser is ever downloaded. A screenshot of every page visited
is saved under test-artifacts/ when the test fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlmodel import select

from tests import builders as b
from tests.conftest import BACKEND
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tests.fakenet.mastodon import FakeMastodon
from tests.integration.cluster import cluster, free_port, wait_for
from tests.web.browser import chromium, marks
from tests.web.conftest import PASSWORD, with_password
from tribe.core import timefmt
from tribe.core.kinds import DeliveryState
from tribe.infra.db import session_scope
from tribe.infra.models import Delivery
from tribe.ingest.claims import make_due_now
from tribe.members import tribes
from tribe.members.people import get_member

pytestmark = marks(timeout=240)


class Shots:
    """Screenshots of each page, written out only if the test fails."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.taken: list[tuple[str, bytes]] = []

    def take(self, name: str) -> None:
        """A screenshot, and a check that the page fits the phone's width: nothing makes
        the whole page scroll sideways (wide parts scroll inside their own box)."""
        self.taken.append((name, self.page.screenshot(full_page=True)))
        overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the {name} page is {overflow}px wider than the screen"


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Iterator[tuple[Page, Shots]]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
        page = context.new_page()
        page.set_default_timeout(15_000)
        shots = Shots(page)
        yield page, shots
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            folder = (
                Path(str(request.config.rootpath)) / "test-artifacts" / BACKEND / request.node.name
            )
            folder.mkdir(parents=True, exist_ok=True)
            for n, (name, png) in enumerate(shots.taken):
                (folder / f"{n:02d}-{name}.png").write_bytes(png)
            with contextlib.suppress(Exception):
                (folder / "last.png").write_bytes(page.screenshot(full_page=True))
            print(f"screenshots saved in {folder}")
        context.close()


def test_a_newcomer_signs_up_approves_an_edit_and_sees_it_sent(
    browser_page: tuple[Page, Shots], server: FeedServer, tmp_path: Path
) -> None:
    page, shots = browser_page
    alice_feed = b.posts(2, prefix="alice", start_hours_ago=30)
    server.routes["/alice.xml"] = Served(b.rss(alice_feed, title="Alice grows"))
    server.routes["/bob.xml"] = Served(b.rss(b.posts(1, prefix="bob"), title="Bob bakes"))
    alice = with_password("Alice", "Europe/Paris")
    with session_scope() as s:
        slug = b.tribe(s, "Gardeners", alice).slug
        feed_id = b.pk(b.feed(s, alice, server.url("/alice.xml")))
        invite = tribes.invite_token(s, keys=b.keys(), member=get_member(s, alice.email), slug=slug)
    b.poll_now(feed_id)  # the baseline: nothing old reaches anyone

    with (
        FakeMastodon() as mastodon,
        cluster(
            tmp_path / "procs",
            TRIBE_DISPATCH_EVERY="1s",
            TRIBE_PUBLISH_TIMEOUT="2s",
            TRIBE_PUBLISH_LEASE="10s",
        ) as running,
    ):
        running.start_worker("one")
        running.start_beat()
        port = free_port()
        base = running.start_web(
            port,
            # Mastodon sends the browser back here after Authorize; it lives on loopback.
            TRIBE_MASTODON_REDIRECT_URL=f"http://127.0.0.1:{port}/accounts/connect/mastodon/callback",
            TRIBE_ALLOWED_NETWORKS=f"{running.env.get('TRIBE_ALLOWED_NETWORKS', '')},127.0.0.1/32".lstrip(
                ","
            ),
        )

        # Sign up by invite, on a phone-sized screen.
        page.goto(f"{base}/join/{invite}")
        shots.take("join")
        page.fill("input[name=name]", "Bob")
        page.fill("input[name=email]", "bob@example.com")
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=timezone]", "Asia/Tokyo")
        page.click("text=Create my account and join")
        page.wait_for_url("**/feeds?welcome=*")
        shots.take("feeds-welcome")

        # Add a feed served by the local test server.
        page.fill("input[name=url]", server.url("/bob.xml"))
        page.click("text=Add feed")
        page.wait_for_selector("text=Bob bakes")
        shots.take("feed-added")

        # Connect Mastodon: the instance's Authorize page sends the browser back here.
        mastodon.consenting = "bob"
        page.goto(f"{base}/accounts")
        page.fill("input[name=instance]", mastodon.base_url)
        page.click("text=Connect Mastodon")
        page.wait_for_selector("text=connected mastodon")
        shots.take("connected")

        # Alice publishes; after a poll her post is in Bob's stream.
        fresh = b.Item(
            title="Tomatoes in November",
            guid="alice-new",
            link="https://alice.blog/tomatoes",
            published=datetime.now(UTC),
            description="Yes, <b>still</b> ripening.",
        )
        beans = b.Item(
            title="Beans in December",
            guid="alice-beans",
            link="https://alice.blog/beans",
            published=datetime.now(UTC) - timedelta(minutes=1),
        )
        server.routes["/alice.xml"] = Served(
            b.rss([fresh, beans, *alice_feed], title="Alice grows")
        )
        with session_scope() as s:
            make_due_now(s, now=datetime.now(UTC), feed_ids=[feed_id])

        def arrived() -> bool:
            page.goto(f"{base}/stream")
            return bool(page.locator("article.item", has_text="Tomatoes in November").count())

        wait_for("the post in Bob's stream", arrived, timeout=60)
        shots.take("stream")
        item = page.locator("article.item", has_text="Tomatoes in November")
        assert "Yes, still ripening." in item.inner_text()
        stream_count = page.locator("[data-count=stream]")
        queue_count = page.locator("[data-count=queue]")
        assert stream_count.inner_text() == "2"
        assert queue_count.is_hidden()

        # The keyboard: j and k move between posts, s skips the current one in place.
        current = "article.item.current:has-text('{}')"
        page.wait_for_selector(current.format("Tomatoes in November"))
        page.keyboard.press("j")
        page.wait_for_selector(current.format("Beans in December"))
        page.keyboard.press("s")
        beans_item = page.locator("article.item", has_text="Beans in December")
        beans_item.locator(".decided", has_text="Skipped.").wait_for()
        assert stream_count.inner_text() == "1"
        page.keyboard.press("j")
        page.wait_for_selector(current.format("Beans in December"))
        page.keyboard.press("k")
        page.wait_for_selector(current.format("Tomatoes in November"))

        # Edit, watch the counter, approve in place.
        item.locator("button[data-action=edit]").click()
        own = "Alice's tomatoes are still going in November! https://alice.blog/tomatoes"
        item.locator("textarea[name=text_mastodon]").fill(own)
        assert (
            item.locator(".counter")
            .inner_text()
            .startswith(f"{len(own) - len('https://alice.blog/tomatoes') + 23} /")
        )
        item.locator("button[data-action=approve]").click()
        item.locator(".decided").wait_for()
        shots.take("approved")
        decided = item.locator(".decided").inner_text()
        assert "Approved." in decided
        assert "JST" in decided  # Bob's own time zone
        assert stream_count.is_hidden()  # the counts follow without a reload
        assert queue_count.inner_text() == "1"

        # The queue shows it at the right local time.
        page.goto(f"{base}/queue")
        shots.take("queue")
        with session_scope() as s:
            delivery = s.exec(select(Delivery)).one()
        row = page.locator(f"#delivery-{delivery.id}")
        assert timefmt.moment(delivery.due_at, "Asia/Tokyo") in row.inner_text()  # "… JST"
        assert own in row.inner_text()

        # When its time comes it is sent, and history links to it.
        with session_scope() as s:
            row_ = s.get(Delivery, delivery.id)
            assert row_ is not None
            row_.due_at = datetime.now(UTC) - timedelta(seconds=1)

        def sent() -> bool:
            with session_scope() as s:
                found = s.get(Delivery, delivery.id)
                return found is not None and found.state == DeliveryState.SENT

        wait_for("the reshare sent", sent, timeout=60)
        page.goto(f"{base}/history")
        shots.take("history")
        entry = page.locator(f"#delivery-{delivery.id}")
        assert "sent" in entry.inner_text()
        assert entry.locator("text=see the post").count() == 1
        assert [s.text for s in mastodon.statuses] == [own]
