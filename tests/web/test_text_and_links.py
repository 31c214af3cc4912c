"""From the browser: an edited share text keeps its lines but not the browser's carriage
returns, and a blogger sees on the Feeds page which new entries had no web link."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import select

from tests import builders as b
from tests.builders import Item, ago, poll_now, posts, rss
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tests.web.conftest import World, post_form, sign_in
from tribe.infra.db import session_scope
from tribe.infra.models import Delivery


def test_an_edit_sent_by_the_browser_is_queued_with_plain_newlines(
    app: TestClient, world: World
) -> None:
    item = world.item(world.bob, world.new_post())
    sign_in(app, world.bob.email)
    edit = "Tomatoes!\r\n\r\nRead this https://alice.blog/1"
    sent = post_form(app, f"/stream/{item}/approve", {"text_mastodon": edit}, page="/stream")
    assert sent.status_code == 303
    with session_scope() as s:
        texts = [d.text for d in s.exec(select(Delivery)).all()]
    assert "Tomatoes!\n\nRead this https://alice.blog/1" in texts
    assert not any("\r" in t for t in texts)


def test_the_feeds_page_says_which_new_entries_had_no_web_link(
    app: TestClient, world: World, server: FeedServer
) -> None:
    with session_scope() as s:
        feed_id = b.pk(b.feed(s, world.alice, server.url("/alice.xml")))
    server.routes["/alice.xml"] = Served(rss(posts(1)))
    poll_now(feed_id)
    js = Item("Click me", guid="js", link="javascript:alert(1)", published=ago(minutes=5))
    server.routes["/alice.xml"] = Served(rss([js, *posts(1)]))
    poll_now(feed_id)
    page = sign_in(app, world.alice.email).get("/feeds").text
    assert "1 new entry without a web link was not shared: \u201cClick me\u201d" in page
    assert "Click me" not in sign_in(app, world.bob.email).get("/stream").text
