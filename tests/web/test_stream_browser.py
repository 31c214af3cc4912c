"""The stream page live, in real Chromium against a real web process: a tribemate's new
post is announced without a reload, shown in place above what the member is editing,
skipped, put back, edited and approved with Ctrl+Enter, and the heading's count follows
each step. Screenshots of each step go to test-artifacts/<backend>/stream-live/.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlmodel import select

from tests import builders as b
from tests.conftest import BACKEND
from tests.integration.cluster import cluster, free_port
from tests.web.browser import chromium, marks
from tests.web.conftest import PASSWORD, with_password
from tribe.infra.db import session_scope
from tribe.infra.models import Delivery, Post, StreamItem
from tribe.members.accounts import ScheduleChange, add_account, set_schedule
from tribe.members.people import get_member
from tribe.stream.items import fan_out

pytestmark = marks(timeout=120, sqlite_only=True)


def publish(feed_id: int, n: int, title: str) -> int:
    """Alice's new post, fanned out as a poll would: the id of Bob's stream item."""
    now = datetime.now(UTC)
    with session_scope() as s:
        post = Post(
            feed_id=feed_id,
            entry_key=f"k{n}",
            url=f"https://alice.blog/{n}",
            title=title,
            discovered_at=now - timedelta(minutes=1),
        )
        s.add(post)
        s.flush()
        assert post.id is not None
        fan_out(s, [post.id], now=now)
        item = s.exec(select(StreamItem).where(StreamItem.post_id == post.id)).one()
        assert item.id is not None
        return item.id


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        found = context.new_page()
        found.set_default_timeout(8_000)
        yield found
        context.close()


def test_a_new_post_arrives_without_a_reload_and_is_skipped_undone_and_approved(
    page: Page, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    shots = Path(str(request.config.rootpath)) / "test-artifacts" / BACKEND / "stream-live"
    shots.mkdir(parents=True, exist_ok=True)
    taken = iter(range(100))

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{next(taken):02d}-{name}.png"), full_page=True)

    alice = with_password("Alice", "Europe/Paris")
    bob = with_password("Bob", "Asia/Tokyo")
    with session_scope() as s:
        slug = b.tribe(s, "Night Gardeners", alice, bob).slug
        feed_id = b.pk(b.feed(s, alice, "https://alice.blog/feed"))
        add_account(
            s, member=get_member(s, bob.email), network="mastodon", handle="@bob@mastodon.social"
        )
        set_schedule(
            s, member=get_member(s, bob.email), change=ScheduleChange(slots="mon-sun 09:00,17:00")
        )
    waiting_item = publish(feed_id, 1, "Already waiting")

    with cluster(tmp_path / "procs") as running:
        base = running.start_web(free_port())
        # The page's poll runs on timers: a fake clock lets the test skip the 20 s wait.
        page.clock.install()
        page.goto(f"{base}/login")
        page.fill("input[name=email]", bob.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_load_state()
        page.goto(f"{base}/stream")
        heading = page.locator("h1 small")
        badge = page.locator("[data-count=stream]")
        approve_all = page.locator("form[data-approve-all] button")
        assert heading.inner_text() == "1 waiting"
        assert approve_all.inner_text() == "Approve all 1 shown"
        page.evaluate("window.notReloaded = true")

        # Bob starts editing the post already there.
        waiting = page.locator(f"#item-{waiting_item}")
        draft = "Still thinking about this one https://alice.blog/1"
        waiting.locator("textarea[name=text_mastodon]").fill(draft)
        shot("editing")

        # Alice publishes; the page's next poll announces it.
        new_item = publish(feed_id, 2, "Fresh from the garden")
        bar = page.locator("[data-new-bar]")
        assert bar.is_hidden()
        page.clock.fast_forward(25_000)
        bar.wait_for(state="visible")
        assert bar.inner_text() == "1 new post — show"
        assert heading.inner_text() == "1 waiting"
        shot("new-post-bar")

        bar.locator("button", has_text="show").click()
        fresh = page.locator(f"#item-{new_item}")
        fresh.wait_for()
        assert bar.is_hidden()
        assert heading.inner_text() == "2 waiting"
        assert badge.inner_text() == "2"
        assert approve_all.inner_text() == "Approve all 2 shown"
        ids = page.eval_on_selector_all(
            "form[data-approve-all] input[name=item_ids]", "inputs => inputs.map(i => i.value)"
        )
        assert sorted(ids) == sorted([str(waiting_item), str(new_item)])
        assert "Night Gardeners" in fresh.locator(".meta").inner_text()
        # Shown above, and nothing Bob was editing was lost: the page was not reloaded.
        assert page.evaluate("window.notReloaded") is True
        assert waiting.locator("textarea[name=text_mastodon]").input_value() == draft
        order = page.eval_on_selector_all("article.item", "items => items.map(i => i.id)")
        assert order == [f"item-{new_item}", f"item-{waiting_item}"]
        shot("shown")

        # Skip it, then change his mind.
        fresh.locator("button[data-action=skip]").click()
        fresh.locator(".decided", has_text="Skipped.").wait_for()
        page.wait_for_function("document.querySelector('h1 small').innerText === '1 waiting'")
        assert badge.inner_text() == "1"
        assert approve_all.inner_text() == "Approve all 1 shown"
        shot("skipped")
        fresh.locator("button", has_text="Undo").click()
        fresh.locator("form.decide").wait_for()
        page.wait_for_function("document.querySelector('h1 small').innerText === '2 waiting'")
        assert badge.inner_text() == "2"
        assert approve_all.inner_text() == "Approve all 2 shown"
        shot("undone")

        # Edit it and approve with Ctrl+Enter, without leaving the text.
        own = "Alice's garden, still going in November https://alice.blog/2"
        area = fresh.locator("textarea[name=text_mastodon]")
        area.fill(own)
        area.press("Control+Enter")
        fresh.locator(".decided", has_text="Approved.").wait_for()
        page.wait_for_function("document.querySelector('h1 small').innerText === '1 waiting'")
        assert badge.inner_text() == "1"
        assert approve_all.inner_text() == "Approve all 1 shown"
        assert "JST" in fresh.locator(".decided").inner_text()
        shot("approved")
        with session_scope() as s:
            (delivery,) = s.exec(select(Delivery)).all()
        assert delivery.text == own

        # Escape leaves a text and j/k go on from its item.
        waiting.locator("textarea[name=text_mastodon]").click()
        page.keyboard.press("Escape")
        page.wait_for_selector(f"#item-{waiting_item}.current")
        page.keyboard.press("k")
        page.wait_for_selector(f"#item-{new_item}.current")
        assert waiting.locator("textarea[name=text_mastodon]").input_value() == draft

        # A skip is undone from "Skipped recently" too (the list comes with the page).
        waiting.locator("button[data-action=skip]").click()
        waiting.locator(".decided", has_text="Skipped.").wait_for()
        page.reload()
        assert heading.inner_text() == "0 waiting"
        assert approve_all.is_hidden()
        skipped = page.locator("[data-skipped]")
        assert "Already waiting" in skipped.inner_text()
        shot("skipped-recently")
        skipped.locator("button", has_text="Undo").click()
        page.locator(f"#item-{waiting_item} form.decide").wait_for()
        assert skipped.is_hidden()
        page.wait_for_function("document.querySelector('h1 small').innerText === '1 waiting'")
        assert approve_all.inner_text() == "Approve all 1 shown"
        assert badge.inner_text() == "1"

        # The page fits a phone's width.
        page.set_viewport_size({"width": 390, "height": 844})
        shot("phone")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0

        # On the tribe page Bob has Alice's posts approved for him, two a day at most.
        page.goto(f"{base}/tribes/{slug}")
        row = page.locator(f"#mate-{alice.id}")
        row.locator("input[name=enabled]").check()
        row.locator("input[name=daily_cap]").fill("2")
        row.locator("button", has_text="Save").click()
        page.wait_for_selector("text=approved for you, at most 2 a day")
        assert "auto-approved, at most 2 a day" in row.inner_text()
        assert row.locator("input[name=enabled]").is_checked()
        shot("tribe-phone")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        page.set_viewport_size({"width": 1200, "height": 900})
        shot("tribe")
