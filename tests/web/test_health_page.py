"""The chief's health panel page: the chief sees it, nobody else does (404), and its
nudge form sends a nudge once, with the page's CSRF token only."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import httpx
from fastapi.testclient import TestClient
from sqlmodel import select

from tests.alliance.herd import account, decided, item, reshare
from tests.web.conftest import World, as_response, csrf, post_form, sign_in
from tribe.core.kinds import FeedStatus
from tribe.infra.db import session_scope
from tribe.infra.models import Feed, Mail, Member, Membership, Tribe


def panel(world: World) -> str:
    return f"/tribes/{world.slug}/health"


def nudge_path(world: World, member: Member) -> str:
    return f"{panel(world)}/nudge/{member.id}"


def flash(response: httpx.Response) -> str:
    """The message the next page shows after a form ("" when none)."""
    raw = response.cookies.get("tribe_flash")
    return str(json.loads(unquote(raw))["text"]) if raw else ""


def mails() -> list[Mail]:
    with session_scope() as s:
        return list(s.exec(select(Mail)).all())


def test_the_chief_sees_each_rule_and_a_nudge_form_per_flagged_member(
    app: TestClient, world: World
) -> None:
    with session_scope() as s:
        feed = s.get_one(Feed, world.feed_id)
        feed.error_count, feed.error_message = 4, "HTTP 503 from the server"
    sign_in(app, world.alice.email)
    page = as_response(app.get(panel(world)))
    assert page.status_code == 200
    html = page.text
    for heading in (
        "New posts",
        "Quiet members",
        "Failing feeds",
        "No active account",
        "Receive far more than they give",
    ):
        assert heading in html
    assert "HTTP 503 from the server" in html  # Alice's own feed, in its own words
    # Bob and Carol have accounts on record but none connected: flagged, with a form each.
    assert f'action="{nudge_path(world, world.bob)}"' in html
    assert f'action="{nudge_path(world, world.carol)}"' in html
    assert "Hi Bob," in html  # the proposed message, ready to edit
    assert "no active social account" in html
    assert "This is you." in html  # Alice is flagged too, and cannot nudge herself
    assert f'action="{nudge_path(world, world.alice)}"' not in html


def test_the_tribe_page_links_the_panel_for_the_chief_only(app: TestClient, world: World) -> None:
    sign_in(app, world.alice.email)
    assert f'href="{panel(world)}"' in as_response(app.get(f"/tribes/{world.slug}")).text
    app.cookies.clear()
    sign_in(app, world.bob.email)
    assert f'href="{panel(world)}"' not in as_response(app.get(f"/tribes/{world.slug}")).text


def test_anyone_but_the_chief_gets_a_404(app: TestClient, world: World) -> None:
    for who in (world.bob, world.dave):
        app.cookies.clear()
        sign_in(app, who.email)
        assert as_response(app.get(panel(world))).status_code == 404
        sent = post_form(app, nudge_path(world, world.carol), {"message": "Hi"}, page="/tribes")
        assert sent.status_code == 303
        assert "writers" in flash(sent)  # no such panel (Bob), no such tribe (Dave)
    assert as_response(app.get(f"/tribes/{world.other_slug}/health")).status_code == 200  # Dave's
    assert mails() == []


def test_a_nudge_is_sent_once_a_week(app: TestClient, world: World) -> None:
    sign_in(app, world.alice.email)
    sent = post_form(
        app, nudge_path(world, world.bob), {"message": "Hi Bob!\r\nAlice"}, page=panel(world)
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == panel(world)
    assert "your note to Bob is on its way" in flash(sent)
    (mail,) = mails()
    assert (mail.kind, mail.to, mail.text.splitlines()[:2]) == (
        "nudge",
        world.bob.email,
        ["Hi Bob!", "Alice"],
    )
    with session_scope() as s:
        nudged_at = s.get_one(Member, world.bob.id).nudged_at
        assert nudged_at is not None
        assert nudged_at.replace(tzinfo=UTC) > datetime.now(UTC) - timedelta(minutes=1)
    html = as_response(app.get(panel(world))).text
    assert f'action="{nudge_path(world, world.bob)}"' not in html  # says why instead
    assert "a nudge goes at most once a week" in html
    again = post_form(app, nudge_path(world, world.bob), {"message": "Hi again"}, page=panel(world))
    assert "at most once a week" in flash(again)
    assert len(mails()) == 1


def test_a_member_who_turned_nudges_off_shows_why_and_gets_none(
    app: TestClient, world: World
) -> None:
    with session_scope() as s:
        s.get_one(Member, world.carol.id).nudges = False
    sign_in(app, world.alice.email)
    html = as_response(app.get(panel(world))).text
    assert "Carol turned nudges off, so none can be sent" in html
    assert f'action="{nudge_path(world, world.carol)}"' not in html
    sent = post_form(app, nudge_path(world, world.carol), {"message": "Hi"}, page=panel(world))
    assert "turned nudges off" in flash(sent)
    assert mails() == []


def test_the_nudge_needs_the_pages_csrf_token(app: TestClient, world: World) -> None:
    sign_in(app, world.alice.email)
    token = csrf(app, panel(world))
    path = nudge_path(world, world.bob)
    without = as_response(app.post(path, data={"message": "Hi"}, follow_redirects=False))
    forged = as_response(
        app.post(
            path, data={"message": "Hi", "csrf_token": "x" + token[1:]}, follow_redirects=False
        )
    )
    assert (without.status_code, forged.status_code) == (403, 403)
    assert mails() == []


def test_a_member_outside_the_tribe_cannot_be_nudged_nor_told_apart(
    app: TestClient, world: World
) -> None:
    """Any member can found a tribe and so be a chief: walking the member ids through
    their own panel must tell them nothing about people outside it (no address, not even
    that the id exists)."""
    sign_in(app, world.alice.email)
    sent = post_form(app, nudge_path(world, world.dave), {"message": "Hi"}, page=panel(world))
    nobody = post_form(app, f"{panel(world)}/nudge/999999", {"message": "Hi"}, page=panel(world))
    assert flash(sent) == flash(nobody).replace("#999999", f"#{world.dave.id}")
    assert re.search(r"no member #999999", flash(nobody))
    assert "@" not in flash(sent)
    assert mails() == []


def test_every_kind_of_finding_is_shown_in_words(app: TestClient, world: World) -> None:
    now = datetime.now(UTC)
    with session_scope() as s:
        tribe = s.exec(select(Tribe).where(Tribe.slug == world.slug)).one()
        tribe.created_at = now - timedelta(days=60)
        for membership in s.exec(select(Membership).where(Membership.tribe_id == tribe.id)):
            membership.joined_at = now - timedelta(days=60)
        bob, carol = s.get_one(Member, world.bob.id), s.get_one(Member, world.carol.id)
        feed = s.get_one(Feed, world.feed_id)
        feed.status, feed.error_count = FeedStatus.GONE, 1
        feed.error_message = "the server says this feed is gone (HTTP 410)"
        # Posts of Dave's, who is in another tribe: they keep the tribe silent.
        daves = s.exec(select(Feed).where(Feed.owner_id == world.dave.id)).one()
        decided(s, carol, daves, now - timedelta(days=16))
        for who in (bob, carol):
            item(s, who, daves, arrived=now - timedelta(days=3))
        by_bob = account(s, bob)
        for n in range(5):
            reshare(s, by_bob, feed, sent=now - timedelta(days=40 + n))
    sign_in(app, world.alice.email)
    html = as_response(app.get(panel(world))).text
    assert "No new post from any member in" in html
    assert "(the last one was found " in html
    assert "<strong>Bob</strong>: no decision in 60 days" in html
    assert "none since joining on" in html
    assert "<strong>Carol</strong>: no decision in 16 days" in html
    assert "is gone (polling stopped)" in html
    assert "the server says this feed is gone (HTTP 410)" in html
    assert "<strong>Alice</strong>: received 5, gave 0" in html
    assert "All is well" not in html
