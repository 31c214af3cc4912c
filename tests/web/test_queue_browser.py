"""The Queue, Schedule and Templates pages' scripts in real Chromium: moving, sending next
and editing a queued text happen in place (no reload), the schedule form follows what is
typed, and a template's box shows the whole template. Playwright drives Debian's Chromium;
screenshots at phone and desktop width are saved under test-artifacts/ when it fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import BACKEND
from tests.integration.cluster import cluster, free_port
from tests.web.browser import chromium, marks
from tests.web.conftest import PASSWORD, World
from tribe.core.kinds import Network
from tribe.infra.db import session_scope
from tribe.members.accounts import set_template
from tribe.members.people import get_member
from tribe.stream.approvals import approve


class Shots:
    """Screenshots of one browser's pages, written out only if the test fails; each one
    also checks that the page does not scroll sideways."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.taken: list[tuple[str, bytes]] = []

    def take(self, name: str) -> None:
        self.taken.append((name, self.page.screenshot(full_page=True)))
        overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the {name} page is {overflow}px wider than the screen"


pytestmark = marks(timeout=180, sqlite_only=True)


def script_errors(page: Page) -> list[str]:
    """The script errors `page` throws from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    with chromium() as found:
        shots: list[Shots] = []
        request.node.shots = shots
        yield found
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            folder = Path(str(request.config.rootpath)) / "test-artifacts" / BACKEND
            folder = folder / request.node.name
            folder.mkdir(parents=True, exist_ok=True)
            for shot in shots:
                for n, (name, png) in enumerate(shot.taken):
                    (folder / f"{n:02d}-{name}.png").write_bytes(png)
            print(f"screenshots saved in {folder}")


def test_queue_actions_stay_in_place_and_forms_follow_what_is_typed(
    browser: Browser, world: World, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ids = []
    for n in (1, 2, 3):
        item = world.item(world.bob, world.new_post(f"Post {n}", n))
        with session_scope() as s:
            decision = approve(s, member=get_member(s, world.bob.email), item_id=item)
        ids.append(next(q.delivery_id for q in decision.queued if q.network == Network.MASTODON))
    with session_scope() as s:
        set_template(
            s,
            member=get_member(s, world.bob.email),
            network="mastodon",
            template="{title}\n\n{url}\n\nvia {author}\n\n" + "#garden " * 30 + "{tags}",
        )

    with cluster(tmp_path / "procs") as running:
        base = running.start_web(free_port())
        for width, name in ((390, "phone"), (1280, "desktop")):
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            shots = Shots(page)
            request.node.shots.append(shots)
            errors = script_errors(page)
            page.goto(f"{base}/login")
            page.fill("input[name=email]", world.bob.email)
            page.fill("input[name=password]", PASSWORD)
            page.click("button:has-text('Sign in')")
            page.wait_for_url("**/stream")

            page.goto(f"{base}/queue")
            shots.take(f"queue-{name}")
            page.evaluate("window.stayed = true")  # gone if the page reloads
            _, second, third = (page.locator(f"#delivery-{i}") for i in ids)

            # Up: the second goes first, in place.
            second.locator("button[data-key=up]").click()
            page.wait_for_selector(f"text=#{ids[1]} now goes out")
            order = page.eval_on_selector_all(
                ".account-queue li[data-delivery]", "rows => rows.map(r => r.dataset.delivery)"
            )
            assert [int(i) for i in order if int(i) in ids][:2] == [ids[1], ids[0]]
            assert page.evaluate("window.stayed") is True
            assert page.evaluate("document.activeElement.dataset.key") in ("up", "down")
            second.locator("button[data-key=down]").click()  # and back
            page.wait_for_selector(f"text=#{ids[1]} now goes out")

            # Edit a text: the counter counts as on the stream, the save stays in place.
            third.locator("summary:has-text('Edit text')").click()
            area = third.locator("textarea[name=text]")
            area.fill("Tomatoes, still ripening in November")
            assert third.locator(".counter").inner_text() == "36 / 500"
            area.fill("x" * 501)
            assert "over" in (third.locator(".counter").get_attribute("class") or "")
            third.locator("button:has-text('Save text')").click()
            page.wait_for_selector("text=long and the limit is 500")  # refused, said in place
            third.locator("textarea[name=text]").fill(f"Ripening in {name} width")
            third.locator("button:has-text('Save text')").click()
            page.wait_for_selector(f"text=#{ids[2]}: your text is saved")
            assert f"Ripening in {name} width https://alice.blog/3" in third.inner_text()

            # Send next: said in place, whether it moves or why it cannot.
            third.locator("button[data-key=next]").click()
            page.wait_for_selector(f".account-queue :text('#{ids[2]}')")
            assert page.evaluate("window.stayed") is True
            shots.take(f"queue-after-{name}")

            # The schedule form picks what is being typed.
            page.goto(f"{base}/schedule")
            form = page.locator("form[data-schedule]").first
            form.locator("input[name=every]").fill("60")
            assert form.locator("input[value=interval]").is_checked()
            form.locator("input[name=slots]").fill("mon-fri 09:00,12:30; sat 10:00")
            assert form.locator("input[value=slots]").is_checked()
            shots.take(f"schedule-{name}")

            # A template's box shows all of it, without scrolling inside.
            page.goto(f"{base}/templates")
            shots.take(f"templates-{name}")
            inner = page.eval_on_selector(
                "#template-mastodon textarea", "a => a.scrollHeight - a.clientHeight"
            )
            assert inner <= 2, f"the template box hides {inner}px of the template"
            assert errors == []
            context.close()
