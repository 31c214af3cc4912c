"""The letter's pages: the chief turns it on, members opt in and swap turns, the editor
of the turn writes the edition (and nobody else can), previews and schedules it; the
public archive shows what went out, only for a public tribe, and its Atom feed parses
and answers 304."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import feedparser
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from config import get_settings
from tests import builders as b
from tests.alliance import reshares
from tests.web.conftest import World, as_response, client_for, post_form, sign_in
from tribe.alliance.sending import LetterConfig, tick
from tribe.core.kinds import EditionState, IfUnsent, LetterCadence, SubscriberState
from tribe.infra.db import session_scope
from tribe.infra.models import (
    Edition,
    LetterPlan,
    Mail,
    Member,
    Membership,
    Post,
    Subscriber,
    Tribe,
)

CONFIG = LetterConfig(base_url="http://testserver", sender="letters@tribe.example")
PLAN = {
    "enabled": "true",
    "cadence": "weekly",
    "weekday": "4",
    "monthday": "1",
    "hour": "09:00",
    "zone": "Europe/Paris",
    "if_unsent": "send",
}


def flash(response: httpx.Response) -> str:
    """The message the next page shows after a form ("" when none)."""
    raw = response.cookies.get("tribe_flash")
    return str(json.loads(unquote(raw.strip('"')))["text"]) if raw else ""


def letter_path(world: World) -> str:
    return f"/tribes/{world.slug}/letter"


def send(client: TestClient, world: World, path: str, data: Mapping[str, object]) -> httpx.Response:
    """A form of the letter page, sent with that page's CSRF token."""
    return post_form(client, f"{letter_path(world)}{path}", data, page=letter_path(world))


def browser(app: TestClient, member: Member) -> TestClient:
    return sign_in(client_for(app), member.email)


def plan_of(world: World) -> LetterPlan | None:
    with session_scope() as s:
        tribe = s.exec(select(Tribe).where(Tribe.slug == world.slug)).one()
        return s.exec(select(LetterPlan).where(LetterPlan.tribe_id == tribe.id)).first()


def roles_of(world: World, member: Member) -> tuple[bool, bool]:
    with session_scope() as s:
        tribe = s.exec(select(Tribe).where(Tribe.slug == world.slug)).one()
        row = s.exec(
            select(Membership).where(
                Membership.tribe_id == tribe.id, Membership.member_id == member.id
            )
        ).one()
        return row.letter_editor, row.letter_reader


def edition(world: World, number: int = 1) -> Edition:
    with session_scope() as s:
        tribe = s.exec(select(Tribe).where(Tribe.slug == world.slug)).one()
        return s.exec(
            select(Edition).where(Edition.tribe_id == tribe.id, Edition.number == number)
        ).one()


def set_public(world: World, public: bool) -> None:
    with session_scope() as s:
        tribe = s.exec(select(Tribe).where(Tribe.slug == world.slug)).one()
        tribe.is_public = public


@pytest.fixture
def letter_on(app: TestClient, world: World) -> World:
    """Writers' letter on (weekly, Friday 09:00 Paris); Bob then Carol take turns; three
    of Alice's posts came in, Bob reshared the second; edition #1 is open for Bob."""
    response = send(sign_in(client_for(app), world.alice.email), world, "/plan", PLAN)
    assert response.status_code == 303, response.text
    for who in (world.bob, world.carol):
        answer = send(browser(app, who), world, "/roles", {"editor": "true", "reader": "true"})
        assert answer.status_code == 303
    posts = [world.new_post(title, n) for n, title in enumerate(("Seeds", "Soil", "Sun"), 1)]
    with session_scope() as s:
        bob = s.get_one(Member, world.bob.id)
        account = reshares.account(s, bob)
        soil = s.get_one(Post, posts[1])
        reshares.reshare(s, account, soil, at=datetime.now(UTC) - timedelta(minutes=1))
    report = tick(now=datetime.now(UTC), keys=b.keys(), config=CONFIG)
    assert len(report.opened) == 1
    assert edition(world).editor_id == world.bob.id
    return world


def post_ids(world: World) -> dict[str, int]:
    with session_scope() as s:
        rows = s.exec(select(Post.title, Post.id).where(col(Post.feed_id) == world.feed_id))
        return {title: post_id for title, post_id in rows if post_id is not None}


def draft_fields(world: World, **changes: object) -> dict[str, object]:
    """The draft form as a browser sends it: every post's row (checked or not), three
    rows of outside links."""
    ids = post_ids(world)
    fields: dict[str, object] = {
        "action": "save",
        "subject": "Garden notes",
        "intro": "Hello, tribe.\r\n\r\nThree posts this week.",
        "post": [ids["Sun"], ids["Soil"], ids["Seeds"]],
        "pick": [ids["Sun"], ids["Seeds"]],
        "order": ["2", "", "1"],
        "note": ["", "", "Start here"],
        "link_url": ["https://elsewhere.example/compost", "", ""],
        "link_title": ["Compost, explained", "", ""],
        "link_note": ["A neighbour's guide", "", ""],
        "send_at": "",
    }
    return {**fields, **changes}


# The plan and the members' choices


def test_the_chief_turns_the_letter_on_and_off_with_the_form(app: TestClient, world: World) -> None:
    alice = sign_in(app, world.alice.email)
    page = as_response(alice.get(letter_path(world))).text
    assert "The letter is off." in page
    assert 'action="/tribes/writers/letter/plan"' in page

    response = send(alice, world, "/plan", {**PLAN, "if_unsent": "skip"})
    assert response.status_code == 303
    assert flash(response) == "the letter goes weekly on Friday at 09:00 (Europe/Paris)"
    plan = plan_of(world)
    assert plan is not None
    assert (plan.enabled, plan.cadence, plan.day, plan.hour, plan.if_unsent) == (
        True,
        LetterCadence.WEEKLY,
        4,
        "09:00",
        IfUnsent.SKIP,
    )
    page = as_response(alice.get(letter_path(world))).text
    assert "weekly on Friday at 09:00 (Europe/Paris)" in page

    monthly = {**PLAN, "cadence": "monthly", "monthday": "15", "hour": "18:30"}
    assert flash(send(alice, world, "/plan", monthly)) == (
        "the letter goes monthly on day 15 at 18:30 (Europe/Paris)"
    )

    refused = send(alice, world, "/plan", {**PLAN, "cadence": "monthly", "monthday": "31"})
    assert refused.status_code == 422
    assert "choose a day of the month from 1 to 28" in html.unescape(refused.text)
    plan = plan_of(world)
    assert plan is not None
    assert (plan.cadence, plan.day, plan.hour) == (LetterCadence.MONTHLY, 15, "18:30")

    assert flash(send(alice, world, "/plan", {"hour": "09:00"})) == "the letter is off"
    plan = plan_of(world)
    assert plan is not None
    assert not plan.enabled


def test_only_the_chief_changes_the_plan(app: TestClient, world: World) -> None:
    bob = sign_in(app, world.bob.email)
    page = as_response(bob.get(letter_path(world))).text
    assert 'action="/tribes/writers/letter/plan"' not in page
    response = send(bob, world, "/plan", PLAN)
    assert "only the chief of writers can do that" in flash(response)
    assert plan_of(world) is None


def test_a_stranger_to_the_tribe_finds_no_letter_page(app: TestClient, world: World) -> None:
    dave = sign_in(app, world.dave.email)
    assert as_response(dave.get(letter_path(world))).status_code == 404
    response = send(dave, world, "/roles", {"editor": "true"})
    assert "no tribe with the slug" in flash(response)


def test_members_choose_to_write_and_to_read(app: TestClient, world: World) -> None:
    assert roles_of(world, world.bob) == (False, True)  # reads by default, writes if asked
    bob = sign_in(app, world.bob.email)
    response = send(bob, world, "/roles", {"editor": "true", "reader": "true"})
    assert flash(response) == "you take turns writing the letter; you receive it"
    assert roles_of(world, world.bob) == (True, True)

    carol = browser(app, world.carol)
    response = send(carol, world, "/roles", {})  # both boxes unticked
    assert flash(response) == "you do not write the letter; you do not receive it"
    assert roles_of(world, world.carol) == (False, False)

    page = as_response(carol.get(letter_path(world))).text
    rotation = page.split('id="rotation"')[1].split("</section>")[0]
    assert "Bob" in rotation
    assert "Carol" not in rotation
    mine = page.split('id="my-letter"')[1].split("</section>")[0]
    assert 'name="editor" value="true">' in mine  # unticked, as stored
    assert 'name="reader" value="true">' in mine


# The draft


def test_the_editor_saves_picks_order_notes_and_links(app: TestClient, letter_on: World) -> None:
    world = letter_on
    bob = sign_in(app, world.bob.email)
    page = as_response(bob.get(letter_path(world))).text
    draft = page.split('id="draft"')[1].split("</section>")[0]
    assert "your turn" in draft
    assert "<legend>Alice</legend>" in draft
    for title in ("Seeds", "Soil", "Sun"):
        assert title in draft
    assert "shared by 1 tribemate<" in draft  # Soil, by Bob
    assert "shared by 0 tribemates" in draft
    # The post's summary is stored as sanitized HTML; the letter shows it as text.
    assert "Tomatoes split when watered unevenly." in draft
    assert "&lt;b&gt;" not in draft

    response = send(bob, world, "/draft", draft_fields(world))
    assert response.status_code == 303, response.text
    assert flash(response) == "draft saved"
    ids = post_ids(world)
    stored = edition(world)
    assert stored.subject == "Garden notes"
    assert stored.intro == "Hello, tribe.\n\nThree posts this week."
    assert stored.picks == [
        {"post_id": ids["Seeds"], "note": "Start here"},
        {"post_id": ids["Sun"], "note": ""},
    ]
    assert stored.links == [
        {
            "url": "https://elsewhere.example/compost",
            "title": "Compost, explained",
            "note": "A neighbour's guide",
        }
    ]
    assert stored.edited_at is not None

    page = as_response(bob.get(letter_path(world))).text
    seeds = page.split(f'id="post-{ids["Seeds"]}"')[1].split("</div>\n      </div>")[0]
    assert f'name="pick" value="{ids["Seeds"]}" checked' in seeds
    assert 'name="order" value="1"' in seeds
    assert 'name="note" value="Start here"' in seeds
    soil = page.split(f'id="post-{ids["Soil"]}"')[1].split("</div>\n      </div>")[0]
    assert f'name="pick" value="{ids["Soil"]}">' in soil  # not picked
    assert 'name="link_url" value="https://elsewhere.example/compost"' in page


def test_a_refused_draft_is_shown_again_as_typed(app: TestClient, letter_on: World) -> None:
    world = letter_on
    bob = sign_in(app, world.bob.email)
    fields = draft_fields(world, link_url=["javascript:alert(1)", "", ""])
    response = send(bob, world, "/draft", fields)
    assert response.status_code == 422
    assert "is not a web link; write it as https://" in response.text
    assert "Three posts this week." in response.text  # the introduction as typed
    assert 'value="Start here"' in response.text
    assert edition(world).edited_at is None  # nothing stored

    response = send(bob, world, "/draft", draft_fields(world, order=["two", "", "1"]))
    assert response.status_code == 422
    assert "'two' is not a place in the letter" in html.unescape(response.text)

    untitled = draft_fields(world, link_url=["", "", ""])
    response = send(bob, world, "/draft", untitled)
    assert response.status_code == 422
    assert "give the address of the outside link 'Compost, explained'" in html.unescape(
        response.text
    )
    assert edition(world).edited_at is None


def test_only_the_editor_of_the_turn_and_the_chief_edit(app: TestClient, letter_on: World) -> None:
    world = letter_on
    carol = sign_in(app, world.carol.email)
    page = as_response(carol.get(letter_path(world))).text
    assert 'action="/tribes/writers/letter/draft"' not in page
    response = send(carol, world, "/draft", draft_fields(world))
    assert response.status_code == 303
    assert flash(response) == "this edition is another member's turn to write"
    assert edition(world).edited_at is None
    preview = as_response(carol.get(f"{letter_path(world)}/preview"))
    assert preview.status_code == 403
    assert as_response(carol.get(f"{letter_path(world)}/preview/email")).status_code == 403

    dave = browser(app, world.dave)
    assert as_response(dave.get(f"{letter_path(world)}/preview")).status_code == 404
    assert "no tribe with the slug" in flash(send(dave, world, "/draft", draft_fields(world)))
    assert edition(world).edited_at is None

    alice = browser(app, world.alice)  # the chief may step in
    assert (
        'action="/tribes/writers/letter/draft"' in as_response(alice.get(letter_path(world))).text
    )
    assert flash(send(alice, world, "/draft", draft_fields(world))) == "draft saved"
    assert edition(world).subject == "Garden notes"


def test_swapping_turns_changes_the_rotation(app: TestClient, letter_on: World) -> None:
    world = letter_on
    carol = sign_in(app, world.carol.email)
    response = send(carol, world, "/swaps", {"partner_id": str(world.bob.id)})
    assert "asked Bob by email to swap turns" in flash(response)
    with session_scope() as s:
        asked = s.exec(select(Mail).where(col(Mail.kind) == "letter_swap")).one()
    assert (asked.to, asked.subject) == (
        world.bob.email,
        "Carol asks to swap turns writing the letter of Writers",
    )
    assert f"/tribes/{world.slug}/letter" in asked.text
    assert "You asked Bob to swap turns" in as_response(carol.get(letter_path(world))).text

    bob = browser(app, world.bob)
    page = as_response(bob.get(letter_path(world))).text
    assert "Carol asks to swap turns with you." in page
    response = send(bob, world, f"/swaps/{world.carol.id}", {"accept": "true"})
    assert flash(response) == "you swapped turns"
    assert edition(world).editor_id == world.carol.id
    plan = plan_of(world)
    assert plan is not None
    assert plan.editor_order == [world.carol.id, world.bob.id]
    rotation = as_response(bob.get(letter_path(world))).text.split('id="rotation"')[1]
    assert rotation.index("Carol") < rotation.index("Bob")

    # Asked again the other way, and declined: nothing moves.
    send(bob, world, "/swaps", {"partner_id": str(world.carol.id)})
    response = send(carol, world, f"/swaps/{world.bob.id}", {})
    assert flash(response) == "you declined the swap; your turns stay as they were"
    assert edition(world).editor_id == world.carol.id
    again = send(carol, world, f"/swaps/{world.bob.id}", {"accept": "true"})
    assert "nobody asked you to swap turns" in flash(again)


def test_the_chief_orders_the_editors_and_passes_over_the_editor_of_the_turn(
    app: TestClient, letter_on: World
) -> None:
    world = letter_on
    alice = sign_in(app, world.alice.email)
    fields = {"editor": [world.bob.id, world.carol.id], "position": ["2", "1"]}
    assert flash(send(alice, world, "/order", fields)) == "the editors' order is saved"
    plan = plan_of(world)
    assert plan is not None
    assert plan.editor_order == [world.carol.id, world.bob.id]
    refused = send(alice, world, "/order", {"editor": [world.bob.id], "position": ["first"]})
    assert "'first' is not a place" in flash(refused)

    bob = browser(app, world.bob)
    # The field is in the editor's own zone: Bob's is Chicago (the tribe's is Paris).
    later = (edition(world).deadline_at.replace(tzinfo=UTC) - timedelta(hours=1)).astimezone(
        ZoneInfo("America/Chicago")
    )
    fields = draft_fields(world, action="schedule", send_at=later.strftime("%Y-%m-%dT%H:%M"))
    assert send(bob, world, "/draft", fields).status_code == 303
    assert edition(world).state == EditionState.SCHEDULED

    assert flash(send(alice, world, "/pass", {})) == "Carol writes this edition now"
    passed = edition(world)
    assert passed.editor_id == world.carol.id
    # Bob's letter does not go out at Bob's time: Carol starts from a draft of her own.
    assert (passed.state, passed.send_at, passed.edited_at) == (EditionState.DRAFT, None, None)
    assert "only the chief of writers" in flash(send(bob, world, "/pass", {}))
    assert edition(world).editor_id == world.carol.id


# Preview and sending


def test_the_preview_shows_the_intro_and_the_picks(app: TestClient, letter_on: World) -> None:
    world = letter_on
    bob = sign_in(app, world.bob.email)
    response = send(bob, world, "/draft", draft_fields(world, action="preview"))
    assert response.headers["location"] == "/tribes/writers/letter/preview?as=email"

    page = as_response(bob.get(response.headers["location"]))
    assert page.status_code == 200
    assert "Garden notes" in page.text
    assert 'src="/tribes/writers/letter/preview/email" sandbox' in page.text
    assert "Three posts this week." in page.text  # the text part

    email = as_response(bob.get(f"{letter_path(world)}/preview/email"))
    assert email.status_code == 200
    policy = email.headers["content-security-policy"]
    assert policy.startswith("sandbox;")
    assert "script-src" not in policy  # default-src 'none': no script at all
    assert email.headers["x-frame-options"] == "SAMEORIGIN"
    for shown in ("Hello, tribe.", "Three posts this week.", "Seeds", "Start here", "Sun"):
        assert shown in email.text
    assert "Soil" not in email.text  # not picked
    assert "Tomatoes split when watered unevenly." in email.text
    assert "&lt;b&gt;" not in email.text
    assert email.text.index("Seeds") < email.text.index("Sun")

    web = as_response(bob.get(f"{letter_path(world)}/preview?as=web")).text
    article = web.split('<article class="card letter">')[1].split("</article>")[0]
    for shown in ("Garden notes", "Hello, tribe.", "Seeds", "Start here", "Compost, explained"):
        assert shown in article
    assert "Soil" not in article
    assert "not sent yet" in web


def test_scheduling_after_the_deadline_is_refused_with_a_message(
    app: TestClient, letter_on: World
) -> None:
    world = letter_on
    bobs = ZoneInfo("America/Chicago")  # the editor's zone, where the field is read
    deadline = edition(world).deadline_at.replace(tzinfo=UTC)
    late = (deadline + timedelta(days=1)).astimezone(bobs).strftime("%Y-%m-%dT%H:%M")
    bob = sign_in(app, world.bob.email)
    response = send(bob, world, "/draft", draft_fields(world, action="schedule", send_at=late))
    assert response.status_code == 422
    assert "the draft is saved, but it was not scheduled: send it by the deadline" in (
        response.text
    )
    stored = edition(world)
    assert stored.state == EditionState.DRAFT
    assert stored.subject == "Garden notes"  # the selection is kept

    response = send(bob, world, "/draft", draft_fields(world, action="schedule", send_at="soon"))
    assert response.status_code == 422
    assert "choose the day and time to send it, in your time zone (America/Chicago)" in (
        html.unescape(response.text)
    )

    early = deadline - timedelta(hours=2)
    field = early.astimezone(bobs).strftime("%Y-%m-%dT%H:%M")
    response = send(bob, world, "/draft", draft_fields(world, action="schedule", send_at=field))
    assert response.status_code == 303, response.text
    assert flash(response).startswith("letter #1 goes out ")
    stored = edition(world)
    assert stored.state == EditionState.SCHEDULED
    assert stored.send_at is not None
    assert stored.send_at.replace(tzinfo=UTC) == early.replace(second=0, microsecond=0)


def test_odd_input_gets_a_message_never_a_server_error(app: TestClient, letter_on: World) -> None:
    world = letter_on
    alice = sign_in(app, world.alice.email)
    # A refused plan comes back as typed, the reason beside it.
    refused = send(alice, world, "/plan", {**PLAN, "zone": "Mars/Olympus", "weekday": "2"})
    assert refused.status_code == 422
    page = html.unescape(refused.text)
    assert "is not a time zone" in page
    assert 'value="Mars/Olympus"' in page
    assert '<option value="2" selected>' in page
    refusals: dict[str, tuple[Mapping[str, object], str]] = {
        "/swaps": ({"partner_id": "999"}, "opt in first"),  # the chief is no editor
        "/order": ({"editor": [world.alice.id], "position": ["1"]}, "only editors take turns"),
    }
    for path, (fields, message) in refusals.items():
        response = send(alice, world, path, fields)
        assert response.status_code == 303, path
        assert message in flash(response), (path, flash(response))
    for hour in ("25:00", "nine"):
        assert "is not a time of day" in send(alice, world, "/plan", {**PLAN, "hour": hour}).text
    plan = plan_of(world)
    assert plan is not None
    assert plan.hour == "09:00"
    for moment in ("0001-01-01T00:00", "9999-12-31T23:59", "2026-02-30T10:00", "x" * 100):
        fields = draft_fields(world, action="schedule", send_at=moment)
        assert send(alice, world, "/draft", fields).status_code == 422, moment
    assert edition(world).state == EditionState.DRAFT
    for path in (
        f"{letter_path(world)}/preview?as=pdf",
        "/t/writers/letters/0",
        "/t/writers/letters/-1",
        "/tribes/nobody/letter",
    ):
        assert 400 <= as_response(alice.get(path)).status_code < 500, path


# Readers: a count for the chief, never an address


def test_the_chief_sees_a_count_of_subscribers_and_no_address(
    app: TestClient, letter_on: World
) -> None:
    world = letter_on
    with session_scope() as s:
        tribe = s.exec(select(Tribe).where(Tribe.slug == world.slug)).one()
        for n, state in enumerate(
            (SubscriberState.CONFIRMED, SubscriberState.CONFIRMED, SubscriberState.PENDING)
        ):
            s.add(Subscriber(tribe_id=b.pk(tribe), email=f"reader{n}@readers.example", state=state))
    alice = sign_in(app, world.alice.email)
    page = as_response(alice.get(letter_path(world))).text
    count = page.split('id="subscriber-count"')[1].split("</p>")[0]
    assert "2 confirmed subscribers, 1 waiting to confirm" in count
    assert "readers.example" not in page
    bob = as_response(browser(app, world.bob).get(letter_path(world))).text
    assert 'id="subscriber-count"' not in bob
    assert "readers.example" not in bob


# The public archive


def sent_edition(app: TestClient, world: World) -> None:
    """Bob saves the draft and sends it now; the beat's next tick sends it."""
    bob = browser(app, world.bob)
    response = send(bob, world, "/draft", draft_fields(world, action="send"))
    assert flash(response) == "letter #1 goes out within a minute"
    report = tick(now=datetime.now(UTC) + timedelta(seconds=1), keys=b.keys(), config=CONFIG)
    assert report.frozen == [edition(world).id]
    assert edition(world).state == EditionState.SENT


ARCHIVE = ("/t/writers/letters", "/t/writers/letters/1", "/t/writers/letters.xml")


def test_the_archive_is_404_while_the_tribe_is_private(app: TestClient, letter_on: World) -> None:
    sent_edition(app, letter_on)
    for client in (app, browser(app, letter_on.alice)):  # a stranger, and even the chief
        for path in ARCHIVE:
            response = as_response(client.get(path))
            assert response.status_code == 404, path
            assert "no tribe with the slug 'writers'" in html.unescape(response.text)
            # The very answer a slug nobody has gets: nothing tells the tribe exists.
            unknown = as_response(client.get(path.replace("writers", "nobody")))
            assert unknown.status_code == 404
            assert unknown.text == response.text.replace("writers", "nobody")


def test_the_public_archive_shows_what_went_out(app: TestClient, letter_on: World) -> None:
    world = letter_on
    sent_edition(app, world)
    set_public(world, True)
    ids = post_ids(world)
    with session_scope() as s:  # the post changes after the letter: the archive keeps it
        s.get_one(Post, ids["Seeds"]).title = "Seeds, renamed later"
        tribe = s.exec(select(Tribe).where(Tribe.slug == world.slug)).one()
        skipped = Edition(
            tribe_id=b.pk(tribe),
            number=2,
            state=EditionState.SKIPPED,
            subject="Never sent",
            since=datetime.now(UTC),
            deadline_at=datetime.now(UTC),
        )
        s.add(skipped)

    listing = as_response(app.get("/t/writers/letters"))
    assert listing.status_code == 200
    assert '<a href="/t/writers/letters/1">#1 Garden notes</a>' in listing.text
    assert "edited by Bob" in listing.text
    assert "Never sent" not in listing.text
    assert 'type="application/atom+xml"' in listing.text

    page = as_response(app.get("/t/writers/letters/1"))
    assert page.status_code == 200
    for shown in ("Garden notes", "Hello, tribe.", "Three posts this week.", "Start here"):
        assert shown in page.text
    assert ">Seeds</a>" in page.text
    assert "renamed later" not in page.text
    assert "Soil" not in page.text
    assert "Compost, explained" in page.text
    assert as_response(app.get("/t/writers/letters/2")).status_code == 404
    assert as_response(app.get("/t/writers/letters/99999999999999999999")).status_code == 404
    for body in (listing.text, page.text):
        assert "@example.com" not in body  # no member's address, ever


def test_the_archive_feed_parses_and_answers_304(app: TestClient, letter_on: World) -> None:
    world = letter_on
    sent_edition(app, world)
    set_public(world, True)
    response = as_response(app.get("/t/writers/letters.xml"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert response.headers["cache-control"].startswith("public, max-age=")
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.title == "Writers: the letter"
    (entry,) = parsed.entries
    assert entry.title == "Garden notes"
    base = get_settings().TRIBE_BASE_URL.rstrip("/")
    assert entry.link == f"{base}/t/writers/letters/1"
    assert entry.author == "Bob"
    assert "Three posts this week." in entry.summary
    assert "Start here" in entry.summary
    assert "<script" not in entry.summary
    assert "class=" not in entry.summary  # sanitized: only plain markup
    assert "@example.com" not in response.text

    again = as_response(
        app.get("/t/writers/letters.xml", headers={"If-None-Match": response.headers["etag"]})
    )
    assert again.status_code == 304
    assert again.content == b""
    since = as_response(
        app.get(
            "/t/writers/letters.xml",
            headers={"If-Modified-Since": response.headers["last-modified"]},
        )
    )
    assert since.status_code == 304
    older = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    fresh = as_response(app.get("/t/writers/letters.xml", headers={"If-Modified-Since": older}))
    assert fresh.status_code == 200
    host = re.escape(urlsplit(base).hostname or "")
    assert re.search(rf"<id>tag:{host},\d{{4}}-\d\d-\d\d:tribe/\d+/letters/1</id>", fresh.text)
    assert fresh.content == response.content  # the same entries, the same ids
