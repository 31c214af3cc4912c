"""The letter's public subscribers: double opt-in through a real SMTP server (aiosmtpd,
in-process), one confirmation email per address and quarter of an hour, signed links
that confirm and unsubscribe (subscribers and members), refusals that set an address
aside, and the counts a chief sees."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message

import pytest
from cryptography.fernet import Fernet
from sqlmodel import col, select

from tests import builders as b
from tests.fakenet.mailbox import Mailbox
from tribe.alliance.letter_links import (
    LetterLink,
    letter_token,
    member_unsubscribe_url,
    read_letter_token,
    subscriber_unsubscribe_url,
    unsubscribe_headers,
)
from tribe.alliance.subscribers import (
    RESEND_EVERY,
    Ask,
    confirm,
    confirmed_in_batches,
    confirmed_subscribers,
    decide_ask,
    masked,
    record_outcomes,
    subscribe,
    subscriber_counts,
    unsubscribe,
)
from tribe.core.errors import InvalidInputError, LinkError, NotFoundError
from tribe.core.kinds import SubscriberState
from tribe.infra.db import session_scope
from tribe.infra.keys import Keyring
from tribe.infra.mail import MailConfig, SmtpTransport
from tribe.infra.models import LetterPlan, Mail, Member, Membership, Subscriber, Tribe
from tribe.infra.outbox import OutboxConfig, claim_due, send_claimed

pytestmark = pytest.mark.usefixtures("db")

BASE_URL = "https://tribe.example.org"
SENDER = "tribe@tribe.example.org"
OUTBOX = OutboxConfig(sender=SENDER, rate=0)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
READER = "reader@example.net"


@dataclass
class World:
    tribe: int
    slug: str
    alice: int  # the chief
    bob: int
    other_tribe: int
    other_slug: str


@pytest.fixture
def world() -> World:
    """ "Garden Writers" is public with its letter on; "Cooks" is public with none."""
    with session_scope() as s:
        alice, bob, carol = (b.member(s, n) for n in ("Alice", "Bob", "Carol"))
        writers = b.tribe(s, "Garden Writers", alice, bob)
        cooks = b.tribe(s, "Cooks", carol)
        writers.is_public = cooks.is_public = True
        s.add(LetterPlan(tribe_id=b.pk(writers), enabled=True))
        return World(b.pk(writers), writers.slug, b.pk(alice), b.pk(bob), b.pk(cooks), cooks.slug)


@pytest.fixture
def box() -> Iterator[Mailbox]:
    with Mailbox() as running:
        yield running


def ask(slug: str, email: str = READER, *, at: datetime = NOW) -> str | None:
    """The public form sent for `email` at `at`: the outbox key of the email it queued."""
    with session_scope() as s:
        return subscribe(
            s, slug=slug, email=email, keys=b.keys(), base_url=BASE_URL, sender=SENDER, now=at
        )


def deliver(box: Mailbox, at: datetime = NOW) -> None:
    """The outbox's dispatch: hand every email due by `at` to the mailbox."""
    with session_scope() as s:
        claims = claim_due(s, now=at + timedelta(seconds=1), config=OUTBOX)
    transport = SmtpTransport(MailConfig(box.host, box.port, "", "", SENDER, "none"))
    send_claimed(claims, transport, config=OUTBOX, rng=random.Random(1))


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


def html_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no HTML part")


def confirm_token(message: Message, slug: str) -> str:
    found = re.search(rf"{re.escape(BASE_URL)}/t/{slug}/confirm/(\S+)", text_of(message))
    assert found, text_of(message)
    return found.group(1)


def row(tribe_id: int, email: str = READER) -> Subscriber:
    with session_scope() as s:
        found = s.exec(
            select(Subscriber).where(
                col(Subscriber.tribe_id) == tribe_id, col(Subscriber.email) == email
            )
        ).one()
        s.expunge(found)
        return found


def do_confirm(token: str, at: datetime = NOW) -> bool:
    with session_scope() as s:
        return confirm(s, token=token, keys=b.keys(), now=at).changed


def do_unsubscribe(token: str, at: datetime = NOW) -> bool:
    with session_scope() as s:
        return unsubscribe(s, token=token, keys=b.keys(), now=at).changed


def unsubscribe_token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def mails() -> list[Mail]:
    with session_scope() as s:
        found = list(s.exec(select(Mail).order_by(col(Mail.id))))
        for mail in found:
            s.expunge(mail)
        return found


def counts(tribe_id: int) -> dict[str, int]:
    with session_scope() as s:
        return subscriber_counts(s, tribe_id=tribe_id)


def subscribed(world: World, email: str = READER) -> int:
    """A confirmed subscriber, the short way (no mailbox): their id."""
    ask(world.slug, email)
    with session_scope() as s:
        sub = s.exec(select(Subscriber).where(col(Subscriber.email) == email)).one()
        token = letter_token(
            b.keys(),
            LetterLink("confirm", subscriber_id=b.pk(sub), expires=NOW + timedelta(days=1)),
        )
    assert do_confirm(token)
    return b.pk(sub)


# Double opt-in


def test_double_opt_in_through_a_real_smtp_server(world: World, box: Mailbox) -> None:
    key = ask(world.slug, "  Reader@Example.NET ")
    assert key is not None
    assert row(world.tribe).state == SubscriberState.PENDING
    with session_scope() as s:
        assert confirmed_subscribers(s, tribe_id=world.tribe) == []
    deliver(box)

    (message,) = box.messages
    assert message["To"] == READER  # as stored: trimmed, lower case
    assert message["Subject"] == "Confirm: the letter of Garden Writers"
    assert message["List-Unsubscribe"] is None  # no list yet: nothing to leave
    text = text_of(message)
    assert "the letter of Garden Writers" in text
    assert "If you did not ask, ignore this email" in text
    assert "works for 7 days" in text
    assert f"{BASE_URL}/t/{world.slug}" in text
    token = confirm_token(message, world.slug)
    assert f"/t/{world.slug}/confirm/{token}" in html_of(message)
    assert counts(world.tribe)["pending"] == 1

    assert do_confirm(token) is True
    confirmed = row(world.tribe)
    assert confirmed.state == SubscriberState.CONFIRMED
    assert confirmed.confirmed_at is not None
    with session_scope() as s:
        assert confirmed_subscribers(s, tribe_id=world.tribe) == [(b.pk(confirmed), READER)]
    assert do_confirm(token) is False  # a second click: done already, nothing changes
    assert row(world.tribe).confirmed_at == confirmed.confirmed_at
    assert counts(world.tribe) == {"pending": 0, "confirmed": 1, "unsubscribed": 0, "set_aside": 0}


def test_a_pending_address_gets_one_email_per_quarter_of_an_hour(
    world: World, box: Mailbox
) -> None:
    first = ask(world.slug)
    assert first is not None
    assert ask(world.slug) is None  # a double click
    assert ask(world.slug, at=NOW + RESEND_EVERY - timedelta(seconds=1)) is None
    later = NOW + RESEND_EVERY
    second = ask(world.slug, at=later)
    assert second is not None
    assert second != first
    deliver(box, later)
    assert len(box.to(READER)) == 2
    # Both links work (the first one was not replaced by the second).
    tokens = [confirm_token(m, world.slug) for m in box.to(READER)]
    assert do_confirm(tokens[0]) is True
    assert do_confirm(tokens[1]) is False


@pytest.mark.parametrize("known", [False, True])
def test_two_requests_at_once_queue_one_email(world: World, known: bool) -> None:
    """A double click reaches two workers: whatever their interleaving, one email."""
    if known:  # a pending address whose last email is old enough for another
        ask(world.slug, at=NOW - RESEND_EVERY)
    start = threading.Barrier(4)

    def request() -> str | None:
        start.wait()
        return ask(world.slug)

    with ThreadPoolExecutor(4) as pool:
        keys = list(pool.map(lambda _: request(), range(4)))
    assert len([k for k in keys if k is not None]) == 1, keys
    assert counts(world.tribe)["pending"] == 1
    assert len(mails()) == 1 + known


def test_a_confirmed_address_gets_nothing_new(world: World) -> None:
    subscribed(world)
    before = mails()
    for minutes in (0, 20, 60 * 24 * 3):
        assert ask(world.slug, at=NOW + timedelta(minutes=minutes)) is None
    assert mails() == before
    assert row(world.tribe).state == SubscriberState.CONFIRMED


def test_the_same_address_in_two_tribes_is_two_subscriptions(world: World) -> None:
    with session_scope() as s:
        s.add(LetterPlan(tribe_id=world.other_tribe, enabled=True))
    assert ask(world.slug) is not None
    assert ask(world.other_slug) is not None
    assert counts(world.tribe)["pending"] == counts(world.other_tribe)["pending"] == 1


@pytest.mark.parametrize("gone", [SubscriberState.UNSUBSCRIBED, SubscriberState.SET_ASIDE])
def test_an_address_that_left_can_subscribe_again(world: World, gone: SubscriberState) -> None:
    sub_id = subscribed(world)
    with session_scope() as s:
        sub = s.get_one(Subscriber, sub_id)
        sub.state, sub.refusals, sub.reason = gone, 3, "550 mailbox full"
        sub.unsubscribed_at = NOW
    later = NOW + timedelta(days=2)
    key = ask(world.slug, at=later)
    assert key is not None
    again = row(world.tribe)
    assert again.id == sub_id  # the same row, started again
    assert again.state == SubscriberState.PENDING
    assert (again.refusals, again.reason, again.confirmed_at, again.unsubscribed_at) == (
        0,
        "",
        None,
        None,
    )
    assert [m.key for m in mails()][-1] == key


def test_coming_back_minutes_after_an_email_makes_it_pending_without_another(
    world: World,
) -> None:
    """An address asked, confirmed and unsubscribed within minutes: asking again is
    recorded, but its inbox gets no second email before the quarter of an hour."""
    sub_id = subscribed(world)
    assert do_unsubscribe(
        unsubscribe_token(
            subscriber_unsubscribe_url(b.keys(), BASE_URL, slug=world.slug, subscriber_id=sub_id)
        )
    )
    before = mails()
    assert ask(world.slug, at=NOW + timedelta(minutes=3)) is None
    assert row(world.tribe).state == SubscriberState.PENDING
    assert mails() == before
    assert ask(world.slug, at=NOW + RESEND_EVERY) is not None


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("", "enter your email address, like name@example.com"),
        ("   ", "enter your email address, like name@example.com"),
        ("reader.example.net", "'reader.example.net' is not an email address; enter one like"),
        ("a@b", "'a@b' is not an email address"),
        ("two words@example.net", "is not an email address"),
        ("x" * 250 + "@example.net", "is not an email address"),
    ],
)
def test_a_bad_address_is_refused_with_what_to_fix(world: World, typed: str, said: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(said)):
        ask(world.slug, typed)
    assert counts(world.tribe)["pending"] == 0
    assert mails() == []


def plan_of(tribe_id: int, *, enabled: bool) -> None:
    with session_scope() as s:
        plan = s.exec(select(LetterPlan).where(col(LetterPlan.tribe_id) == tribe_id)).one()
        plan.enabled = enabled


def test_only_a_public_tribe_with_its_letter_on_takes_subscribers(world: World) -> None:
    """Every other tribe is not found, in the words used for a slug nobody has: the form
    tells a stranger nothing about private tribes."""
    with session_scope() as s:
        s.add(Tribe(name="Quiet", slug="quiet", chief_id=world.alice))  # private, no plan
    for slug in ("nobody-has-this", world.other_slug, "quiet"):  # -, public without letter
        with pytest.raises(NotFoundError, match=f"^no tribe with the slug '{slug}'$"):
            ask(slug)
    plan_of(world.tribe, enabled=False)
    with pytest.raises(NotFoundError, match=f"^no tribe with the slug '{world.slug}'$"):
        ask(world.slug)
    plan_of(world.tribe, enabled=True)
    with session_scope() as s:
        s.get_one(Tribe, world.tribe).is_public = False
    with pytest.raises(NotFoundError, match=f"^no tribe with the slug '{world.slug}'$"):
        ask(world.slug)
    assert mails() == []


# The links


def test_an_expired_confirmation_link_confirms_nothing(world: World, box: Mailbox) -> None:
    ask(world.slug)
    deliver(box)
    token = confirm_token(box.messages[0], world.slug)
    with pytest.raises(LinkError, match="this confirmation link has expired; subscribe again"):
        do_confirm(token, NOW + timedelta(days=7))
    assert row(world.tribe).state == SubscriberState.PENDING
    assert do_confirm(token, NOW + timedelta(days=7) - timedelta(seconds=1)) is True


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),
        lambda t: "x" + t,
        lambda t: "not-a-token",
        lambda t: t.split(".")[0],
    ],
)
def test_a_forged_link_does_nothing(world: World, forge: object) -> None:
    assert callable(forge)
    sub_id = subscribed(world)
    url = subscriber_unsubscribe_url(b.keys(), BASE_URL, slug=world.slug, subscriber_id=sub_id)
    with pytest.raises(LinkError, match="this link is not valid"):
        do_unsubscribe(forge(unsubscribe_token(url)))
    assert row(world.tribe).state == SubscriberState.CONFIRMED


def test_a_link_is_good_for_its_own_action_and_instance_only(world: World) -> None:
    sub_id = subscribed(world)
    unsub = unsubscribe_token(
        subscriber_unsubscribe_url(b.keys(), BASE_URL, slug=world.slug, subscriber_id=sub_id)
    )
    with pytest.raises(LinkError, match="this link is not valid"):
        do_confirm(unsub)
    confirm_link = letter_token(
        b.keys(), LetterLink("confirm", subscriber_id=sub_id, expires=NOW + timedelta(days=1))
    )
    with pytest.raises(LinkError, match="this link is not valid"):
        do_unsubscribe(confirm_link)
    elsewhere = Keyring((Fernet.generate_key().decode(),), "environment")
    theirs = letter_token(elsewhere, LetterLink("unsubscribe", subscriber_id=sub_id))
    with pytest.raises(LinkError, match="this link is not valid"):
        do_unsubscribe(theirs)
    # A confirmation that does not end, or a member's confirmation: never made, refused.
    for odd in (
        LetterLink("confirm", subscriber_id=sub_id),
        LetterLink("confirm", member_id=world.bob, tribe_id=world.tribe, expires=NOW),
        LetterLink("unsubscribe", member_id=world.bob),
        LetterLink("unsubscribe", subscriber_id=sub_id, member_id=world.bob, tribe_id=1),
    ):
        with pytest.raises(LinkError, match="this link is not valid"):
            read_letter_token(b.keys(), letter_token(b.keys(), odd), now=NOW)
    assert row(world.tribe).state == SubscriberState.CONFIRMED


def test_unsubscribing_is_idempotent_and_ends_confirmation(world: World, box: Mailbox) -> None:
    ask(world.slug)
    deliver(box)
    token = confirm_token(box.messages[0], world.slug)
    assert do_confirm(token)
    sub_id = b.pk(row(world.tribe))
    url = subscriber_unsubscribe_url(b.keys(), BASE_URL, slug=world.slug, subscriber_id=sub_id)
    assert url.startswith(f"{BASE_URL}/t/{world.slug}/unsubscribe/")

    later = NOW + timedelta(days=1)
    assert do_unsubscribe(unsubscribe_token(url), later) is True
    gone = row(world.tribe)
    assert gone.state == SubscriberState.UNSUBSCRIBED
    assert gone.unsubscribed_at == later
    assert do_unsubscribe(unsubscribe_token(url), later + timedelta(hours=1)) is False
    assert row(world.tribe).unsubscribed_at == later
    with session_scope() as s:
        assert confirmed_subscribers(s, tribe_id=world.tribe) == []
    # The old confirmation link (still within its 7 days) does not bring them back.
    with pytest.raises(LinkError, match="subscribe once more on the tribe's page"):
        do_confirm(token, later)
    assert row(world.tribe).state == SubscriberState.UNSUBSCRIBED


def test_a_member_s_link_stops_their_letter_and_nobody_else_s(world: World) -> None:
    url = member_unsubscribe_url(
        b.keys(), BASE_URL, slug=world.slug, tribe_id=world.tribe, member_id=world.bob
    )
    assert do_unsubscribe(unsubscribe_token(url)) is True
    with session_scope() as s:
        readers = {
            m.member_id: m.letter_reader
            for m in s.exec(select(Membership).where(col(Membership.tribe_id) == world.tribe))
        }
    assert readers == {world.alice: True, world.bob: False}
    assert do_unsubscribe(unsubscribe_token(url)) is False
    # A link naming a tribe Bob is not in changes nothing anywhere.
    elsewhere = member_unsubscribe_url(
        b.keys(), BASE_URL, slug=world.other_slug, tribe_id=world.other_tribe, member_id=world.bob
    )
    assert do_unsubscribe(unsubscribe_token(elsewhere)) is False


def test_unsubscribe_headers_follow_rfc_8058() -> None:
    url = "https://tribe.example.org/t/writers/unsubscribe/abc"
    assert unsubscribe_headers(url) == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_an_address_is_masked_for_whoever_holds_a_link() -> None:
    assert masked("reader@example.net") == "r•••@e•••.net"
    assert "reader" not in masked("reader@example.net")
    assert "example" not in masked("reader@example.net")


# After an edition


def test_three_refusals_in_a_row_set_a_subscriber_aside_with_the_reason(world: World) -> None:
    kept, bounced, flaky = (
        subscribed(world, f"{n}@example.net") for n in ("kept", "gone", "flaky")
    )

    def edition(outcomes: dict[int, str | None], at: datetime) -> tuple[int, ...]:
        with session_scope() as s:
            settled = record_outcomes(s, tribe_id=world.tribe, outcomes=outcomes, now=at)
        return settled.set_aside

    day = timedelta(days=7)
    assert edition({kept: None, bounced: "550 no such user", flaky: "552 mailbox full"}, NOW) == ()
    assert edition({kept: None, bounced: "550 no such user", flaky: None}, NOW + day) == ()
    flaky_row = row(world.tribe, "flaky@example.net")
    assert (flaky_row.refusals, flaky_row.reason) == (0, "")  # a success starts the count again
    gone_row = row(world.tribe, "gone@example.net")
    assert (gone_row.refusals, gone_row.state) == (2, SubscriberState.CONFIRMED)

    third = NOW + 2 * day
    outcomes = {kept: None, bounced: "550  no such\nuser", flaky: "552 mailbox full"}
    assert edition(outcomes, third) == (bounced,)
    gone_row = row(world.tribe, "gone@example.net")
    assert gone_row.state == SubscriberState.SET_ASIDE
    assert gone_row.reason == "550 no such user"
    assert gone_row.refusals == 3
    assert gone_row.unsubscribed_at == third  # when the letter stopped going there
    assert row(world.tribe, "flaky@example.net").refusals == 1
    assert row(world.tribe, "kept@example.net").refusals == 0
    with session_scope() as s:
        assert [i for i, _ in confirmed_subscribers(s, tribe_id=world.tribe)] == [kept, flaky]
    assert counts(world.tribe) == {"pending": 0, "confirmed": 2, "unsubscribed": 0, "set_aside": 1}


def test_outcomes_touch_only_the_tribe_s_own_confirmed_subscribers(world: World) -> None:
    with session_scope() as s:
        s.add(LetterPlan(tribe_id=world.other_tribe, enabled=True))
    theirs = subscribed(world, "theirs@example.net")  # of Garden Writers
    ask(world.slug, "waiting@example.net")
    waiting = b.pk(row(world.tribe, "waiting@example.net"))
    for n in range(4):
        with session_scope() as s:
            settled = record_outcomes(
                s,
                tribe_id=world.other_tribe,  # the wrong tribe: its ids are not these
                outcomes={theirs: "550 no"},
                now=NOW + timedelta(days=n),
            )
        assert settled.set_aside == ()
        with session_scope() as s:
            record_outcomes(s, tribe_id=world.tribe, outcomes={waiting: ""}, now=NOW)
    assert row(world.tribe, "theirs@example.net").refusals == 0
    pending = row(world.tribe, "waiting@example.net")
    assert pending.state == SubscriberState.PENDING  # not confirmed: not set aside
    assert pending.reason == "refused by the receiving server"


def test_confirmed_subscribers_come_in_batches_by_id(world: World) -> None:
    ids = [subscribed(world, f"r{n}@example.net") for n in range(7)]
    ask(world.slug, "pending@example.net")
    with session_scope() as s:
        batches = list(confirmed_in_batches(s, tribe_id=world.tribe, size=3))
    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert [i for batch in batches for i, _ in batch] == ids
    assert batches[0][0] == (ids[0], "r0@example.net")


# The rule, on its own


@pytest.mark.parametrize(
    ("state", "minutes_ago", "expected"),
    [
        (None, None, Ask(SubscriberState.PENDING, True, "a confirmation email goes")),
        (SubscriberState.PENDING, 1, Ask(SubscriberState.PENDING, False, "")),
        (SubscriberState.PENDING, 15, Ask(SubscriberState.PENDING, True, "")),
        (SubscriberState.CONFIRMED, 60 * 24 * 30, Ask(SubscriberState.CONFIRMED, False, "")),
        (SubscriberState.UNSUBSCRIBED, 1, Ask(SubscriberState.PENDING, False, "")),
        (SubscriberState.UNSUBSCRIBED, 60, Ask(SubscriberState.PENDING, True, "")),
        (SubscriberState.SET_ASIDE, 60, Ask(SubscriberState.PENDING, True, "")),
    ],
)
def test_what_asking_does(
    state: SubscriberState | None, minutes_ago: int | None, expected: Ask
) -> None:
    asked = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    got = decide_ask(state, asked, now=NOW)
    assert (got.state, got.send) == (expected.state, expected.send)
    assert got.why


def test_an_address_goes_quiet_after_three_confirmations_in_a_week(world: World) -> None:
    """Four public tribes with letters: a stranger subscribes someone else's address to
    each. Three confirmation emails at most in a week, every tribe counted; the form's
    answer stays the same (the rows are pending all the same)."""
    with session_scope() as s:
        chief = s.get_one(Member, world.alice)
        slugs = [world.slug]
        for n in range(3):
            tribe = b.tribe(s, f"Readers {n}", chief)
            tribe.is_public = True
            s.add(LetterPlan(tribe_id=b.pk(tribe), enabled=True))
            slugs.append(tribe.slug)
    sent = [ask(slug, at=NOW + timedelta(minutes=n)) for n, slug in enumerate(slugs)]
    assert [key is not None for key in sent] == [True, True, True, False]
    with session_scope() as s:
        states = s.exec(select(col(Subscriber.state)).where(col(Subscriber.email) == READER))
        assert list(states) == [SubscriberState.PENDING] * 4
    # A week on, the address may be asked again.
    assert ask(slugs[3], at=NOW + timedelta(days=7, minutes=5)) is not None
