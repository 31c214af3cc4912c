"""Who shares whom and Who shared my posts in real Chromium, after real deliveries.

Bob and Carol approve Alice's posts; the dispatch path a worker runs (claim, then the
real Mastodon adapter against the local fake Mastodon, then record) sends them, so
each reshare is `sent` with the address the network gave it. The tribe's view and
Alice's view are then read at desktop and at phone width (375 px): the numbers are
printed (no hovering needed) and nothing makes the page scroll sideways. Screenshots go
to test-artifacts/<backend>/alliance/.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize
from sqlmodel import col, select

from tests import builders as b
from tests.conftest import TEST_SECRET_KEY
from tests.fakenet.mastodon import FakeMastodon
from tests.integration.cluster import cluster, free_port
from tests.web.browser import artifacts, chromium, marks, sideways
from tests.web.conftest import PASSWORD, with_password
from tribe.core.kinds import Connection, DeliveryState, Network
from tribe.delivery.dispatch import claim_due, publish_config, run_claims
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Account, Delivery, Member, Post, ReachSnapshot, StreamItem
from tribe.infra.vault import Vault, process_vault
from tribe.members.people import get_member
from tribe.networks.registry import process_publishers
from tribe.stream.approvals import approve, skip
from tribe.stream.items import fan_out

pytestmark = marks(timeout=180, sqlite_only=True)

WIDTHS: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 900},
    "phone": {"width": 375, "height": 812},
}


def connect(member: Member, fake: FakeMastodon, followers: int | None) -> int:
    """A Mastodon account on the fake, connected as the Accounts page would leave it,
    with today's reading of its followers."""
    username = member.email.partition("@")[0]
    token = fake.token_for(username)
    user = fake.users[username]
    with session_scope() as s:
        account = Account(
            member_id=b.pk(member),
            network=Network.MASTODON,
            handle=f"{username}@fake.social",
            connection=Connection.CONNECTED,
            credentials=Vault([TEST_SECRET_KEY]).seal({"access_token": token}),
            remote_user_id=user.id,
            base_url=fake.base_url,
        )
        s.add(account)
        s.flush()
        s.add(
            ReachSnapshot(
                account_id=b.pk(account), day=datetime.now(UTC).date(), followers=followers
            )
        )
        return b.pk(account)


def publish(feed_id: int, n: int, title: str) -> int:
    """Alice's post, fanned out to her tribemates as a poll would."""
    with session_scope() as s:
        post = Post(
            feed_id=feed_id,
            entry_key=f"k{n}",
            url=f"https://alice.blog/{n}",
            title=title,
            discovered_at=datetime.now(UTC) - timedelta(minutes=10 * n),
        )
        s.add(post)
        s.flush()
        fan_out(s, [b.pk(post)], now=datetime.now(UTC))
        return b.pk(post)


def item_of(member: Member, post_id: int) -> int:
    with read_scope() as s:
        found = s.exec(
            select(col(StreamItem.id)).where(
                col(StreamItem.member_id) == member.id, col(StreamItem.post_id) == post_id
            )
        ).one()
        assert found is not None
        return found


def dispatch_now() -> list[DeliveryState]:
    """What beat's dispatch and a worker's publish_delivery do, in this process."""
    with session_scope() as s:
        for delivery in s.exec(select(Delivery)).all():
            delivery.due_at = datetime.now(UTC) - timedelta(seconds=1)
    with session_scope() as s:
        claims = claim_due(s, now=datetime.now(UTC), config=publish_config())
    return run_claims(
        claims, publishers=process_publishers(), config=publish_config(), vault=process_vault()
    )


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found


def sign_in(browser: Browser, base: str, email: str, width: str) -> Page:
    context = browser.new_context(viewport=WIDTHS[width])
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/stream")
    return page


def test_the_tribe_view_and_the_authors_view_after_real_deliveries(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    folder = artifacts(request, "alliance")
    shutil.rmtree(folder, ignore_errors=True)  # only this run's screenshots
    folder.mkdir(parents=True)
    taken = itertools.count()

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(folder / f"{next(taken):02d}-{name}.png"), full_page=True)
        assert sideways(page) <= 0, f"the {name} page scrolls sideways"

    alice = with_password("Alice", "Europe/Paris")
    bob = with_password("Bob", "America/Chicago")
    carol = with_password("Carol", "Asia/Tokyo")
    with session_scope() as s:
        # A long name, as members have: the charts cut it, the hover title does not.
        get_member(s, carol.email).display_name = carol.display_name = "Carol Wintergreen-Abernathy"
        slug = b.tribe(s, "Night Gardeners", alice, bob, carol).slug
        feed_id = b.pk(b.feed(s, alice, "https://alice.blog/feed"))
    with FakeMastodon() as fake:
        connect(bob, fake, followers=1234)
        connect(carol, fake, followers=None)  # the network would not say: unknown
        posts = [
            publish(feed_id, n, title)
            for n, title in enumerate(
                ["Tomatoes in November", "Why beans climb", "A winter of kale"], start=1
            )
        ]
        shares = [(bob, posts[0]), (bob, posts[1]), (carol, posts[0])]
        approved = [(who.email, item_of(who, post_id)) for who, post_id in shares]
        skipped = item_of(carol, posts[1])
        with session_scope() as s:
            for email, item_id in approved:
                approve(s, member=get_member(s, email), item_id=item_id)
            skip(s, member=get_member(s, carol.email), item_id=skipped)
        assert dispatch_now() == [DeliveryState.SENT] * 3
        with session_scope() as s:
            sent = s.exec(select(Delivery).order_by(col(Delivery.id))).all()
            urls = [d.remote_url for d in sent]
        assert all(url and url.startswith(fake.base_url) for url in urls), urls
        assert len(fake.statuses) == 3  # they are on the network, once each

    with cluster(tmp_path / "procs") as running:
        base = running.start_web(free_port())
        for width in WIDTHS:
            page = sign_in(browser, base, bob.email, width)
            page.goto(f"{base}/tribes/{slug}")
            shot(page, f"tribe-page-{width}")
            page.click("text=Who shares whom")
            page.wait_for_url(f"**/tribes/{slug}/reciprocity")
            heat = page.locator("svg.heatmap")
            assert heat.is_visible()
            # Rows Alice, Bob, Carol: Bob shared two of Alice's posts, Carol one.
            cells = heat.locator("g.cell text").all_text_contents()  # SVG: no innerText
            assert cells == ["—", "0", "0", "2", "—", "0", "1", "0", "—"]
            reach = page.locator("#reach").inner_text()
            assert "1,234 followers across 2 accounts" in reach
            assert "1 account unknown" in reach
            assert page.locator("[data-total=sent]").inner_text() == "3"
            assert page.locator("[data-total=skipped]").inner_text() == "1"
            shot(page, f"tribe-view-{width}")
            page.click("a[href$='days=7']")
            page.wait_for_url("**days=7")
            assert page.locator("nav.windows a[aria-current=page]").inner_text() == "7 days"
            page.click("summary:has-text('Every pair as a table')")
            assert page.locator("table.pairs tbody tr").count() == 2
            shot(page, f"tribe-view-7-days-table-{width}")
            page.context.close()

            page = sign_in(browser, base, alice.email, width)
            page.click("nav[aria-label=main] >> text=Who shared my posts")
            page.wait_for_url("**/shared")
            tomatoes = page.locator("article", has_text="Tomatoes in November")
            assert "shared 2 times, reaching 1,234 followers through the tribe" in (
                tomatoes.inner_text()
            )
            assert "(+1 of unknown reach)" in tomatoes.inner_text()
            links = tomatoes.locator("a:has-text('see the reshare')")
            assert links.count() == 2
            assert {links.nth(i).get_attribute("href") for i in range(2)} <= set(urls)
            assert re.search(r"\d\d:\d\d CES?T", tomatoes.inner_text())  # Alice's zone
            kale = page.locator("article", has_text="A winter of kale")
            assert "not shared yet" in kale.inner_text()
            shot(page, f"authors-view-{width}")
            # Alice is the chief: her tribe's health panel, from the tribe page.
            page.goto(f"{base}/tribes/{slug}")
            page.click("text=Tribe health")
            page.wait_for_url(f"**/tribes/{slug}/health")
            assert page.locator("h1").inner_text().startswith("Health of Night Gardeners")
            for section in ("#posts", "#quiet", "#feeds", "#accounts"):
                assert page.locator(section).is_visible()
            shot(page, f"health-panel-{width}")
            page.context.close()
