"""A public tribe's page (/t/{slug}): what anyone reads, what never shows, and the
switches behind it on the tribe's own page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import col, select

from tests import builders as b
from tests.web.conftest import client_for, post_form, sign_in
from tests.web.planet import Planet, public_planet, share  # noqa: F401 - the fixture
from tribe.core.kinds import EditionState
from tribe.infra.db import get_engine, session_scope
from tribe.infra.models import (
    Edition,
    Feed,
    FeedIcon,
    JoinRequest,
    LetterPlan,
    Tribe,
)
from tribe.members.people import get_tribe

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def test_the_page_shows_the_tribe_its_members_and_their_posts(
    app: TestClient, planet: Planet
) -> None:
    planet.post(
        planet.alice_feed, "Why tomatoes split", hours_ago=3, summary="<p>Water <b>evenly</b>.</p>"
    )
    planet.post(planet.bob_feed, "Digging deep", hours_ago=1, url="https://bob.blog/digging")
    page = app.get(f"/t/{planet.slug}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Writers</h1>" in text
    assert "Bloggers who grow their own food" in text
    assert "Alice" in text
    assert "Bob" in text
    assert 'href="https://alice.blog/"' in text
    assert "Alice grows" in text
    assert '<a href="https://bob.blog/digging" rel="noopener">Digging deep</a>' in text
    assert "Water evenly." in text  # the summary, as plain text
    assert "<b>evenly</b>" not in text
    assert text.index("Digging deep") < text.index("Why tomatoes split")  # newest first
    assert (
        '<link rel="alternate" type="application/atom+xml" '
        'title="Writers: the members\' latest posts" '
        'href="http://127.0.0.1:8000/t/writers/feed.xml">'
    ) in text
    # A stranger gets no app navigation; no member sees another's stream from here.
    assert 'href="/stream"' not in text
    assert "shared by" not in text  # the chief did not choose to show counts


def test_a_hidden_member_is_absent_from_everything_public(app: TestClient, planet: Planet) -> None:
    planet.post(planet.carol_feed, "Carol's secret garden", hours_ago=1)
    planet.post(planet.alice_feed, "Alice's open garden", hours_ago=2)
    answers = [
        app.get(f"/t/{planet.slug}").text,
        app.get(f"/t/{planet.slug}/feed.xml").text,
        app.get(f"/t/{planet.slug}/members.opml").text,
    ]
    for answer in answers:
        assert "Carol" not in answer
        assert "carol.blog" not in answer
    assert "Alice&#39;s open garden" in answers[0]
    assert "Alice's open garden" in answers[1]
    # Still in the tribe: the tribe's own page lists her.
    members_page = sign_in(app, planet.world.alice.email).get(f"/tribes/{planet.slug}").text
    assert "Carol" in members_page


def test_no_email_appears_in_any_public_answer(app: TestClient, planet: Planet) -> None:
    for n in range(25):
        planet.post(planet.alice_feed, f"Post {n}", hours_ago=n + 1, summary="mail me: x@y.org")
    with session_scope() as s:
        s.add(
            FeedIcon(
                feed_id=planet.alice_feed,
                content_type="image/png",
                data=b"\x89PNG\r\n\x1a\nx",
                etag='"e"',
            )
        )
        s.add(LetterPlan(tribe_id=get_tribe(s, planet.slug).id or 0))
    planet.tribe(is_open=True, public_counts=True)
    paths = ["", "?page=2", "/feed.xml", "/members.opml", f"/icons/{planet.alice_feed}"]
    for path in paths:
        answer = app.get(f"/t/{planet.slug}{path}")
        assert answer.status_code == 200, path
        body = answer.content.decode("utf-8", "replace")
        found = [e for e in EMAIL.findall(body) if e != "x@y.org"]  # a post's own words
        assert not found, (path, found)
        assert "example.com" not in body, path


def test_a_private_tribe_is_not_found_like_a_slug_nobody_has(
    app: TestClient, planet: Planet
) -> None:
    planet.post(planet.alice_feed, "Hello", hours_ago=1)
    with session_scope() as s:
        s.add(
            FeedIcon(
                feed_id=planet.alice_feed, content_type="image/png", data=b"\x89PNGx", etag='"e"'
            )
        )
    planet.tribe(is_public=False)
    for path in ["", "?page=2", "/feed.xml", "/members.opml", f"/icons/{planet.alice_feed}"]:
        private = app.get(f"/t/{planet.slug}{path}")
        nobody = app.get(f"/t/nobody-has-this{path}")
        assert private.status_code == nobody.status_code == 404, path
        assert private.text.replace(planet.slug, "SLUG") == nobody.text.replace(
            "nobody-has-this", "SLUG"
        )
        assert "Hello" not in private.text
    # Its own members get the same answer: the page is not there until the chief says so.
    assert sign_in(app, planet.world.bob.email).get(f"/t/{planet.slug}").status_code == 404


def test_the_planet_pages_newest_first(app: TestClient, planet: Planet) -> None:
    for n in range(25):
        planet.post(planet.alice_feed, f"Entry {n:02d}", hours_ago=n + 1)  # 00 is the newest
    first = app.get(f"/t/{planet.slug}").text
    assert first.count('class="card public-post"') == 20
    assert "Entry 00" in first
    assert "Entry 19" in first
    assert "Entry 20" not in first
    assert f'href="/t/{planet.slug}?page=2" rel="next"' in first
    assert 'rel="prev"' not in first
    second = app.get(f"/t/{planet.slug}?page=2").text
    assert second.count('class="card public-post"') == 5
    assert "Entry 20" in second
    assert "Entry 24" in second
    assert "Entry 19" not in second
    assert f'href="/t/{planet.slug}" rel="prev"' in second
    assert 'rel="next"' not in second
    assert "No older posts." in app.get(f"/t/{planet.slug}?page=3").text
    assert app.get(f"/t/{planet.slug}?page=0").status_code == 422
    assert app.get(f"/t/{planet.slug}?page=many").status_code == 422


def test_posts_without_a_link_or_from_a_removed_feed_do_not_show(
    app: TestClient, planet: Planet
) -> None:
    planet.post(planet.alice_feed, "No link at all", hours_ago=1, url="")
    planet.post(planet.bob_feed, "From a feed bob removed", hours_ago=1)
    with session_scope() as s:
        feed = s.get(Feed, planet.bob_feed)
        assert feed is not None
        feed.removed_at = datetime.now(UTC)
    text = app.get(f"/t/{planet.slug}").text
    assert "No link at all" not in text
    assert "From a feed bob removed" not in text
    assert "Bob digs" not in text  # a removed feed is no blog of his any more


def test_request_to_join_only_when_the_tribe_takes_requests(
    app: TestClient, planet: Planet
) -> None:
    assert "Request to join" not in app.get(f"/t/{planet.slug}").text
    planet.tribe(is_open=True)
    stranger = app.get(f"/t/{planet.slug}").text
    assert f'href="/login?next=/t/{planet.slug}">Request to join</a>' in stranger
    # Signed in, not a member: the existing join-request form, right here.
    dave = sign_in(client_for(app), planet.world.dave.email)
    page = dave.get(f"/t/{planet.slug}").text
    assert f'action="/tribes/{planet.slug}/join"' in page
    response = post_form(
        dave, f"/tribes/{planet.slug}/join", {"message": "I grow beans"}, page=f"/t/{planet.slug}"
    )
    assert response.status_code == 303
    with session_scope() as s:
        (request,) = s.exec(select(JoinRequest)).all()
        assert request.member_id == planet.world.dave.id
        assert request.message == "I grow beans"
    # A member is told they are one.
    member = sign_in(client_for(app), planet.world.bob.email).get(f"/t/{planet.slug}").text
    assert "Request to join" not in member
    assert f'You are a member: <a href="/tribes/{planet.slug}">' in member


def test_the_letter_form_only_with_an_enabled_plan(app: TestClient, planet: Planet) -> None:
    assert "/subscribe" not in app.get(f"/t/{planet.slug}").text
    with session_scope() as s:
        tribe_id = b.pk(get_tribe(s, planet.slug))
        s.add(LetterPlan(tribe_id=tribe_id, enabled=False))
    assert "/subscribe" not in app.get(f"/t/{planet.slug}").text
    with session_scope() as s:
        plan = s.exec(select(LetterPlan)).one()
        plan.enabled = True
    page = app.get(f"/t/{planet.slug}").text
    form = page.split(f'action="/t/{planet.slug}/subscribe"')[1].split("</form>")[0]
    assert 'name="csrf_token" value="' in form
    assert re.findall(r'name="(\w+)"', form) == ["csrf_token", "email"]
    assert "Past letters" not in page
    assert re.search(r"it goes weekly on Monday at 09:00 \([A-Za-z_/]+\)", page), page


def test_past_letters_list_the_editions_sent(app: TestClient, planet: Planet) -> None:
    now = datetime.now(UTC)
    with session_scope() as s:
        tribe_id = b.pk(get_tribe(s, planet.slug))
        for number, state, subject in [
            (1, EditionState.SENT, "Beans and more"),
            (2, EditionState.SENT, "Autumn <jobs>"),
            (3, EditionState.DRAFT, "Not out yet"),
        ]:
            s.add(
                Edition(
                    tribe_id=tribe_id,
                    number=number,
                    state=state,
                    subject=subject,
                    since=now - timedelta(days=30),
                    deadline_at=now,
                    sent_at=now - timedelta(days=7 - number)
                    if state == EditionState.SENT
                    else None,
                )
            )
    page = app.get(f"/t/{planet.slug}").text
    assert f'<a href="/t/{planet.slug}/letters/2">#2: Autumn &lt;jobs&gt;</a>' in page
    assert f'<a href="/t/{planet.slug}/letters/1">#1: Beans and more</a>' in page
    assert page.index("/letters/2") < page.index("/letters/1")
    assert "Not out yet" not in page
    assert "/subscribe" not in page  # no plan: the archive stays, no new readers


def test_share_counts_show_only_when_the_chief_chooses(app: TestClient, planet: Planet) -> None:
    post = planet.post(planet.alice_feed, "Much shared", hours_ago=1)
    share(post, b.pk(planet.world.bob))
    share(post, b.pk(planet.world.carol))  # hidden from the page, still a tribemate
    share(post, b.pk(planet.world.dave))  # not in this tribe
    assert "shared by" not in app.get(f"/t/{planet.slug}").text
    planet.tribe(public_counts=True)
    assert "shared by 2 tribemates" in app.get(f"/t/{planet.slug}").text


def test_a_dry_run_is_no_share(app: TestClient, planet: Planet) -> None:
    post = planet.post(planet.alice_feed, "Dry", hours_ago=1)
    share(post, b.pk(planet.world.bob), dry_run=True)
    planet.tribe(public_counts=True)
    assert "shared by" not in app.get(f"/t/{planet.slug}").text  # a 0 is not shown


@pytest.fixture
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_page_of_posts_costs_the_same_queries_as_a_page_of_one(
    app: TestClient, planet: Planet, statements: list[str]
) -> None:
    planet.tribe(public_counts=True)
    first = planet.post(planet.alice_feed, "Only one", hours_ago=1)
    share(first, b.pk(planet.world.bob))
    statements.clear()
    assert app.get(f"/t/{planet.slug}").status_code == 200
    one = len(statements)
    for n in range(30):
        post = planet.post(planet.bob_feed, f"More {n}", hours_ago=n / 10)
        share(post, b.pk(planet.world.carol))
    statements.clear()
    page = app.get(f"/t/{planet.slug}")
    assert page.text.count('class="card public-post"') == 20
    assert len(statements) == one, statements


def test_the_chief_makes_the_tribe_public_and_shows_counts(app: TestClient, planet: Planet) -> None:
    planet.tribe(is_public=False)
    chief = sign_in(app, planet.world.alice.email)
    page = chief.get(f"/tribes/{planet.slug}").text
    assert 'action="/tribes/writers/public"' in page
    response = post_form(
        chief, f"/tribes/{planet.slug}/public", {"is_public": "true"}, page=f"/tribes/{planet.slug}"
    )
    assert response.status_code == 303
    assert app.get(f"/t/{planet.slug}").status_code == 200
    page = chief.get(f"/tribes/{planet.slug}").text
    assert 'href="http://127.0.0.1:8000/t/writers"' in page
    post_form(
        chief,
        f"/tribes/{planet.slug}/public-counts",
        {"shown": "true"},
        page=f"/tribes/{planet.slug}",
    )
    with session_scope() as s:
        tribe = get_tribe(s, planet.slug)
        assert tribe.is_public
        assert tribe.public_counts
    post_form(
        chief,
        f"/tribes/{planet.slug}/public",
        {"is_public": "false"},
        page=f"/tribes/{planet.slug}",
    )
    assert app.get(f"/t/{planet.slug}").status_code == 404


def test_only_the_chief_switches_and_only_with_the_form_token(
    app: TestClient, planet: Planet
) -> None:
    bob = sign_in(app, planet.world.bob.email)
    page = bob.get(f"/tribes/{planet.slug}").text
    assert f'action="/tribes/{planet.slug}/public"' not in page
    response = post_form(
        bob, f"/tribes/{planet.slug}/public", {"is_public": "false"}, page=f"/tribes/{planet.slug}"
    )
    assert response.status_code == 303  # back to the page, with the reason
    forged = bob.post(
        f"/tribes/{planet.slug}/public", data={"is_public": "false"}, follow_redirects=False
    )
    assert forged.status_code == 403
    dave = sign_in(client_for(app), planet.world.dave.email)
    outsider = post_form(
        dave, f"/tribes/{planet.slug}/public-hidden", {"hidden": "true"}, page="/tribes"
    )
    assert outsider.status_code == 303
    with session_scope() as s:
        tribe = s.exec(select(Tribe).where(col(Tribe.slug) == planet.slug)).one()
        assert tribe.is_public


def test_a_member_hides_and_shows_themselves(app: TestClient, planet: Planet) -> None:
    planet.post(planet.bob_feed, "Bob's beans", hours_ago=1)
    bob = sign_in(app, planet.world.bob.email)
    assert "Hide me from the public page" in bob.get(f"/tribes/{planet.slug}").text
    post_form(
        bob,
        f"/tribes/{planet.slug}/public-hidden",
        {"hidden": "true"},
        page=f"/tribes/{planet.slug}",
    )
    stranger = client_for(app)
    assert "Bob" not in stranger.get(f"/t/{planet.slug}").text
    assert "Show me on the public page" in bob.get(f"/tribes/{planet.slug}").text
    post_form(
        bob,
        f"/tribes/{planet.slug}/public-hidden",
        {"hidden": "false"},
        page=f"/tribes/{planet.slug}",
    )
    assert "Bob's beans" in stranger.get(f"/t/{planet.slug}").text.replace("&#39;", "'")


PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)


def _icon(feed_id: int) -> None:
    with session_scope() as s:
        s.add(FeedIcon(feed_id=feed_id, content_type="image/png", data=PNG, etag='"v1"'))


def test_a_blog_icon_is_served_with_its_checked_type_and_validators(
    app: TestClient, planet: Planet
) -> None:
    _icon(planet.alice_feed)
    page = app.get(f"/t/{planet.slug}").text
    assert f'<img class="blog-icon" src="/t/{planet.slug}/icons/{planet.alice_feed}"' in page
    assert '<span class="blog-icon initial" aria-hidden="true">B</span>' in page  # bob: none
    icon = app.get(f"/t/{planet.slug}/icons/{planet.alice_feed}")
    assert icon.status_code == 200
    assert icon.content == PNG
    assert icon.headers["content-type"] == "image/png"
    assert icon.headers["x-content-type-options"] == "nosniff"
    assert icon.headers["etag"] == '"v1"'
    assert icon.headers["cache-control"] == "public, max-age=604800"
    again = app.get(
        f"/t/{planet.slug}/icons/{planet.alice_feed}", headers={"If-None-Match": '"v1"'}
    )
    assert again.status_code == 304
    assert again.content == b""


def test_icons_only_for_the_blogs_the_page_shows(app: TestClient, planet: Planet) -> None:
    with session_scope() as s:
        dave_feed = s.exec(select(Feed).where(Feed.owner_id == planet.world.dave.id)).one()
        dave_id = b.pk(dave_feed)
    for feed_id in (planet.carol_feed, dave_id):  # hidden; in another tribe
        _icon(feed_id)
        assert app.get(f"/t/{planet.slug}/icons/{feed_id}").status_code == 404
    assert app.get(f"/t/{planet.slug}/icons/{planet.bob_feed}").status_code == 404  # none yet
    assert app.get(f"/t/{planet.slug}/icons/999999").status_code == 404
    assert app.get(f"/t/{planet.slug}/icons/{2**63}").status_code == 404
    assert app.get(f"/t/{planet.world.other_slug}/icons/{dave_id}").status_code == 404  # private
