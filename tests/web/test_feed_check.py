"""The Feeds page: "Check now" (in place, without JS, by API, by the operator), the next
check, recent posts with what became of them, and a hint that says what the first
check announces."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config import get_settings
from tests import builders as b
from tests.builders import Item, ago, posts, rss
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tests.web.conftest import api_token, client_for, csrf, post_form, sign_in, with_password
from tribe.infra.db import session_scope
from tribe.infra.models import Feed, Member
from tribe.ingest.claims import claim_due_feeds, make_due_now

API = "/api/v1"
INPLACE = {"X-Tribe-Inplace": "1"}


@dataclass
class Blog:
    alice: Member  # writes /alice.xml
    bob: Member  # her tribemate
    olga: Member  # the operator, in no tribe
    feed_id: int
    old: list[Item]

    def publish(self, server: FeedServer, title: str = "Just out") -> None:
        item = Item(
            title, guid=title, link=f"https://alice.blog/{len(title)}", published=ago(minutes=1)
        )
        server.routes["/alice.xml"] = Served(rss([item, *self.old], title="Alice grows"))


@pytest.fixture
def blog(db: None, server: FeedServer) -> Blog:
    alice = with_password("Alice", "Europe/Paris")
    bob = with_password("Bob")
    olga = with_password("Olga", operator=True)
    with session_scope() as s:
        b.tribe(s, "Writers", alice, bob)
        feed_id = b.pk(b.feed(s, alice, server.url("/alice.xml")))
    old = posts(3)
    server.routes["/alice.xml"] = Served(rss(old, title="Alice grows"))
    b.poll_now(feed_id)  # the baseline, a while ago
    a_while_ago(feed_id)
    return Blog(alice, bob, olga, feed_id, old)


def a_while_ago(feed_id: int) -> None:
    with session_scope() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        feed.last_polled_at = datetime.now(UTC) - timedelta(minutes=5)


def check_inplace(client: TestClient, path: str) -> Any:
    token = csrf(client, "/feeds")
    return client.post(path, headers={**INPLACE, "X-CSRF-Token": token})


def test_check_now_answers_in_place_with_the_feeds_card(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    sign_in(app, blog.alice.email)
    blog.publish(server)
    answer = check_inplace(app, f"/feeds/{blog.feed_id}/check")
    assert answer.status_code == 200, answer.text
    card = answer.text
    assert card.strip().startswith(f'<section class="card feed" id="feed-{blog.feed_id}"')
    assert "<html" not in card  # a fragment for the page's script, not a page
    assert "Checked just now: 1 new post, announced to 1 tribemate" in card
    assert re.search(r"<dt>Next check</dt><dd data-next-check>in 1[5-7] min", card)
    assert "Just out" in card
    assert "announced to 1 tribemate · not shared yet" in card
    assert server.hits("/alice.xml") == 2  # the baseline, then this check


def test_a_second_check_within_the_minute_is_refused_in_place_without_fetching(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    sign_in(app, blog.alice.email)
    assert check_inplace(app, f"/feeds/{blog.feed_id}/check").status_code == 200
    again = check_inplace(app, f"/feeds/{blog.feed_id}/check")
    assert again.status_code == 429
    assert again.headers["content-type"].startswith("text/plain")
    assert 50 <= int(again.headers["Retry-After"]) <= 60
    assert "at most once a minute" in again.text
    assert server.hits("/alice.xml") == 2


def test_without_script_the_check_redirects_with_a_flash(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    sign_in(app, blog.alice.email)
    blog.publish(server)
    done = post_form(app, f"/feeds/{blog.feed_id}/check", page="/feeds")
    assert done.status_code == 303
    assert done.headers["location"] == f"/feeds#feed-{blog.feed_id}"
    page = app.get("/feeds").text
    assert "checked Alice grows: 1 new post, announced to 1 tribemate" in page
    too_soon = post_form(app, f"/feeds/{blog.feed_id}/check", page="/feeds")
    assert too_soon.status_code == 303
    page = app.get("/feeds").text
    assert 'class="flash error"' in page
    assert "at most once a minute" in page
    assert server.hits("/alice.xml") == 2


def test_a_feed_being_polled_is_refused_with_a_clear_message(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    now = datetime.now(UTC)
    with session_scope() as s:
        make_due_now(s, now=now, feed_ids=[blog.feed_id])
        claim_due_feeds(
            s, now=now, limit=5, per_host=2, max_in_flight=50, lease=timedelta(minutes=10)
        )
    sign_in(app, blog.alice.email)
    answer = check_inplace(app, f"/feeds/{blog.feed_id}/check")
    assert answer.status_code == 429
    assert answer.text == "tribe is polling this feed right now; its result shows here in a moment"
    assert server.hits("/alice.xml") == 1


def test_a_busy_host_means_try_again_in_a_moment(
    app: TestClient, blog: Blog, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIBE_POLL_PER_HOST", "1")
    get_settings.cache_clear()
    with session_scope() as s:
        other = b.feed(s, blog.bob, server.url("/bob.xml"))
        other.lease_until = datetime.now(UTC) + timedelta(minutes=5)  # a worker has it
    sign_in(app, blog.alice.email)
    answer = check_inplace(app, f"/feeds/{blog.feed_id}/check")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "10"
    assert "try again in a few seconds" in answer.text
    assert server.hits("/alice.xml") == 1


def test_a_member_checks_only_their_own_feeds(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    sign_in(app, blog.bob.email)
    answer = check_inplace(app, f"/feeds/{blog.feed_id}/check")
    assert answer.status_code == 404
    assert check_inplace(app, f"/admin/feeds/{blog.feed_id}/check").status_code == 404
    assert server.hits("/alice.xml") == 1


def test_the_operator_checks_any_feed_from_the_operator_page(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    operator = sign_in(client_for(app), blog.olga.email)
    page = operator.get("/admin").text
    assert f'action="/admin/feeds/{blog.feed_id}/check"' in page
    assert "feeds.js" in page
    blog.publish(server)
    token = csrf(operator, "/admin")
    answer = operator.post(
        f"/admin/feeds/{blog.feed_id}/check", headers={**INPLACE, "X-CSRF-Token": token}
    )
    assert answer.status_code == 200, answer.text
    assert answer.text == "1 new post, announced to 1 tribemate"
    assert answer.headers["X-Tribe-Outcome"] == "ok"
    assert server.hits("/alice.xml") == 2
    # Without the script: back to the operator page, with the outcome (here: too soon).
    again = post_form(operator, f"/admin/feeds/{blog.feed_id}/check", page="/admin")
    assert again.headers["location"] == "/admin"
    assert "at most once a minute" in operator.get("/admin").text
    assert server.hits("/alice.xml") == 2


def test_the_api_checks_a_feed_and_answers_429_too_soon(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    blog.publish(server)
    auth = api_token(blog.alice.email)
    answer = app.post(f"{API}/feeds/{blog.feed_id}/check", headers=auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["feed_id"] == blog.feed_id
    assert (body["outcome"], body["new_posts"], body["announced"]) == ("ok", 1, 1)
    assert body["tribemates"] == 1
    assert body["baseline"] is False
    assert body["message"] == "1 new post, announced to 1 tribemate"
    assert body["checked_at"]
    assert body["next_poll_at"]
    again = app.post(f"{API}/feeds/{blog.feed_id}/check", headers=auth)
    assert again.status_code == 429
    assert again.json()["code"] == "too_many_attempts"
    assert 50 <= int(again.headers["Retry-After"]) <= 60
    assert server.hits("/alice.xml") == 2


def test_the_api_answers_404_for_someone_elses_feed(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    for who in (blog.bob, blog.olga):  # the API acts for the token's own feeds only
        answer = app.post(f"{API}/feeds/{blog.feed_id}/check", headers=api_token(who.email))
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"
    assert server.hits("/alice.xml") == 1


def test_the_feeds_page_shows_the_next_check_and_recent_posts(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    sign_in(app, blog.alice.email)
    page = app.get("/feeds").text
    assert re.search(r"<dt>Next check</dt><dd data-next-check>in 1[0-7] min", page)
    assert "feeds.js" in page
    assert 'data-check="card"' in page
    for item in blog.old:  # the baseline's posts, each with why it was not announced
        assert item.title in page
    assert page.count("not announced: it was already there at the first check") == 3
    with session_scope() as s:
        feed = s.get(Feed, blog.feed_id)
        assert feed is not None
        feed.next_poll_at = datetime.now(UTC) - timedelta(minutes=1)
    assert "due now" in app.get("/feeds").text


def test_the_hint_says_what_the_first_check_announces(
    app: TestClient, blog: Blog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIBE_MAX_ENTRY_AGE", "2d")
    get_settings.cache_clear()
    sign_in(app, blog.alice.email)
    page = app.get("/feeds").text
    hint = re.search(r"<p class=\"hint\" data-first-check>(.*?)</p>", page, re.S)
    assert hint
    text = hint.group(1)
    assert "without announcing them, except the newest" in text
    assert "published in the last 2 days" in text
    assert "dated more than 2 days back" in text


def test_adding_a_feed_says_whether_the_newest_post_was_announced(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    fresh = Item(
        "Hot off the press", guid="hot", link="https://bob.blog/hot", published=ago(hours=1)
    )
    server.routes["/bob.xml"] = Served(rss([fresh, *posts(2)]))
    sign_in(app, blog.bob.email)
    post_form(app, "/feeds", {"url": server.url("/bob.xml")}, page="/feeds")
    page = app.get("/feeds").text
    assert "3 posts found; the newest was announced to 1 tribemate" in page


def test_a_failing_feed_answers_in_place_with_its_error(
    app: TestClient, blog: Blog, server: FeedServer
) -> None:
    del server.routes["/alice.xml"]  # the server now answers 404
    sign_in(app, blog.alice.email)
    answer = check_inplace(app, f"/feeds/{blog.feed_id}/check")
    assert answer.status_code == 200  # the check worked; the feed did not
    assert '<p class="flash error check-note"' in answer.text
    assert "Checked just now: could not read the feed: " in answer.text
    assert "404" in answer.text
    assert "Last error:" not in answer.text  # said once
    assert "Last error:" in app.get("/feeds").text
