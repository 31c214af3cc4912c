"""Who shares whom, on the pages and in the API: a tribe's numbers for its members (and
nobody else), "Who shared my posts" for the author, the window selector, and a bad
window refused. Reshares are rows in state sent, written by the test."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from tests.alliance import reshares as r
from tests.web.conftest import World, api_token, client_for, sign_in
from tribe.core.kinds import Connection, Network, ReshareKind, StreamState
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Member, Post, StreamItem
from tribe.members import tribes
from tribe.members.people import get_member

API = "/api/v1"
QUEUE_TEXT = "the sharer's words, which reciprocity never reads"  # every reshare's text


@dataclass
class Shared:
    """What the test wrote: Bob's reshares of Alice's post "Why tomatoes split" on
    Mastodon (300 followers) and X (a repost, of unknown reach), Carol's dry run of it,
    Bob's reshare of "Beans in December" 20 days ago, and Carol's skip of that one."""

    post_id: int
    bob_url: str


def accounts(s: Session, member: Member) -> dict[Network, Account]:
    """The member's accounts by network, connected (the world adds them unconnected)."""
    found = s.exec(select(Account).where(col(Account.member_id) == member.id)).all()
    for row in found:
        row.connection = Connection.CONNECTED
    return {row.network: row for row in found}


def decide(s: Session, member: Member, post_id: int, state: StreamState) -> None:
    item = s.exec(
        select(StreamItem).where(
            col(StreamItem.member_id) == member.id, col(StreamItem.post_id) == post_id
        )
    ).one()
    item.state, item.decided_at = state, datetime.now(UTC) - timedelta(hours=4)


@pytest.fixture
def shared(world: World) -> Shared:
    now = datetime.now(UTC)
    tomatoes = world.new_post("Why tomatoes split", 1)
    beans = world.new_post("Beans in December", 2)
    with session_scope() as s:
        post, other = s.get(Post, tomatoes), s.get(Post, beans)
        assert post is not None
        assert other is not None
        bob, carol = accounts(s, world.bob), accounts(s, world.carol)
        r.followers(s, bob[Network.MASTODON], (now - timedelta(days=25)).date(), 300)
        sent = r.reshare(s, bob[Network.MASTODON], post, at=now - timedelta(hours=3))
        r.reshare(s, bob[Network.X], post, at=now - timedelta(hours=2), kind=ReshareKind.REPOST)
        r.reshare(s, carol[Network.X], post, at=now - timedelta(hours=1), dry_run=True)
        r.reshare(s, bob[Network.MASTODON], other, at=now - timedelta(days=20))  # not in 7 days
        decide(s, world.bob, tomatoes, StreamState.APPROVED)
        decide(s, world.bob, beans, StreamState.APPROVED)
        decide(s, world.carol, tomatoes, StreamState.APPROVED)
        decide(s, world.carol, beans, StreamState.SKIPPED)
        assert sent.remote_url is not None
        return Shared(post_id=tomatoes, bob_url=sent.remote_url)


def cell_titles(page: str) -> list[str]:
    """Every heat-map cell's hover title, as read."""
    return [html.unescape(t) for t in re.findall(r'<g class="cell"><title>([^<]*)</title>', page)]


def cell_numbers(page: str) -> list[str]:
    return re.findall(r'font-weight="600">([^<]*)</text>', page)


# The tribe's view ------------------------------------------------------------------------


def test_the_tribe_view_prints_every_number_of_the_heat_map_and_the_reach(
    app: TestClient, world: World, shared: Shared
) -> None:
    page = sign_in(app, world.carol.email).get(f"/tribes/{world.slug}/reciprocity")
    assert page.status_code == 200
    text = page.text
    # Rows and columns by name: Alice, Bob, Carol; their own cells are "—".
    assert cell_numbers(text) == ["—", "0", "0", "3", "—", "0", "0", "0", "—"]
    titles = cell_titles(text)
    assert titles[3] == (
        "Bob shared Alice's posts: 3 sent, reaching 600 followers (1 of unknown reach), "
        "0 pending, 0 skipped, 0 expired"
    )
    assert titles[6] == (
        "Carol shared Alice's posts: 0 sent, 0 pending, 1 skipped, 0 expired, "
        "1 dry run (not posted)"
    )
    assert ">+1 dry</text>" in text
    assert '<dd data-total="sent">3</dd>' in text
    assert 'data-total="dry_run">1 ' in text
    # Reach: Bob's Mastodon has a reading; his X and Carol's X have none.
    assert re.search(r"<strong>300</strong> followers across 3 accounts", text)
    assert "2 accounts unknown" in text
    # Given and received, printed.
    assert 'data-given="3"' in text
    assert 'data-received="3"' in text
    # The trend carries its values as text, not only as bar heights.
    sent_chart = text[text.index('aria-label="Reshares sent per day"') :]
    sent_chart = sent_chart[: sent_chart.index("</svg>")]
    values = re.findall(r'class="value"[^>]*>(\d+)</text>', sent_chart)
    assert sum(map(int, values)) == 3
    assert QUEUE_TEXT not in text  # counts only


def test_the_window_selector_is_plain_links_and_narrows_the_numbers(
    app: TestClient, world: World, shared: Shared
) -> None:
    sign_in(app, world.bob.email)
    month = app.get(f"/tribes/{world.slug}/reciprocity").text
    week = app.get(f"/tribes/{world.slug}/reciprocity?days=7").text
    for days in (7, 30, 90, 365):
        assert f'href="/tribes/{world.slug}/reciprocity?days={days}"' in week
    assert re.search(r'days=7" aria-current="page">7 days', week)
    assert re.search(r'days=30" aria-current="page">30 days', month)
    assert '<dd data-total="sent">3</dd>' in month
    assert '<dd data-total="sent">2</dd>' in week  # the 20-day-old reshare is out


@pytest.mark.parametrize(
    ("days", "says"),
    [
        ("0", "days must be a whole number from 1 to 365 (not 0)"),
        ("366", "days must be a whole number from 1 to 365 (not 366)"),
        ("a week", "days: Input should be a valid integer"),
    ],
)
def test_a_bad_window_is_refused_with_the_reason(
    app: TestClient, world: World, days: str, says: str
) -> None:
    page = sign_in(app, world.bob.email).get(f"/tribes/{world.slug}/reciprocity?days={days}")
    assert page.status_code == 422
    assert says in html.unescape(page.text)
    assert sign_in(app, world.bob.email).get(f"/shared?days={days}").status_code == 422


def test_only_the_tribes_members_see_its_numbers(
    app: TestClient, world: World, shared: Shared
) -> None:
    path = f"/tribes/{world.slug}/reciprocity"
    assert app.get(path, follow_redirects=False).headers["location"] == f"/login?next={path}"
    dave = sign_in(client_for(app), world.dave.email)
    assert dave.get(path).status_code == 404  # a member of another tribe
    assert dave.get(f"/tribes/{world.other_slug}/reciprocity").status_code == 200
    bob = sign_in(client_for(app), world.bob.email)
    assert bob.get(f"/tribes/{world.other_slug}/reciprocity").status_code == 404
    assert bob.get("/tribes/no-such-tribe/reciprocity").status_code == 404
    with session_scope() as s:
        tribes.leave(s, member=get_member(s, world.bob.email), slug=world.slug)
    assert bob.get(path).status_code == 404  # who left no longer sees it
    # ... but stays in the numbers the others see, marked as having left.
    page = sign_in(client_for(app), world.carol.email).get(path).text
    assert "Bob (left)" in page
    assert any(t.startswith("Bob shared Alice's posts: 3 sent") for t in cell_titles(page))


def test_the_tribe_page_links_to_who_shares_whom_and_the_nav_to_who_shared_my_posts(
    app: TestClient, world: World
) -> None:
    page = sign_in(app, world.bob.email).get(f"/tribes/{world.slug}").text
    assert f'<a href="/tribes/{world.slug}/reciprocity">Who shares whom</a>' in page
    assert re.search(r'<a href="/shared"[^>]*>Who shared my posts</a>', page)


def test_a_tribe_of_one_is_told_how_reciprocity_starts(app: TestClient, world: World) -> None:
    page = sign_in(app, world.dave.email).get(f"/tribes/{world.other_slug}/reciprocity")
    assert page.status_code == 200
    assert "Reciprocity needs two" in page.text
    assert "<svg" not in page.text


# The author's view -------------------------------------------------------------------


def test_the_author_sees_who_shared_each_post_where_and_when_in_her_time_zone(
    app: TestClient, world: World, shared: Shared
) -> None:
    page = sign_in(app, world.alice.email).get("/shared")
    assert page.status_code == 200
    text = html.unescape(page.text)
    post = text[text.index(f'id="post-{shared.post_id}"') :]
    post = post[: post.index("</article>")]
    assert "Why tomatoes split" in post
    assert "shared 2 times, reaching" in post
    assert 'data-reach="300">300</strong> followers through the tribe (+1 of unknown reach)' in post
    assert post.count("<strong>Bob</strong>") == 2
    assert '<span class="net net-mastodon">mastodon</span>' in post
    assert '<span class="handle">bob@mastodon.social</span>' in post
    assert '<span class="badge">repost</span>' in post
    assert f'<a href="{shared.bob_url}"' in post  # the live reshare
    assert "dry run — not posted" in post  # Carol's, apart
    assert re.search(r"\d\d:\d\d CES?T", post)  # Alice is in Paris
    assert "Shared <strong>3</strong> times" in text  # the window's total, both posts
    assert QUEUE_TEXT not in text
    # Bob's own view: none of his posts, and nothing of Alice's.
    bob = sign_in(client_for(app), world.bob.email).get("/shared").text
    assert "Why tomatoes split" not in bob


def test_the_authors_view_pages_through_her_posts(app: TestClient, world: World) -> None:
    for n in range(1, 24):
        world.new_post(f"Post number {n}", n)
    sign_in(app, world.alice.email)
    first = app.get("/shared").text
    assert first.count('class="card shared-post"') == 20
    assert "Post number 23<" in first  # newest first
    assert 'href="/shared?days=30&amp;page=2">Older' in first
    second = app.get("/shared?page=2").text
    assert second.count('class="card shared-post"') == 3
    assert "Post number 1<" in second
    assert 'href="/shared?days=30&amp;page=1">' in second


# The API ---------------------------------------------------------------------------------


def test_the_api_gives_the_tribes_pairs_members_trend_and_reach(
    app: TestClient, world: World, shared: Shared
) -> None:
    body = app.get(
        f"{API}/tribes/{world.slug}/reciprocity", headers=api_token(world.carol.email)
    ).json()
    assert (body["slug"], body["days"]) == (world.slug, 30)
    assert body["reach"] == {"followers": 300, "accounts": 3, "unknown": 2, "complete": False}
    pairs = {(p["sharer"], p["author"]): p for p in body["pairs"]}
    assert set(pairs) == {("Bob", "Alice"), ("Carol", "Alice")}
    bob = pairs[("Bob", "Alice")]
    assert (bob["sent"], bob["reach"], bob["reach_unknown"], bob["dry_run"]) == (3, 600, 1, 0)
    carol = pairs[("Carol", "Alice")]
    assert (carol["sent"], carol["dry_run"], carol["skipped"], carol["pending"]) == (0, 1, 1, 0)
    assert [m["name"] for m in body["members"]] == ["Alice", "Bob", "Carol"]
    assert body["members"][0]["received"]["sent"] == 3
    assert body["total"]["sent"] == sum(p["sent"] for p in body["trend"]) == 3
    assert "@example.com" not in str(body)  # tribemates by name, never by email
    week = app.get(
        f"{API}/tribes/{world.slug}/reciprocity?days=7", headers=api_token(world.carol.email)
    ).json()
    assert week["total"]["sent"] == 2


def test_the_api_refuses_a_bad_window_and_other_tribes(
    app: TestClient, world: World, shared: Shared
) -> None:
    bob = api_token(world.bob.email)
    for days in ("0", "366", "soon"):
        answer = app.get(f"{API}/tribes/{world.slug}/reciprocity?days={days}", headers=bob)
        assert answer.status_code == 422, days
        assert answer.json()["code"] == "invalid_request"
        assert answer.json()["detail"].startswith("days: ")
        assert app.get(f"{API}/me/shared?days={days}", headers=bob).status_code == 422
    assert app.get(f"{API}/tribes/{world.other_slug}/reciprocity", headers=bob).status_code == 404
    dave = api_token(world.dave.email)
    assert app.get(f"{API}/tribes/{world.slug}/reciprocity", headers=dave).status_code == 404
    assert app.get(f"{API}/tribes/{world.slug}/reciprocity").status_code == 401
    assert app.get(f"{API}/me/shared").status_code == 401


def test_the_api_lists_my_shared_posts_a_page_at_a_time(
    app: TestClient, world: World, shared: Shared
) -> None:
    alice = api_token(world.alice.email)
    body = app.get(f"{API}/me/shared", headers=alice).json()
    assert body["count"] == 2
    assert [p["title"] for p in body["data"]] == ["Beans in December", "Why tomatoes split"]
    tomatoes = body["data"][1]
    assert (tomatoes["sent"], tomatoes["dry_run"], tomatoes["reach"]) == (2, 1, 300)
    by = [(x["sharer_name"], x["network"], x["kind"], x["dry_run"]) for x in tomatoes["reshares"]]
    assert by == [
        ("Bob", "mastodon", "post", False),
        ("Bob", "x", "repost", False),
        ("Carol", "x", "post", True),
    ]
    assert tomatoes["reshares"][0]["remote_url"] == shared.bob_url
    assert tomatoes["reshares"][0]["followers"] == 300
    assert tomatoes["reshares"][1]["followers"] is None
    assert tomatoes["reshares"][2]["remote_url"] is None
    assert tomatoes["reshares"][0]["sent_local"].endswith(("CET", "CEST"))
    page = app.get(f"{API}/me/shared?limit=1&offset=1", headers=alice).json()
    assert page["count"] == 2
    assert [p["title"] for p in page["data"]] == ["Why tomatoes split"]
    assert app.get(f"{API}/me/shared?limit=0", headers=alice).status_code == 422
    assert app.get(f"{API}/me/shared", headers=api_token(world.bob.email)).json() == {
        "data": [],
        "count": 0,
    }
