"""The tribe's letter: its schedule, the editors' turns, the draft, and the beat that
opens, reminds, sends or skips, then queues one email per recipient, sent through a
real SMTP server (aiosmtpd, in-process) exactly once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from tests import builders as b
from tests.alliance import reshares as r
from tests.fakenet.mailbox import Mailbox, email, parts
from tribe.alliance import drafts
from tribe.alliance import editions as ed
from tribe.alliance.sending import (
    LetterConfig,
    _email,
    progress,
    queue_recipients,
    recipients,
    send_current,
    tick,
)
from tribe.core.errors import ForbiddenError, InvalidInputError, NotFoundError
from tribe.core.kinds import (
    EditionState,
    IfUnsent,
    LetterCadence,
    MailState,
    SubscriberState,
)
from tribe.core.letter import LetterSchedule, check_schedule, next_send, parse_day
from tribe.infra.db import session_scope
from tribe.infra.mail import MailConfig, SmtpTransport
from tribe.infra.models import Edition, Feed, Mail, Member, Membership, Post, Subscriber, Tribe
from tribe.infra.outbox import OutboxConfig, Queued, claim_due, enqueue_many, send_claimed

pytestmark = pytest.mark.usefixtures("db")

BASE_URL = "https://tribe.example.org"
SENDER = "tribe@tribe.example.org"
CONFIG = LetterConfig(base_url=BASE_URL, sender=SENDER, batch=7)
OUTBOX = OutboxConfig(sender=SENDER, rate=0, batch=500)
PARIS = ZoneInfo("Europe/Paris")
# Monday 30 November 2026, 10:00 in Paris.
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=PARIS).astimezone(UTC)


# The schedule (pure)


def test_a_weekly_letter_goes_on_its_weekday_at_its_hour_in_the_tribe_s_zone() -> None:
    friday = LetterSchedule(LetterCadence.WEEKLY, 4, "09:00", "Europe/Paris")
    assert next_send(friday, NOW) == datetime(2026, 12, 4, 9, 0, tzinfo=PARIS)
    # Exactly at the send time, the next one is a week on.
    sent = datetime(2026, 12, 4, 9, 0, tzinfo=PARIS)
    assert next_send(friday, sent) == datetime(2026, 12, 11, 9, 0, tzinfo=PARIS)
    assert friday.describe() == "weekly on Friday at 09:00 (Europe/Paris)"


def test_a_monthly_letter_goes_on_its_day_and_rolls_over_the_year() -> None:
    first = LetterSchedule(LetterCadence.MONTHLY, 1, "18:00", "UTC")
    assert next_send(first, NOW) == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    assert next_send(first, datetime(2026, 12, 1, 18, 0, tzinfo=UTC)) == datetime(
        2027, 1, 1, 18, 0, tzinfo=UTC
    )
    fifteenth = LetterSchedule(LetterCadence.MONTHLY, 15, "08:00", "UTC")
    assert next_send(fifteenth, NOW) == datetime(2026, 12, 15, 8, 0, tzinfo=UTC)


def test_a_send_hour_skipped_by_daylight_saving_comes_an_hour_later() -> None:
    # Berlin skips 02:00-03:00 on Sunday 28 March 2027: 02:30 is read as 03:30 CEST.
    sunday = LetterSchedule(LetterCadence.WEEKLY, 6, "02:30", "Europe/Berlin")
    after = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    assert next_send(sunday, after) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (LetterSchedule(LetterCadence.MONTHLY, 31, "09:00"), "1 to 28"),
        (LetterSchedule(LetterCadence.WEEKLY, 7, "09:00"), r"0 \(Monday\) to 6"),
        (LetterSchedule(LetterCadence.WEEKLY, 1, "25:00"), "HH:MM"),
        (LetterSchedule(LetterCadence.WEEKLY, 1, "09:00", "Mars/Olympus"), "Region/City"),
    ],
)
def test_a_bad_schedule_is_refused_saying_what_to_write(
    schedule: LetterSchedule, words: str
) -> None:
    with pytest.raises(InvalidInputError, match=words):
        check_schedule(schedule)


def test_days_are_read_as_people_write_them() -> None:
    assert parse_day(LetterCadence.WEEKLY, "Fri") == 4
    assert parse_day(LetterCadence.WEEKLY, "4") == 4
    assert parse_day(LetterCadence.MONTHLY, "15") == 15
    with pytest.raises(InvalidInputError, match="day of the week"):
        parse_day(LetterCadence.WEEKLY, "someday")


# A tribe with a letter


@dataclass
class World:
    tribe: int
    alice: int  # chief, Paris
    bob: int
    carol: int
    dave: int  # not in the tribe: in a secret tribe with bob
    alice_feed: int
    bob_feed: int
    dave_feed: int


@pytest.fixture
def world() -> World:
    since = NOW - timedelta(days=60)
    with session_scope() as s:
        alice = b.member(s, "Alice", "Europe/Paris")
        bob = b.member(s, "Bob", "America/Chicago")
        carol = b.member(s, "Carol", "Asia/Tokyo")
        dave = b.member(s, "Dave")
        garden = r.tribe(s, "Garden Writers", alice, bob, carol, since=since)
        garden.timezone = "Europe/Paris"
        r.tribe(s, "Secret", dave, bob, since=since)
        feeds = [
            b.feed(s, m, f"https://{m.display_name.lower()}.blog/feed") for m in (alice, bob, dave)
        ]
        return World(
            b.pk(garden), b.pk(alice), b.pk(bob), b.pk(carol), b.pk(dave), *map(b.pk, feeds)
        )


def enable(world: World, *editors: int, if_unsent: IfUnsent = IfUnsent.SEND) -> None:
    """A weekly letter on Fridays at 09:00 in Paris."""
    with session_scope() as s:
        ed.configure(
            s,
            s.get_one(Tribe, world.tribe),
            cadence=LetterCadence.WEEKLY,
            day=4,
            hour="09:00",
            if_unsent=if_unsent,
            editor_ids=list(editors) or None,
        )


def published(world: World, feed: int, title: str, *, at: datetime, readers: list[int]) -> int:
    """A post reaching `readers`' streams at `at`."""
    with session_scope() as s:
        post = r.post(s, s.get_one(Feed, feed), title, at=at)
        for reader in readers:
            r.item(s, post, s.get_one(Member, reader), at=at)
        return b.pk(post)


def shared(post_id: int, *sharers: int, at: datetime) -> None:
    with session_scope() as s:
        post = s.get_one(Post, post_id)
        for sharer in sharers:
            account = r.account(s, s.get_one(Member, sharer))
            r.reshare(s, account, post, at=at)


def edition(world: World, number: int | None = None) -> Edition:
    """Edition `number` of the tribe's letter, or its latest."""
    with session_scope() as s:
        query = select(Edition).where(col(Edition.tribe_id) == world.tribe)
        if number is not None:
            query = query.where(col(Edition.number) == number)
        found = s.exec(query.order_by(col(Edition.number).desc())).first()
        assert found is not None
        return found


@pytest.fixture
def box() -> Iterator[Mailbox]:
    with Mailbox() as running:
        yield running


def deliver(box: Mailbox, now: datetime) -> int:
    """Every due email of the outbox handed to the mailbox."""
    sent = 0
    transport = SmtpTransport(MailConfig(box.host, box.port, "", "", SENDER, "none"))
    while True:
        with session_scope() as s:
            claims = claim_due(s, now=now + timedelta(seconds=1), config=OUTBOX)
        if not claims:
            return sent
        sent += send_claimed(claims, transport, config=OUTBOX, rng=random.Random(1)).sent


def beat(now: datetime) -> None:
    tick(now=now, keys=b.keys(), config=CONFIG)


# Turns


def test_editors_take_turns_in_join_order_and_the_chief_can_reorder(world: World) -> None:
    enable(world)
    with session_scope() as s:
        for who in (world.carol, world.alice):  # opted in out of join order
            ed.set_roles(
                s, member=s.get_one(Member, who), slug="garden-writers", editor=True, reader=None
            )
        tribe = s.get_one(Tribe, world.tribe)
        rotation = [e.member_id for e in ed.editors(s, tribe)]
        assert rotation == [world.alice, world.carol]  # join order: alice founded it
        assert ed.editor_after(ed.editors(s, tribe), world.alice) == world.carol
        assert ed.editor_after(ed.editors(s, tribe), world.carol) == world.alice
        ed.reorder(
            s,
            member=s.get_one(Member, world.alice),
            slug="garden-writers",
            member_ids=[world.carol],
        )
        assert [e.member_id for e in ed.editors(s, tribe)] == [world.carol, world.alice]
        with pytest.raises(InvalidInputError, match="only editors"):
            ed.reorder(
                s,
                member=s.get_one(Member, world.alice),
                slug="garden-writers",
                member_ids=[world.bob],
            )
        with pytest.raises(ForbiddenError, match="only the chief"):
            ed.reorder(s, member=s.get_one(Member, world.bob), slug="garden-writers", member_ids=[])


def test_a_swap_happens_only_when_the_other_editor_accepts(world: World) -> None:
    enable(world, world.alice, world.bob, world.carol)
    beat(NOW)
    assert edition(world).editor_id == world.alice
    with session_scope() as s:
        alice = s.get_one(Member, world.alice)
        ed.ask_swap(s, member=alice, slug="garden-writers", partner_id=world.bob)
    with session_scope() as s:  # asked again (a double click, a change of mind): replaced
        alice = s.get_one(Member, world.alice)
        ed.ask_swap(s, member=alice, slug="garden-writers", partner_id=world.carol)
    assert edition(world).editor_id == world.alice  # asked, not accepted
    with session_scope() as s, pytest.raises(NotFoundError, match="nobody asked"):
        ed.answer_swap(
            s,
            member=s.get_one(Member, world.bob),
            slug="garden-writers",
            asker_id=world.alice,
            accept=True,
        )
    with session_scope() as s:
        carol = s.get_one(Member, world.carol)
        ed.answer_swap(s, member=carol, slug="garden-writers", asker_id=world.alice, accept=True)
        assert [e.member_id for e in ed.editors(s, s.get_one(Tribe, world.tribe))] == [
            world.carol,
            world.bob,
            world.alice,
        ]
    assert edition(world).editor_id == world.carol


def test_the_chief_passes_over_the_editor_of_the_turn(world: World) -> None:
    enable(world, world.alice, world.bob, world.carol)
    beat(NOW)
    first = edition(world).id
    with session_scope() as s:  # bob's turn, after alice's
        s.get_one(Edition, first).editor_id = world.bob
    with session_scope() as s:
        chief = s.get_one(Member, world.alice)
        assert ed.pass_over(s, member=chief, slug="garden-writers") == world.carol
    assert edition(world).editor_id == world.carol  # the next after bob, not the first


def test_passing_over_the_only_editor_leaves_it_to_the_tribes_rule(world: World) -> None:
    enable(world, world.bob)
    beat(NOW)
    with session_scope() as s:
        chief = s.get_one(Member, world.alice)
        assert ed.pass_over(s, member=chief, slug="garden-writers") is None
    beat(NOW + timedelta(minutes=1))  # the beat does not hand it back to bob
    assert (edition(world).editor_id, edition(world).automatic) == (None, True)


# The draft


def test_the_draft_proposes_the_tribe_s_posts_only_with_how_many_shared_each(world: World) -> None:
    tomato = published(
        world,
        world.alice_feed,
        "Tomatoes",
        at=NOW - timedelta(days=2),
        readers=[world.bob, world.carol],
    )
    compost = published(
        world,
        world.bob_feed,
        "Compost",
        at=NOW - timedelta(days=1),
        readers=[world.alice, world.carol],
    )
    # bob's post for his secret tribe only reached dave: never the garden's to show.
    published(
        world, world.bob_feed, "Secret things", at=NOW - timedelta(days=1), readers=[world.dave]
    )
    published(world, world.dave_feed, "Dave's", at=NOW - timedelta(days=1), readers=[world.bob])
    shared(tomato, world.bob, world.carol, at=NOW - timedelta(days=1))
    shared(compost, world.dave, at=NOW - timedelta(hours=5))  # not a tribemate: not counted
    enable(world, world.bob)
    beat(NOW)
    with session_scope() as s:
        draft = drafts.editable(s, member=s.get_one(Member, world.bob), slug="garden-writers")
        assert [(c.title, c.shared_by) for c in draft.candidates] == [
            ("Compost", 0),
            ("Tomatoes", 2),
        ]
        # The automatic selection: the most shared first, grouped by author.
        assert [c.title for c, _ in draft.picks] == ["Tomatoes", "Compost"]
        with pytest.raises(InvalidInputError, match="not the tribe's"):
            drafts.save_draft(
                s,
                member=s.get_one(Member, world.bob),
                slug="garden-writers",
                subject="",
                intro="",
                picks=[drafts.Pick(99999)],
                links=[],
            )
    with session_scope() as s, pytest.raises(ForbiddenError, match="another member's turn"):
        drafts.editable(s, member=s.get_one(Member, world.carol), slug="garden-writers")
    with session_scope() as s, pytest.raises(NotFoundError):
        drafts.editable(s, member=s.get_one(Member, world.dave), slug="garden-writers")


def test_outside_links_must_be_web_links(world: World) -> None:
    enable(world, world.bob)
    beat(NOW)
    with session_scope() as s, pytest.raises(InvalidInputError, match="not a web link"):
        drafts.save_draft(
            s,
            member=s.get_one(Member, world.bob),
            slug="garden-writers",
            subject="",
            intro="",
            picks=[],
            links=[drafts.Link("javascript:alert(1)", "x")],
        )


# The beat, and the emails


def test_the_editor_is_told_reminded_and_the_letter_goes_once_to_every_reader(
    world: World, box: Mailbox
) -> None:
    tomato = published(
        world,
        world.alice_feed,
        "Tomatoes",
        at=NOW - timedelta(days=2),
        readers=[world.bob, world.carol],
    )
    enable(world, world.bob)
    with session_scope() as s:
        s.add(
            Subscriber(
                tribe_id=world.tribe, email="reader@example.net", state=SubscriberState.CONFIRMED
            )
        )
        s.add(Subscriber(tribe_id=world.tribe, email="pending@example.net"))
        carol = s.exec(
            select(Membership).where(
                col(Membership.member_id) == world.carol, col(Membership.tribe_id) == world.tribe
            )
        ).one()
        carol.letter_reader = False  # carol opted out
    beat(NOW)
    beat(NOW + timedelta(minutes=1))  # a second beat changes nothing
    deliver(box, NOW)
    turn = box.to("bob@example.com")
    assert [m["Subject"] for m in turn] == ["Your turn to write letter #1 of Garden Writers"]
    deadline = datetime(2026, 12, 4, 9, 0, tzinfo=PARIS)
    assert edition(world).deadline_at.replace(tzinfo=UTC) == deadline
    # 3 days and 1 day before the deadline, once each.
    for moment in (
        deadline - timedelta(days=3),
        deadline - timedelta(days=3, minutes=-5),
        deadline - timedelta(days=1),
    ):
        beat(moment)
        deliver(box, moment)
    assert [" ".join(str(m["Subject"]).split()[:2]) for m in box.to("bob@example.com")] == [
        "Your turn",
        "Reminder: letter",
        "Reminder: letter",
    ]
    with session_scope() as s:
        bob = s.get_one(Member, world.bob)
        drafts.save_draft(
            s,
            member=bob,
            slug="garden-writers",
            subject="Tomatoes and friends",
            intro="Hello readers,\n\nA short one this week.",
            picks=[drafts.Pick(tomato, "Alice on why they split.")],
            links=[drafts.Link("https://example.org/soil", "Soil", "Worth a read")],
        )
        drafts.schedule_send(
            s, member=bob, slug="garden-writers", send_at=None, now=NOW + timedelta(days=2)
        )
    beat(NOW + timedelta(days=2))
    beat(NOW + timedelta(days=2, minutes=1))
    deliver(box, NOW + timedelta(days=2))
    letters = [m for m in box.messages if m["Subject"] == "Tomatoes and friends"]
    assert sorted(str(m["To"]) for m in letters) == [
        "alice@example.com",
        "bob@example.com",
        "reader@example.net",
    ]
    one = letters[0]
    assert one["From"] == "Garden Writers <tribe@tribe.example.org>"
    assert one["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body, _ = parts(email(one))
    assert "Alice on why they split." in body
    assert "https://example.org/soil" in body
    assert str(one["List-Unsubscribe"]).strip("<>") in body  # the reader's own link
    sent = edition(world, 1)
    assert (sent.state, sent.recipients, sent.automatic) == (EditionState.SENT, 3, False)
    beat(NOW + timedelta(days=2, minutes=2))
    assert edition(world, 1).settled
    # The next edition opened for the next turn (bob again: the only editor), from here.
    following = edition(world)
    assert (following.number, following.editor_id) == (2, world.bob)
    assert following.since.replace(tzinfo=UTC) == NOW + timedelta(days=2)
    assert following.deadline_at.replace(tzinfo=UTC) == deadline + timedelta(days=7)


def test_at_the_deadline_the_automatic_selection_goes_or_nothing(
    world: World, box: Mailbox
) -> None:
    published(world, world.alice_feed, "Tomatoes", at=NOW - timedelta(days=2), readers=[world.bob])
    enable(world, world.bob)
    beat(NOW)
    deadline = datetime(2026, 12, 4, 9, 0, tzinfo=PARIS)
    beat(deadline - timedelta(seconds=1))
    assert edition(world).state == EditionState.DRAFT
    beat(deadline)
    first = edition(world, 1)
    assert (first.state, first.automatic) == (EditionState.SENT, True)
    assert [p["title"] for p in first.picks] == ["Tomatoes"]
    with session_scope() as s:
        s.get_one(Tribe, world.tribe)
        plan = ed.plan_of(s, s.get_one(Tribe, world.tribe))
        assert plan is not None
        plan.if_unsent = IfUnsent.SKIP
        s.add(plan)
    beat(deadline + timedelta(minutes=1))  # opens #2
    published(
        world, world.alice_feed, "Beans", at=deadline + timedelta(days=1), readers=[world.bob]
    )
    beat(deadline + timedelta(days=7))
    second = edition(world)
    assert (second.number, second.state) == (2, EditionState.SKIPPED)


def test_an_edition_with_nothing_to_say_is_skipped_not_sent(world: World) -> None:
    enable(world)
    beat(NOW)
    beat(datetime(2026, 12, 4, 9, 0, tzinfo=PARIS))
    assert edition(world, 1).state == EditionState.SKIPPED


def test_a_crash_mid_queueing_leaves_no_one_twice_and_no_one_out(
    world: World, box: Mailbox
) -> None:
    published(world, world.alice_feed, "Tomatoes", at=NOW - timedelta(days=2), readers=[world.bob])
    enable(world)
    with session_scope() as s:
        for n in range(30):
            s.add(
                Subscriber(
                    tribe_id=world.tribe, email=f"r{n}@example.net", state=SubscriberState.CONFIRMED
                )
            )
        send_current(s, s.get_one(Tribe, world.tribe), now=NOW, config=CONFIG)
    # A worker died after queueing two batches: 14 of 33 emails are in the outbox.
    edition_id = edition(world).id or 0
    first_two = LetterConfig(base_url=BASE_URL, sender=SENDER, batch=7)
    with session_scope() as s:
        tribe = s.get_one(Tribe, world.tribe)
        frozen = s.get_one(Edition, edition_id)
        partial = list(recipients(s, tribe, frozen, keys=b.keys(), base_url=BASE_URL))[:14]
        enqueue_many(
            s,
            [Queued(x.key, _email(frozen, x, sender=SENDER), x.member_id) for x in partial],
            kind="letter",
            sender=SENDER,
            due_at=NOW,
            edition_id=edition_id,
        )
    assert queue_recipients(edition_id, now=NOW, keys=b.keys(), config=first_two) == 33
    assert queue_recipients(edition_id, now=NOW, keys=b.keys(), config=first_two) == 0  # done
    deliver(box, NOW)
    received = sorted(str(m["To"]) for m in box.messages)
    assert len(received) == len(set(received)) == 33
    with session_scope() as s:
        assert progress(s, s.get_one(Edition, edition_id)).sent == 33


def test_a_subscriber_refused_three_times_in_a_row_is_set_aside(world: World, box: Mailbox) -> None:
    enable(world)
    with session_scope() as s:
        s.add(
            Subscriber(
                tribe_id=world.tribe, email="gone@example.net", state=SubscriberState.CONFIRMED
            )
        )
    box.refuse("gone@example.net", "550 5.1.1 no such mailbox here")
    day = NOW
    for n in range(3):
        published(world, world.alice_feed, f"Post {n}", at=day, readers=[world.bob])
        with session_scope() as s:
            send_current(s, s.get_one(Tribe, world.tribe), now=day, config=CONFIG)
        queue_recipients(edition(world).id or 0, now=day, keys=b.keys(), config=CONFIG)
        deliver(box, day)
        beat(day + timedelta(seconds=30))  # settles the refusals
        day += timedelta(days=8)
    with session_scope() as s:
        gone = s.exec(select(Subscriber).where(col(Subscriber.email) == "gone@example.net")).one()
        assert gone.state == SubscriberState.SET_ASIDE
        assert "no such mailbox" in gone.reason
        failed = s.exec(
            select(Mail).where(
                col(Mail.to) == "gone@example.net", col(Mail.state) == MailState.FAILED
            )
        ).all()
        assert len(failed) == 3


def test_the_letter_never_reaches_members_who_left(world: World, box: Mailbox) -> None:
    from tribe.members.tribes import leave

    published(world, world.alice_feed, "Tomatoes", at=NOW - timedelta(days=2), readers=[world.bob])
    enable(world)
    with session_scope() as s:
        leave(s, member=s.get_one(Member, world.carol), slug="garden-writers", now=NOW)
        send_current(s, s.get_one(Tribe, world.tribe), now=NOW, config=CONFIG)
    queue_recipients(edition(world).id or 0, now=NOW, keys=b.keys(), config=CONFIG)
    deliver(box, NOW)
    assert box.to("carol@example.com") == []
    assert len(box.to("bob@example.com")) == 1


def test_an_editor_given_the_turn_later_is_told_and_reminded_from_then(
    world: World, box: Mailbox
) -> None:
    enable(world, world.bob, world.carol)
    beat(NOW)
    deadline = datetime(2026, 12, 4, 9, 0, tzinfo=PARIS)
    two_days_before = deadline - timedelta(days=2)
    with session_scope() as s:
        # Two days before the deadline, bob hands his turn to carol.
        ed.ask_swap(
            s, member=s.get_one(Member, world.bob), slug="garden-writers", partner_id=world.carol
        )
        ed.answer_swap(
            s,
            member=s.get_one(Member, world.carol),
            slug="garden-writers",
            asker_id=world.bob,
            accept=True,
        )
    for moment in (
        two_days_before,
        two_days_before + timedelta(minutes=1),
        deadline - timedelta(days=1),
    ):
        beat(moment)
        deliver(box, moment)
    carol = [" ".join(str(m["Subject"]).split()[:2]) for m in box.to("carol@example.com")]
    # Told once when the turn became hers; not the 3-day reminder her turn never saw.
    assert carol == ["Your turn", "Reminder: letter"]
    assert [" ".join(str(m["Subject"]).split()[:2]) for m in box.to("bob@example.com")] == [
        "Your turn"
    ]


def test_a_letter_turned_on_before_anyone_writes_it_goes_to_the_first_who_opts_in(
    world: World, box: Mailbox
) -> None:
    enable(world)
    beat(NOW)
    assert edition(world).editor_id is None
    with session_scope() as s:
        bob = s.get_one(Member, world.bob)
        ed.set_roles(s, member=bob, slug="garden-writers", editor=True, reader=None)
    beat(NOW + timedelta(minutes=1))
    deliver(box, NOW + timedelta(minutes=1))
    assert edition(world).editor_id == world.bob
    assert [str(m["Subject"]) for m in box.to("bob@example.com")] == [
        "Your turn to write letter #1 of Garden Writers"
    ]


def test_a_send_time_in_the_past_is_refused_not_sent_at_once(world: World) -> None:
    published(world, world.alice_feed, "Tomatoes", at=NOW - timedelta(days=2), readers=[world.bob])
    enable(world, world.bob)
    beat(NOW)
    with session_scope() as s, pytest.raises(InvalidInputError, match="that time has passed"):
        drafts.schedule_send(
            s,
            member=s.get_one(Member, world.bob),
            slug="garden-writers",
            send_at=NOW - timedelta(days=30),
            now=NOW,
        )
    assert edition(world).state == EditionState.DRAFT


def test_a_letter_turned_back_on_long_after_skips_its_stale_edition(world: World) -> None:
    published(world, world.alice_feed, "Tomatoes", at=NOW - timedelta(days=2), readers=[world.bob])
    enable(world, world.bob)
    beat(NOW)
    with session_scope() as s:
        ed.disable(s, s.get_one(Tribe, world.tribe))
    enable(world, world.bob)  # a month later
    later = NOW + timedelta(days=30)
    beat(later)
    assert edition(world, 1).state == EditionState.SKIPPED  # not a month-old letter
    beat(later + timedelta(minutes=1))
    fresh = edition(world)
    assert fresh.number == 2
    assert fresh.deadline_at.replace(tzinfo=UTC) > later


def test_a_hidden_editor_is_not_named_in_the_email(world: World, box: Mailbox) -> None:
    published(world, world.alice_feed, "Tomatoes", at=NOW - timedelta(days=2), readers=[world.bob])
    enable(world, world.bob)
    beat(NOW)
    with session_scope() as s:
        bob = s.exec(
            select(Membership).where(
                col(Membership.member_id) == world.bob, col(Membership.tribe_id) == world.tribe
            )
        ).one()
        bob.public_hidden = True
        drafts.schedule_send(
            s, member=s.get_one(Member, world.bob), slug="garden-writers", send_at=None, now=NOW
        )
    beat(NOW + timedelta(seconds=30))
    deliver(box, NOW + timedelta(seconds=30))
    letters = [m for m in box.messages if str(m["Subject"]) == "Garden Writers: letter #1"]
    text, _ = parts(email(letters[0]))
    assert "Letter #1 of Garden Writers, whose members write it in turn." in text
    assert "this one by Bob" not in text


def test_an_editor_cannot_plant_a_readers_unsubscribe_link(world: World, box: Mailbox) -> None:
    """The placeholder each reader's own link replaces, typed into the letter, is not
    replaced: the only unsubscribe link in a copy is where the template puts it."""
    planted = "https://unsubscribe.invalid/letter"
    enable(world, world.bob)
    beat(NOW)
    with session_scope() as s:
        bob = s.get_one(Member, world.bob)
        drafts.save_draft(
            s,
            member=bob,
            slug="garden-writers",
            subject="Click",
            intro=f"Free seeds: {planted}",
            picks=[],
            links=[drafts.Link(planted, "Seeds")],
        )
        drafts.schedule_send(s, member=bob, slug="garden-writers", send_at=None, now=NOW)
    beat(NOW + timedelta(seconds=30))
    deliver(box, NOW + timedelta(seconds=30))
    copy = email(box.to("alice@example.com")[-1])
    own = str(copy["List-Unsubscribe"]).strip("<>")
    text, html = parts(copy)
    assert text.count(own) == 1
    assert html.count(own) == 1
    assert planted not in text
