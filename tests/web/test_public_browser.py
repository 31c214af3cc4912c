"""A public tribe's page in real Chromium, as a stranger reads it at desktop width and
at phone width (375 px): the posts, the members with a blog icon (served by tribe) or
an initial, the join button and the letter's form, and nothing scrolling sideways.
Screenshots go to test-artifacts/<backend>/public/.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ViewportSize

from tests import builders as b
from tests.integration.cluster import cluster, free_port
from tests.web.browser import artifacts, chromium, marks, sideways
from tribe.core.kinds import EditionState
from tribe.infra.db import session_scope
from tribe.infra.models import Edition, FeedIcon, LetterPlan, Post

pytestmark = marks(timeout=180, sqlite_only=True)

WIDTHS: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 900},
    "phone": {"width": 375, "height": 812},
}
# A 1x1 green PNG: a real image, so the browser draws it.
DOT = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found


def test_a_stranger_reads_the_public_page_on_a_phone_and_a_desktop(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    folder = artifacts(request, "public")
    shutil.rmtree(folder, ignore_errors=True)  # only this run's screenshots
    folder.mkdir(parents=True)
    now = datetime.now(UTC)
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        carol = b.member(s, "Carol")
        carol.display_name = "Carol Wintergreen-Abernathy of the Long Names"
        tribe = b.tribe(s, "Night Gardeners", alice, bob, carol)
        tribe.is_public, tribe.is_open, tribe.public_counts = True, True, True
        tribe.description = "Bloggers who garden after dark, and write about it."
        slug = tribe.slug
        s.add(LetterPlan(tribe_id=b.pk(tribe)))
        s.add(
            Edition(
                tribe_id=b.pk(tribe),
                number=1,
                state=EditionState.SENT,
                subject="Moonlit tomatoes, and other stories",
                since=now - timedelta(days=14),
                deadline_at=now - timedelta(days=7),
                sent_at=now - timedelta(days=7),
            )
        )
        feeds = [
            b.feed(s, who, f"https://{name}.blog/feed", title=f"{name} writes", site_url=url)
            for who, name, url in [
                (alice, "alice", "https://alice.blog/"),
                (bob, "bob", "https://bob.blog/"),
                (carol, "carol", "https://carol.blog/a/very/long/path/to/a/blog/home/page/"),
            ]
        ]
        s.add(FeedIcon(feed_id=b.pk(feeds[0]), content_type="image/png", data=DOT, etag='"d"'))
        for n in range(22):
            moment = now - timedelta(hours=n + 1)
            s.add(
                Post(
                    feed_id=b.pk(feeds[n % 3]),
                    entry_key=f"k{n}",
                    url=f"https://blog.example/{n}/" + "a-rather-long-slug-" * 4,
                    title=f"Post {n}: " + "why the night garden grows " * (3 if n == 1 else 1),
                    summary="<p>" + "Slugs come out at night. " * 20 + "</p>",
                    published_at=moment,
                    discovered_at=moment,
                )
            )
    with cluster(tmp_path / "procs") as running:
        base = running.start_web(free_port())
        for width, viewport in WIDTHS.items():
            context = browser.new_context(viewport=viewport)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{base}/t/{slug}")
            assert page.locator("h1").inner_text() == "Night Gardeners"
            assert page.locator("article.public-post").count() == 20
            feed = page.locator('link[rel=alternate][type="application/atom+xml"]')
            assert feed.get_attribute("href") == f"{base}/t/{slug}/feed.xml"
            icon = page.locator("img.blog-icon")
            assert icon.count() == 1
            icon.scroll_into_view_if_needed()  # loaded lazily: below the posts on a phone
            page.wait_for_function("() => document.querySelector('img.blog-icon').complete")
            assert icon.evaluate("img => img.naturalWidth") == 1
            assert page.locator(".blog-icon.initial").all_inner_texts() == ["B", "C"]
            assert page.locator("a.button:has-text('Request to join')").is_visible()
            assert page.locator("form.subscribe input[type=email]").is_visible()
            assert page.locator("nav[aria-label=main]").count() == 0  # no app navigation
            page.screenshot(path=str(folder / f"page-{width}.png"), full_page=True)
            page.screenshot(path=str(folder / f"top-{width}.png"))  # what shows first
            page.locator("aside").screenshot(path=str(folder / f"aside-{width}.png"))
            assert sideways(page) <= 0, f"the page scrolls sideways at {width} width"
            page.click("text=Older →")
            page.wait_for_url(f"**/t/{slug}?page=2")
            assert page.locator("article.public-post").count() == 2
            page.screenshot(path=str(folder / f"page-2-{width}.png"), full_page=True)
            assert sideways(page) <= 0
            context.close()
