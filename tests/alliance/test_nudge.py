"""The chief's nudge: written from the panel, sent through the outbox to a real SMTP
server, at most once a week per member, never to a member who turned nudges off, and
only by a chief of a tribe the member is in."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message

import pytest
from sqlmodel import Session, select

from tests import builders as b
from tests.alliance.herd import BASE_URL, NOW, SENDER, account, feed_of, left, person, tribe_of
from tests.fakenet.mailbox import Mailbox
from tribe.alliance.health import tribe_health
from tribe.alliance.herding import (
    NudgeSent,
    check_message,
    default_message,
    nudge,
    nudge_cards,
    nudge_key,
    nudge_state,
)
from tribe.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tribe.infra.db import session_scope
from tribe.infra.mail import MailConfig, SmtpTransport
from tribe.infra.models import Mail, Member, Tribe
from tribe.infra.outbox import OutboxConfig, claim_due, send_claimed

pytestmark = pytest.mark.usefixtures("db")

CONFIG = OutboxConfig(sender=SENDER, rate=0)


@pytest.fixture
def box() -> Iterator[Mailbox]:
    with Mailbox() as running:
        yield running


def deliver(box: Mailbox, *, at: datetime) -> None:
    """What the workers do: claim the due emails, hand them to the SMTP server."""
    with session_scope() as s:
        claims = claim_due(s, now=at, config=CONFIG)
    transport = SmtpTransport(MailConfig(box.host, box.port, "", "", SENDER, "none"))
    send_claimed(claims, transport, config=CONFIG, rng=random.Random(1))


def part(message: Message, kind: str) -> str:
    for piece in message.walk():
        if piece.get_content_type() == kind:
            payload = piece.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode().replace("\r\n", "\n")
    raise AssertionError(f"no {kind} part")


def send(
    s: Session,
    tribe: Tribe,
    chief: Member,
    member: Member,
    *,
    at: datetime = NOW,
    text: str = "Hi!",
) -> NudgeSent:
    return nudge(s, tribe, chief, member, message=text, now=at, sender=SENDER, base_url=BASE_URL)


def mails() -> list[Mail]:
    with session_scope() as s:
        return list(s.exec(select(Mail)).all())


def test_the_nudge_arrives_from_the_chief_with_a_way_to_turn_nudges_off(box: Mailbox) -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe = tribe_of(s, "Garden Writers", alice, bob)
        note = "Hi Bob,\n\nWe miss your shares <3\nNo rush at all.\n\nAlice"
        sent = send(s, tribe, alice, bob, text=note)
        assert sent.key == f"nudge:{b.pk(bob)}:2026-W11"
        assert sent.next_at == NOW + timedelta(days=7)
        assert bob.nudged_at == NOW
    deliver(box, at=NOW + timedelta(minutes=1))
    (message,) = box.to("bob@example.com")
    assert message["Subject"] == "A note from Alice, chief of Garden Writers"
    assert message["Reply-To"] == "alice@example.com"
    text = part(message, "text/plain")
    assert text.startswith(note)
    assert f"{BASE_URL}/settings" in text
    assert "Turn nudges off" in text
    html = part(message, "text/html")
    assert "We miss your shares &lt;3<br>No rush at all.</p>" in html  # escaped, lines kept
    assert f'href="{BASE_URL}/settings"' in html
    assert [m.kind for m in mails()] == ["nudge"]


def test_a_second_nudge_within_the_week_is_refused_saying_when(box: Mailbox) -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice", timezone="Europe/Paris"), person(s, "Bob")
        tribe = tribe_of(s, "Writers", alice, bob)
        send(s, tribe, alice, bob)
        almost = NOW + timedelta(days=7) - timedelta(minutes=1)
        with pytest.raises(ConflictError) as refused:
            send(s, tribe, alice, bob, at=almost)
        # When it can go again, in the chief's time zone.
        assert "Bob was nudged Tue 10 Mar, 13:00 CET" in str(refused.value)
        assert "the next can be sent from Tue 17 Mar, 13:00 CET" in str(refused.value)
        again = send(s, tribe, alice, bob, at=NOW + timedelta(days=7))
        assert again.key == f"nudge:{b.pk(bob)}:2026-W12"
    deliver(box, at=NOW + timedelta(days=8))
    assert len(box.to("bob@example.com")) == 2


def test_once_a_week_per_member_whichever_chief_sends_it() -> None:
    with session_scope() as s:
        alice, bob, carol = person(s, "Alice"), person(s, "Bob"), person(s, "Carol")
        writers = tribe_of(s, "Writers", alice, bob)
        cooks = tribe_of(s, "Cooks", carol, bob)
        send(s, writers, alice, bob)
        with pytest.raises(ConflictError, match="at most once a week"):
            send(s, cooks, carol, bob, at=NOW + timedelta(days=2))
    assert len(mails()) == 1


def test_a_member_who_turned_nudges_off_is_never_nudged() -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe = tribe_of(s, "Writers", alice, bob)
        bob.nudges = False
        with pytest.raises(ConflictError, match="Bob turned nudges off, so none can be sent"):
            send(s, tribe, alice, bob)
        assert bob.nudged_at is None
    assert mails() == []


def test_only_a_chief_of_a_tribe_the_member_is_active_in_can_nudge() -> None:
    with session_scope() as s:
        alice, bob, carol, dave = (person(s, n) for n in ("Alice", "Bob", "Carol", "Dave"))
        writers = tribe_of(s, "Writers", alice, bob, carol)
        cooks = tribe_of(s, "Cooks", dave)
        with pytest.raises(ForbiddenError, match="only the chief of writers"):
            send(s, writers, bob, carol)  # a member, not the chief
        with pytest.raises(ForbiddenError):
            send(s, writers, dave, bob)  # another tribe's chief
        with pytest.raises(NotFoundError, match=r"no member #\d+ in cooks"):
            send(s, cooks, dave, bob)  # their own tribe, which Bob is not in
        with pytest.raises(InvalidInputError, match="cannot nudge yourself"):
            send(s, writers, alice, alice)
        left(s, writers, carol)
        with pytest.raises(NotFoundError):
            send(s, writers, alice, carol)  # no longer active in it
        assert (bob.nudged_at, carol.nudged_at) == (None, None)
    assert mails() == []


def test_the_message_is_checked_before_anything_is_recorded() -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe = tribe_of(s, "Writers", alice, bob)
        with pytest.raises(InvalidInputError, match="the message is empty"):
            send(s, tribe, alice, bob, text=" \r\n ")
        with pytest.raises(InvalidInputError, match="at most 4000"):
            send(s, tribe, alice, bob, text="x" * 4001)
        assert bob.nudged_at is None
    assert mails() == []
    assert check_message("  Hi\r\nthere\r\n") == "Hi\nthere"


def test_the_proposed_message_names_what_the_panel_saw(box: Mailbox) -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe = tribe_of(s, "Writers", alice, bob)
        account(s, alice)
        feed_of(s, bob, error_count=5, error_message="HTTP 404 from the server")
        health = tribe_health(s, tribe, now=NOW)
        (card,) = nudge_cards(s, health, alice, now=NOW)
        assert card.who.name == "Bob"
        assert card.state.allowed
        assert not card.is_chief
        assert card.message == default_message(health, card.who, chief_name="Alice")
        assert card.message.startswith("Hi Bob,")
        assert "HTTP 404 from the server" in card.message
        assert "\n\nYou have no social account connected" in card.message  # its own paragraph
        assert card.message.rstrip().endswith("Alice")
        send(s, tribe, alice, bob, text=card.message)
    deliver(box, at=NOW + timedelta(minutes=1))
    (message,) = box.to("bob@example.com")
    assert "HTTP 404 from the server" in part(message, "text/plain")


def test_the_panel_says_why_a_member_cannot_be_nudged() -> None:
    with session_scope() as s:
        bob = person(s, "Bob")
        assert nudge_state(bob, now=NOW).allowed
        bob.nudged_at = NOW - timedelta(days=3)
        state = nudge_state(bob, now=NOW)
        assert not state.allowed
        assert state.next_at == NOW + timedelta(days=4)
        assert "Sat 14 Mar, 12:00 UTC" in state.reason
        bob.nudges = False
        assert nudge_state(bob, now=NOW).reason == "Bob turned nudges off, so none can be sent"


@pytest.mark.parametrize(
    ("moment", "key"),
    [
        (datetime(2026, 3, 15, 23, 59, tzinfo=UTC), "nudge:7:2026-W11"),  # a Sunday
        (datetime(2026, 3, 16, 0, 0, tzinfo=UTC), "nudge:7:2026-W12"),  # the Monday after
        (datetime(2027, 1, 1, 12, 0, tzinfo=UTC), "nudge:7:2026-W53"),  # ISO years
    ],
)
def test_the_outbox_key_is_the_member_and_the_iso_week(moment: datetime, key: str) -> None:
    assert nudge_key(7, moment) == key
