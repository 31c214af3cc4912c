"""An attacker's review of the public pages and the letter (issue 14), as tests: each
one is what an attacker (a stranger, a member, the editor of the turn, a chief) tried,
and what tribe must answer.

Some of these matter on PostgreSQL only (it refuses a NUL in any text, where SQLite
stores it): run them there too, `TRIBE_TEST_BACKEND=postgres`.
"""

from __future__ import annotations

import html
import random
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from tests import builders as b
from tests.fakenet.mailbox import Mailbox
from tests.web.conftest import World, as_response, client_for, post_form, sign_in
from tests.web.test_letter_pages import (  # noqa: F401 - letter_on is a fixture
    CONFIG,
    PLAN,
    browser,
    draft_fields,
    edition,
    flash,
    letter_on,
    send,
    sent_edition,
    set_public,
)
from tribe.alliance.sending import tick
from tribe.core.kinds import MailState
from tribe.infra.db import session_scope
from tribe.infra.mail import FileTransport
from tribe.infra.models import Edition, Mail, Membership, Post, Subscriber, Tribe
from tribe.infra.outbox import Letter, OutboxConfig, claim_due, enqueue, send_claimed
from tribe.stream.items import fan_out

OUTBOX = OutboxConfig(sender="tribe@tribe.example.org", rate=0)


@pytest.fixture
def turn(letter_on: World) -> World:  # noqa: F811 - the fixture imported above
    """Writers' letter on, edition #1 open for Bob (`test_letter_pages.letter_on`)."""
    return letter_on


def raw(app: TestClient) -> TestClient:
    """A browser that sees a server error as the 500 page a visitor gets, not as an
    exception in the test: what the attacker sees is what is asserted."""
    return TestClient(app.app, base_url="http://testserver", raise_server_exceptions=False)


def hide(world: World, *who: int) -> None:
    """These members hide themselves from the Writers' public page."""
    with session_scope() as s:
        tribe = s.exec(select(Tribe).where(Tribe.slug == world.slug)).one()
        for row in s.exec(
            select(Membership).where(
                Membership.tribe_id == tribe.id, col(Membership.member_id).in_(who)
            )
        ):
            row.public_hidden = True


def deliver(folder: Path, *, at: datetime) -> None:
    """One pass of the outbox, as a worker runs it, into files."""
    with session_scope() as s:
        claims = claim_due(s, now=at, config=OUTBOX)
    send_claimed(claims, FileTransport(folder), config=OUTBOX, rng=random.Random(1))


def mails() -> list[Mail]:
    with session_scope() as s:
        return list(s.exec(select(Mail).order_by(col(Mail.id))).all())


# The outbox: one unwritable email must never stop everyone's


@pytest.mark.parametrize("breaking", ["\r\n", "\n", "\u2028", "\x85", "\x0b"])
def test_a_subject_with_a_line_break_goes_out_on_one_line(
    app: TestClient, turn: World, tmp_path: Path, breaking: str
) -> None:
    """The editor of the turn sends the form by hand with a line break in the subject
    (a browser's one-line field never would). Before: every copy of the edition was
    unwritable (`EmailMessage` refuses a header with a line break), the outbox raised
    before sending anything, and the claimed rows came back first after each lease:
    every email of the instance stuck behind them."""
    world = turn
    bob = browser(app, world.bob)
    subject = f"Garden notes{breaking}Bcc: thief@evil.example"
    response = send(bob, world, "/draft", draft_fields(world, action="send", subject=subject))
    assert flash(response) == "letter #1 goes out within a minute"
    assert edition(world).subject == "Garden notes Bcc: thief@evil.example"

    now = datetime.now(UTC) + timedelta(seconds=1)
    tick(now=now, keys=b.keys(), config=CONFIG)
    folder = tmp_path / "outbox"
    deliver(folder, at=now + timedelta(seconds=1))
    assert {m.state for m in mails()} == {MailState.SENT}  # the letter and the turn's email
    letters = [path for path in folder.iterdir() if "letter_turn" not in path.name]
    assert len(letters) == 3  # Alice, Bob and Carol read it
    for written in letters:
        message = BytesParser(policy=policy.default).parsebytes(written.read_bytes())
        assert message["Subject"] == "Garden notes Bcc: thief@evil.example"
        assert message["Bcc"] is None


def test_an_email_that_cannot_be_written_fails_alone(db: None, tmp_path: Path) -> None:
    """Whatever put a line break in a header (this code or a future one), that email
    fails with the reason, and the others of its batch go."""
    now = datetime.now(UTC)
    with session_scope() as s:
        enqueue(
            s,
            key="bad",
            kind="test",
            letter=Letter("a@x.example", "Hi\nBcc: b@x", "t"),
            sender=OUTBOX.sender,
        )
        enqueue(
            s,
            key="good",
            kind="test",
            letter=Letter("c@x.example", "Hello", "t"),
            sender=OUTBOX.sender,
        )
    folder = tmp_path / "outbox"
    deliver(folder, at=now + timedelta(seconds=1))
    by_key = {m.key: m for m in mails()}
    assert by_key["good"].state == MailState.SENT
    assert by_key["bad"].state == MailState.FAILED
    assert "line" in by_key["bad"].reason  # the library's own words: why it failed
    assert len(list(folder.iterdir())) == 1
    deliver(folder, at=now + timedelta(hours=1))  # long after any lease: never again
    assert {m.key: m.state for m in mails()}["bad"] == MailState.FAILED


# NUL characters: PostgreSQL refuses them in any text (a 500 unless refused first)


def test_a_nul_in_a_public_address_is_not_found(app: TestClient, turn: World) -> None:
    """A stranger's `%00` in a public tribe's address: 404 like a slug nobody has."""
    set_public(turn, True)
    visitor = raw(app)
    for path in (
        "/t/wri%00ters",
        "/t/wri%00ters/feed.xml",
        "/t/wri%00ters/members.opml",
        "/t/wri%00ters/icons/1",
        "/t/wri%00ters/letters",
        "/t/wri%00ters/letters.xml",
        "/t/wri%00ters/letters/1",
    ):
        response = as_response(visitor.get(path))
        assert response.status_code == 404, path
        assert "no tribe with the slug" in html.unescape(response.text), path
    answer = post_form(visitor, "/t/wri%00ters/subscribe", {"email": "reader@example.net"})
    assert answer.status_code == 404


def test_a_nul_in_the_subscribe_form_gets_the_form_again(
    app: TestClient, turn: World, mailbox: Mailbox
) -> None:
    set_public(turn, True)  # its letter is on: the form is open
    for address in ("read\x00er@example.net", "reader@exam\x07ple.net"):
        answer = post_form(raw(app), "/t/writers/subscribe", {"email": address})
        assert answer.status_code == 400, address
        assert "is not an email address" in html.unescape(answer.text)
    with session_scope() as s:
        assert s.exec(select(Subscriber)).all() == []
    assert mailbox.messages == []


def test_control_characters_never_reach_a_letter(app: TestClient, turn: World) -> None:
    """What the editor types goes to email, web pages and an Atom feed: characters none
    of them may hold (a NUL first) are dropped; a link with one is refused."""
    world = turn
    bob = browser(app, world.bob)
    fields = draft_fields(
        world,
        subject="Garden\x00 notes\x1b",
        intro="Hello\x00, tribe.\x0c",
        note=["", "", "Start\x00 here"],
        link_title=["Compost\x00, explained", "", ""],
    )
    response = send(bob, world, "/draft", fields)
    assert response.status_code == 303, response.text
    stored = edition(world)
    assert stored.subject == "Garden notes"
    assert stored.intro == "Hello, tribe."
    assert [p["note"] for p in stored.picks] == ["Start here", ""]
    assert stored.links[0]["title"] == "Compost, explained"

    for url in ("https://elsewhere.example/\x00", "https://elsewhere.example/a b"):
        refused = send(bob, world, "/draft", draft_fields(world, link_url=[url, "", ""]))
        assert refused.status_code == 422, url
        assert "is not a web link" in html.unescape(refused.text)
    assert edition(world).links[0]["url"] == "https://elsewhere.example/compost"


# Odd input from a chief or an editor: a message, never a 500


def test_odd_numbers_and_zones_get_a_message(app: TestClient, turn: World) -> None:
    """`'²'.isdigit()` is True and `int('²')` a ValueError; `ZoneInfo('Europe')` opens
    a folder (IsADirectoryError)."""
    world = turn
    alice = sign_in(raw(app), world.alice.email)
    refusals = (
        ({"zone": "Europe"}, "is not a time zone"),
        ({"zone": "Europe/__pycache__"}, "is not a time zone"),
        ({"cadence": "monthly", "monthday": "²"}, "choose a day of the month"),
        ({"weekday": "²"}, "is not a day of the week"),
    )
    for fields, message in refusals:
        response = send(alice, world, "/plan", {**PLAN, **fields})
        assert response.status_code == 422, fields  # the plan again, as typed
        assert message in html.unescape(response.text), fields
    order = send(alice, world, "/order", {"editor": [world.bob.id], "position": ["²"]})
    assert order.status_code == 303
    assert "is not a place in the letter" in flash(order)
    draft = send(alice, world, "/draft", draft_fields(world, order=["²", "", "1"]))
    assert draft.status_code == 422
    assert "is not a place in the letter" in html.unescape(draft.text)


# A member hidden from the public page stays hidden from the letter's strangers


def carols_hidden_post(world: World) -> int:
    """Carol blogs, her post reached the tribe, and she hides from the public page."""
    now = datetime.now(UTC)
    with session_scope() as s:
        feed = b.feed(s, world.carol, "https://carol.blog/feed", title="Carol's blog")
        post = Post(
            feed_id=b.pk(feed),
            entry_key="carol-1",
            url="https://carol.blog/1",
            title="Carol's secret garden",
            discovered_at=now - timedelta(minutes=2),
        )
        s.add(post)
        s.flush()
        fan_out(s, [b.pk(post)], now=now)
    hide(world, world.carol.id or 0)
    return b.pk(post)


def test_a_hidden_members_posts_never_go_in_the_letter(app: TestClient, turn: World) -> None:
    """Before: the automatic selection took a hidden member's post, and the letter
    carried her name and post to every subscriber and into the public archive."""
    world = turn
    carol_post = carols_hidden_post(world)
    bob = browser(app, world.bob)
    assert "Carol's secret garden" not in html.unescape(
        as_response(bob.get(f"/tribes/{world.slug}/letter")).text
    )
    picked = draft_fields(world, post=[carol_post], pick=[carol_post], order=["1"], note=[""])
    refused = send(bob, world, "/draft", picked)
    assert refused.status_code == 422
    assert "not the tribe's since the last letter" in html.unescape(refused.text)

    open_id = edition(world).id
    with session_scope() as s:  # the editor did nothing: the deadline sends its own
        s.get_one(Edition, open_id).deadline_at = datetime.now(UTC)
    tick(now=datetime.now(UTC) + timedelta(seconds=1), keys=b.keys(), config=CONFIG)
    sent = edition(world)
    assert sent.automatic
    assert sent.picks
    assert carol_post not in [p["post_id"] for p in sent.picks]
    set_public(world, True)
    for path in ("/t/writers/letters/1", "/t/writers/letters.xml"):
        page = html.unescape(as_response(client_for(app).get(path)).text)
        assert "Carol" not in page, path
    for mail in mails():
        assert "Carol" not in mail.text


def test_a_hidden_editor_is_not_named_in_the_public_archive(app: TestClient, turn: World) -> None:
    """Bob wrote letter #1, then hid from the public page: the archive and its feed no
    longer name him (an automatic letter names nobody either)."""
    world = turn
    sent_edition(app, world)
    hide(world, world.bob.id or 0)
    set_public(world, True)
    stranger = client_for(app)
    for path in ("/t/writers/letters", "/t/writers/letters/1", "/t/writers/letters.xml"):
        page = as_response(stranger.get(path))
        assert page.status_code == 200, path
        assert "Garden notes" in page.text, path  # the letter is there, its editor is not
        assert "Bob" not in page.text, path


def test_a_nul_in_any_members_form_or_address_is_a_4xx(app: TestClient, world: World) -> None:
    """Existing pages too: what PostgreSQL cannot store is the sender's to fix, by one
    handler for the whole class, never a 500 (SQLite stores it: then it is simply kept)."""
    alice = raw(app)
    sign_in(alice, world.alice.email)
    made = post_form(alice, "/tribes", {"name": "A\x00B"}, page="/tribes")
    assert made.status_code < 500
    for path in (f"/tribes/{world.slug}%00", "/tribes/x%00/letter"):
        assert as_response(alice.get(path)).status_code < 500, path
    edited = post_form(
        alice, f"/tribes/{world.slug}", {"description": "a\x00b"}, page=f"/tribes/{world.slug}"
    )
    assert edited.status_code < 500
