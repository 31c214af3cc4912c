"""The gentle reminder: pending items and a week without a decision bring one email,
then none until the member comes back (a decision), then one again; never to a member
who turned reminders off."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from tests import builders as b
from tests.alliance.herd import (
    BASE_URL,
    NOW,
    SENDER,
    days_ago,
    decided,
    feed_of,
    item,
    person,
    tribe_of,
)
from tests.fakenet.mailbox import Mailbox
from tribe.alliance.herding import queue_reminders, reminder_due, reminder_key
from tribe.core.kinds import StreamState
from tribe.infra.db import session_scope
from tribe.infra.mail import MailConfig, SmtpTransport
from tribe.infra.models import Feed, Mail, Member
from tribe.infra.outbox import OutboxConfig, claim_due, send_claimed
from workers import tasks
from workers.app import app

pytestmark = pytest.mark.usefixtures("db")

CONFIG = OutboxConfig(sender=SENDER, rate=0)


def run(at: datetime) -> int:
    """One beat of `tribe.reminders.queue` at `at`."""
    with session_scope() as s:
        return queue_reminders(s, now=at, sender=SENDER, base_url=BASE_URL)


def mails() -> list[Mail]:
    with session_scope() as s:
        return list(s.exec(select(Mail).order_by(col(Mail.id))).all())


def reminded() -> list[str]:
    """The keys of the reminders queued so far, in order."""
    with session_scope() as s:
        return list(s.exec(select(col(Mail.key)).order_by(col(Mail.id))).all())


def bob_and_his_stream(*, last_decision: datetime | None = None) -> tuple[int, int]:
    """Alice writes, Bob has a post of hers pending (and decided last at `last_decision`)."""
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob", timezone="America/Chicago")
        tribe_of(s, "Writers", alice, bob)
        feed = feed_of(s, alice)
        if last_decision is not None:
            decided(s, bob, feed, last_decision)
        item(s, bob, feed, arrived=days_ago(1))
        return b.pk(bob), b.pk(feed)


def decide_now(bob_id: int, feed_id: int, at: datetime) -> None:
    with session_scope() as s:
        decided(s, s.get_one(Member, bob_id), s.get_one(Feed, feed_id), at)


@pytest.mark.parametrize(
    ("last", "reminded_at", "due"),
    [
        (days_ago(7), None, True),  # exactly a week
        (days_ago(7) + timedelta(minutes=1), None, False),  # not quite
        (days_ago(30), days_ago(20), False),  # reminded since: not again
        (days_ago(10), days_ago(20), True),  # came back after the reminder, quiet again
        (None, None, True),  # never decided: counted from when they joined
        (None, days_ago(20), False),
    ],
)
def test_when_a_member_is_due(
    last: datetime | None, reminded_at: datetime | None, due: bool
) -> None:
    assert (
        reminder_due(last_decision=last, joined=days_ago(100), reminded_at=reminded_at, now=NOW)
        is due
    )


def test_a_newcomer_who_never_decided_waits_a_week_from_joining() -> None:
    assert not reminder_due(last_decision=None, joined=days_ago(6), reminded_at=None, now=NOW)


def test_once_then_not_again_until_they_come_back_then_again() -> None:
    bob_id, feed_id = bob_and_his_stream(last_decision=days_ago(8))
    assert run(NOW) == 1
    assert reminded() == [f"reminder:{bob_id}:2026-03-10"]
    assert run(NOW + timedelta(hours=4)) == 0  # the next beat
    assert run(NOW + timedelta(days=5)) == 0  # days later, still quiet: once is enough
    with session_scope() as s:
        assert s.get_one(Member, bob_id).reminded_at == NOW
    decide_now(bob_id, feed_id, NOW + timedelta(days=6))  # they came back
    with session_scope() as s:
        bob, alice_feed = s.get_one(Member, bob_id), s.get_one(Feed, feed_id)
        item(s, bob, alice_feed, arrived=NOW + timedelta(days=12))
    assert run(NOW + timedelta(days=12)) == 0  # six days since that decision
    assert run(NOW + timedelta(days=13)) == 1  # a week: reminded again
    assert reminded() == [f"reminder:{bob_id}:2026-03-10", f"reminder:{bob_id}:2026-03-23"]


def test_nothing_for_members_who_decided_lately_or_have_nothing_pending() -> None:
    _, feed_id = bob_and_his_stream(last_decision=days_ago(3))
    with session_scope() as s:
        carol = person(s, "Carol")
        alice = s.exec(select(Member).where(Member.email == "alice@example.com")).one()
        tribe_of(s, "Cooks", alice, carol)
        feed = s.get_one(Feed, feed_id)
        decided(s, carol, feed, days_ago(30))
        item(s, carol, feed, arrived=days_ago(2), state=StreamState.EXPIRED, decided=days_ago(1))
    assert run(NOW) == 0
    assert reminded() == []


def test_an_automatic_approval_is_not_coming_back() -> None:
    bob_id, feed_id = bob_and_his_stream(last_decision=days_ago(8))
    assert run(NOW) == 1
    with session_scope() as s:
        decided(s, s.get_one(Member, bob_id), s.get_one(Feed, feed_id), NOW + timedelta(days=1),
                auto=True)  # fmt: skip
    assert run(NOW + timedelta(days=9)) == 0


def test_a_member_who_turned_reminders_off_gets_none() -> None:
    bob_id, _ = bob_and_his_stream(last_decision=days_ago(30))
    with session_scope() as s:
        s.get_one(Member, bob_id).reminders = False
    assert run(NOW) == 0
    assert reminded() == []
    with session_scope() as s:
        s.get_one(Member, bob_id).reminders = True
    assert run(NOW) == 1


def test_the_reminder_arrives_saying_how_many_wait_and_how_to_stop_it() -> None:
    bob_id, feed_id = bob_and_his_stream(last_decision=days_ago(9))
    with session_scope() as s:
        item(s, s.get_one(Member, bob_id), s.get_one(Feed, feed_id), arrived=days_ago(2))
    assert run(NOW) == 1
    with Mailbox() as box:
        with session_scope() as s:
            claims = claim_due(s, now=NOW + timedelta(minutes=1), config=CONFIG)
        transport = SmtpTransport(MailConfig(box.host, box.port, "", "", SENDER, "none"))
        send_claimed(claims, transport, config=CONFIG, rng=random.Random(1))
        (message,) = box.to("bob@example.com")
    assert message["Subject"] == "2 posts from your tribe waiting in your stream"
    text = ""
    for piece in message.walk():
        if piece.get_content_type() == "text/plain":
            payload = piece.get_payload(decode=True)
            assert isinstance(payload, bytes)
            text = payload.decode()
    assert "2 posts from your tribe are waiting in your stream" in text
    assert "you last went through it on Sun 1 Mar" in text  # in Bob's zone (Chicago)
    assert f"{BASE_URL}/stream" in text
    assert f"{BASE_URL}/settings" in text
    assert "Turn them off" in text
    assert reminder_key(bob_id, NOW) == f"reminder:{bob_id}:2026-03-10"


def test_the_beat_task_queues_them_a_few_times_a_day() -> None:
    with session_scope() as s:
        alice, bob = person(s, "Alice"), person(s, "Bob")
        tribe_of(s, "Writers", alice, bob)
        feed = feed_of(s, alice)
        # Real time here: the task reads the clock.
        decided(s, bob, feed, datetime.now(UTC) - timedelta(days=8))
        item(s, bob, feed, arrived=datetime.now(UTC) - timedelta(hours=1))
    assert tasks.queue_reminders() == 1
    assert tasks.queue_reminders() == 0
    (mail,) = mails()
    assert (mail.kind, mail.to) == ("reminder", "bob@example.com")
    assert "http://127.0.0.1:8000/stream" in mail.text  # TRIBE_BASE_URL's default
    entry = app.conf.beat_schedule["queue-reminders"]
    assert entry["task"] == tasks.queue_reminders.name == "tribe.reminders.queue"
    assert 3600 <= entry["schedule"] <= 12 * 3600
