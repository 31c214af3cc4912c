"""The digest email, composed from a real stream and sent through a real SMTP server
(aiosmtpd, in-process): at the member's local hour, once per period, daily, weekly or
off; what it says and how it is built; `set_digest`; and the `tribe digest` commands."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from config import get_settings
from tests import builders as b
from tests.cli import fails, ok
from tests.fakenet.mailbox import Mailbox, email, parts
from tribe.alliance.digest import (
    DigestConfig,
    compose,
    due_digests,
    queue_due_digests,
    queue_due_digests_in_batches,
    send_digest_now,
    set_digest,
)
from tribe.alliance.links import DigestLink, read_digest_token
from tribe.core.errors import InvalidInputError
from tribe.core.kinds import DigestMode, MailState, MembershipStatus, StreamState
from tribe.infra.db import session_scope
from tribe.infra.mail import MailConfig, SmtpTransport
from tribe.infra.models import Mail, Member, Membership, Post, StreamItem
from tribe.infra.outbox import OutboxConfig, claim_due, send_claimed
from tribe.members.accounts import add_account
from tribe.members.people import get_member
from tribe.members.tribes import leave
from tribe.stream.approvals import skip
from tribe.stream.items import fan_out
from workers import tasks
from workers.app import app

pytestmark = pytest.mark.usefixtures("db")

BASE_URL = "https://tribe.example.org"
SENDER = "tribe@tribe.example.org"
EXPIRY = timedelta(days=5)
CONFIG = DigestConfig(base_url=BASE_URL, expiry=EXPIRY, sender=SENDER)
OUTBOX = OutboxConfig(sender=SENDER, rate=0)
CHICAGO = ZoneInfo("America/Chicago")


def chicago(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Chicago (bob's zone), as the UTC moment it is."""
    return datetime(year, month, day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


# Monday 30 November 2026, 06:00 in Chicago (CST, UTC-6): the posts arrive before dawn.
ARRIVED = chicago(2026, 11, 30, 6, 0)


@dataclass
class World:
    alice: int  # writes, in Paris
    bob: int  # Chicago, X and Mastodon accounts
    carol: int  # Tokyo, no account, no digest unless a test turns it on
    feed: int


@pytest.fixture
def world() -> World:
    with session_scope() as s:
        alice = b.member(s, "Alice", "Europe/Paris")
        bob = b.member(s, "Bob", "America/Chicago")
        carol = b.member(s, "Carol", "Asia/Tokyo")
        b.tribe(s, "Garden Writers", alice, bob, carol)
        feed = b.feed(s, alice, "https://alice.blog/feed")
        add_account(s, member=alice, network="x", handle="@alice_writes")
        add_account(s, member=bob, network="x", handle="@bob")
        add_account(s, member=bob, network="mastodon", handle="@bob@mastodon.social")
        set_digest(s, carol, mode=DigestMode.OFF)
        return World(b.pk(alice), b.pk(bob), b.pk(carol), b.pk(feed))


def publish(
    world: World, n: int, *, at: datetime = ARRIVED, title: str = "Why tomatoes split"
) -> int:
    """Alice's post number `n`, published `n` minutes after `at` and fanned out then."""
    with session_scope() as s:
        post = Post(
            feed_id=world.feed,
            entry_key=f"e{n}",
            url=f"https://alice.blog/{n}",
            title=f"{title} ({n})",
            summary=f"<p>Cracks &amp; splits in <b>tomato</b> number {n}.</p>",
            published_at=at + timedelta(minutes=n),
            discovered_at=at + timedelta(minutes=n),
        )
        s.add(post)
        s.flush()
        fan_out(s, [b.pk(post)], now=at + timedelta(minutes=n))
        return b.pk(post)


def carol_with_bob(world: World) -> None:
    """carol's digest daily at 23:00 in Tokyo: the moment of bob's 08:00 in Chicago."""
    with session_scope() as s:
        set_digest(s, s.get_one(Member, world.carol), mode=DigestMode.DAILY, hour="23:00")


def item_of(member_id: int, post_id: int) -> StreamItem:
    with session_scope() as s:
        return s.exec(
            select(StreamItem).where(
                col(StreamItem.member_id) == member_id, col(StreamItem.post_id) == post_id
            )
        ).one()


def beat(now: datetime) -> int:
    """One digest beat at `now`: what it queued."""
    with session_scope() as s:
        return queue_due_digests(s, now=now, keys=b.keys(), config=CONFIG)


def deliver(box: Mailbox, now: datetime) -> None:
    """The outbox's dispatch at `now`: hand every due email to the mailbox."""
    with session_scope() as s:
        claims = claim_due(s, now=now + timedelta(seconds=1), config=OUTBOX)
    transport = SmtpTransport(MailConfig(box.host, box.port, "", "", SENDER, "none"))
    send_claimed(claims, transport, config=OUTBOX, rng=random.Random(1))


def run(box: Mailbox, now: datetime) -> int:
    queued = beat(now)
    deliver(box, now)
    return queued


def mails(member_id: int) -> list[Mail]:
    with session_scope() as s:
        return list(
            s.exec(select(Mail).where(col(Mail.member_id) == member_id).order_by(col(Mail.id)))
        )


def member(member_id: int) -> Member:
    with session_scope() as s:
        return s.get_one(Member, member_id)


def link_of(url: str) -> DigestLink:
    assert url.startswith(f"{BASE_URL}/digest/"), url
    return read_digest_token(b.keys(), url.rsplit("/", 1)[1], now=ARRIVED)


def links(text: str) -> list[DigestLink]:
    """Every digest link in a text part, read back from its token."""
    words = [w.strip("()") for w in text.split()]
    return [link_of(w) for w in words if w.startswith(f"{BASE_URL}/digest/")]


@pytest.fixture
def box() -> Iterator[Mailbox]:
    with Mailbox() as running:
        yield running


# When it comes


def test_the_digest_arrives_at_the_member_s_local_hour_once_a_day(
    world: World, box: Mailbox
) -> None:
    publish(world, 1)
    bob = "bob@example.com"
    # 08:00 in Chicago is 14:00 UTC: at 13:59 UTC (and at 08:00 in Paris) nothing yet.
    assert run(box, chicago(2026, 11, 30, 7, 59)) == 0
    assert box.to(bob) == []
    assert run(box, chicago(2026, 11, 30, 8, 0)) == 1
    assert len(box.to(bob)) == 1
    # Later beats of the same day queue nothing more.
    for later in (chicago(2026, 11, 30, 8, 1), chicago(2026, 11, 30, 23, 59)):
        assert run(box, later) == 0
    assert len(box.to(bob)) == 1
    # The next day at 08:00 in Chicago, the next one.
    assert run(box, chicago(2026, 12, 1, 7, 59)) == 0
    assert run(box, chicago(2026, 12, 1, 8, 0)) == 1
    assert len(box.to(bob)) == 2
    assert [m.key for m in mails(world.bob)] == [
        f"digest:{world.bob}:2026-11-30",
        f"digest:{world.bob}:2026-12-01",
    ]


def test_each_member_gets_it_at_their_own_hour(world: World, box: Mailbox) -> None:
    with session_scope() as s:
        set_digest(s, s.get_one(Member, world.carol), mode=DigestMode.DAILY, hour="07:30")
    publish(world, 1)
    # 08:00 in Chicago is 23:00 in Tokyo; carol's 07:30 comes 8.5 hours later.
    run(box, chicago(2026, 11, 30, 8, 0))
    assert [m["To"] for m in box.messages] == ["bob@example.com"]
    tokyo_hour = datetime(2026, 12, 1, 7, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    run(box, tokyo_hour - timedelta(minutes=1))
    assert len(box.messages) == 1
    run(box, tokyo_hour)
    assert [m["To"] for m in box.messages] == ["bob@example.com", "carol@example.com"]
    assert mails(world.carol)[0].key == f"digest:{world.carol}:2026-12-01"


def test_nothing_pending_sends_nothing(world: World, box: Mailbox) -> None:
    post = publish(world, 1)
    item = b.pk(item_of(world.bob, post))
    with session_scope() as s:
        skip(s, member=get_member(s, "bob@example.com"), item_id=item)
    run(box, chicago(2026, 11, 30, 9, 0))
    assert box.to("bob@example.com") == []
    assert mails(world.bob) == []
    # Alice wrote the post: nothing of her own waits in her stream either.
    assert mails(world.alice) == []


def test_no_digest_for_items_of_an_author_no_longer_a_tribemate(world: World) -> None:
    carol_with_bob(world)
    publish(world, 1)
    with session_scope() as s:
        leave(s, member=get_member(s, "bob@example.com"), slug="garden-writers")
        # carol's membership ends without her items being withdrawn (a race with the
        # fan-out): the stream's listing rule still keeps them out of a digest.
        mine = s.exec(select(Membership).where(col(Membership.member_id) == world.carol)).one()
        mine.status = MembershipStatus.LEFT
    now = chicago(2026, 11, 30, 8, 30)
    with session_scope() as s:
        # bob's items were withdrawn; carol's, still pending, are dropped when composing.
        assert [d.member_id for d in due_digests(s, now=now)] == [world.carol]
        assert compose(
            s, s.get_one(Member, world.carol), now=now, keys=b.keys(), base_url=BASE_URL,
            expiry=EXPIRY,
        ) is None  # fmt: skip
    assert beat(now) == 0


def test_a_post_arriving_after_the_hour_waits_for_the_next_day_s_digest(
    world: World, box: Mailbox
) -> None:
    assert run(box, chicago(2026, 11, 30, 8, 0)) == 0  # nothing pending at bob's hour
    publish(world, 1, at=chicago(2026, 11, 30, 15, 0))
    assert run(box, chicago(2026, 11, 30, 15, 5)) == 0
    assert run(box, chicago(2026, 12, 1, 8, 0)) == 1
    assert len(box.to("bob@example.com")) == 1


def test_a_beat_a_little_late_still_sends_the_digest(world: World, box: Mailbox) -> None:
    publish(world, 1)
    assert run(box, chicago(2026, 11, 30, 9, 30)) == 1
    assert len(box.to("bob@example.com")) == 1


def test_weekly_comes_on_its_day_and_hour_once_a_week(world: World, box: Mailbox) -> None:
    with session_scope() as s:
        bob = s.get_one(Member, world.bob)
        set_digest(s, bob, mode=DigestMode.WEEKLY, hour="18:30", weekday=2)  # Wednesdays
    publish(world, 1)
    for before in (chicago(2026, 11, 30, 8, 0), chicago(2026, 12, 2, 18, 29)):
        assert run(box, before) == 0
    assert run(box, chicago(2026, 12, 2, 18, 30)) == 1
    for after in (chicago(2026, 12, 3, 18, 30), chicago(2026, 12, 6, 23, 0)):
        assert run(box, after) == 0
    assert run(box, chicago(2026, 12, 9, 18, 30)) == 1
    assert len(box.to("bob@example.com")) == 2
    assert [m.key for m in mails(world.bob)] == [
        f"digest:{world.bob}:2026-W49",
        f"digest:{world.bob}:2026-W50",
    ]


def test_off_means_no_digest_ever(world: World, box: Mailbox) -> None:
    with session_scope() as s:
        set_digest(s, s.get_one(Member, world.bob), mode=DigestMode.OFF)
    publish(world, 1)
    for day in range(30, 37):
        run(box, chicago(2026, 11, 30, 8, 0) + timedelta(days=day - 30, hours=2))
    assert box.to("bob@example.com") == []


def test_many_beats_queue_one_digest_per_member_and_period(world: World) -> None:
    carol_with_bob(world)
    publish(world, 1)
    now = chicago(2026, 11, 30, 8, 30)
    assert beat(now) == 2
    assert beat(now) == 0
    assert beat(now + timedelta(minutes=1)) == 0
    # The batched runner of the beat task finds the same keys taken.
    assert queue_due_digests_in_batches(now=now, keys=b.keys(), config=CONFIG, batch=1) == 0
    assert len(mails(world.bob)) == len(mails(world.carol)) == 1


def test_the_batched_runner_queues_everyone_due_in_small_transactions(world: World) -> None:
    carol_with_bob(world)
    publish(world, 1)
    now = chicago(2026, 11, 30, 8, 30)
    with session_scope() as s:
        assert {d.member_id for d in due_digests(s, now=now)} == {world.bob, world.carol}
    assert queue_due_digests_in_batches(now=now, keys=b.keys(), config=CONFIG, batch=1) == 2
    with session_scope() as s:
        assert due_digests(s, now=now) == []
    # A budget already spent starts no batch: the next beat finds them.
    later = now + timedelta(days=1)
    spent = replace(CONFIG, budget=timedelta(seconds=-1))
    assert queue_due_digests_in_batches(now=later, keys=b.keys(), config=spent) == 0
    assert queue_due_digests_in_batches(now=later, keys=b.keys(), config=CONFIG) == 2


def test_a_member_with_unreadable_settings_is_skipped_not_the_beat(world: World) -> None:
    carol_with_bob(world)
    publish(world, 1)
    with session_scope() as s:
        s.get_one(Member, world.carol).digest_hour = "25:99"  # changed by hand
    assert beat(chicago(2026, 11, 30, 8, 30)) == 1
    assert mails(world.carol) == []


def test_the_beat_task_queues_what_is_due_now_once(world: World) -> None:
    now = datetime.now(UTC)
    publish(world, 1, at=now - timedelta(hours=1))
    with session_scope() as s:
        hour = f"{now.astimezone(CHICAGO) - timedelta(minutes=1):%H:%M}"
        set_digest(s, s.get_one(Member, world.bob), mode=DigestMode.DAILY, hour=hour)
    assert tasks.queue_digests() == 1
    assert tasks.queue_digests() == 0
    assert [m.to for m in mails(world.bob)] == ["bob@example.com"]
    entry = app.conf.beat_schedule["queue-digests"]
    assert entry["task"] == tasks.queue_digests.name == "tribe.digest.queue"
    assert entry["schedule"] == get_settings().TRIBE_DIGEST_EVERY.total_seconds() == 60
    assert app.conf.task_routes["tribe.digest.queue"] == {"queue": "scheduler"}


# What it says


def test_a_digest_is_a_real_email_in_two_parts_with_its_headers(world: World, box: Mailbox) -> None:
    publish(world, 1)
    run(box, chicago(2026, 11, 30, 8, 0))
    (raw,) = box.to("bob@example.com")
    message = email(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "1 post from your tribe to share"
    assert message["From"] == SENDER
    (row,) = mails(world.bob)
    assert message["Message-ID"] == row.message_id
    # RFC 8058: a URL to POST to, and the header that says a POST is one click.
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<")
    assert unsubscribe.endswith(">")
    assert link_of(unsubscribe[1:-1]) == DigestLink(world.bob, "unsubscribe")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(message)
    # CSS inlined (mail clients drop <style>), nothing that needs an image.
    assert "<style" not in html
    assert 'style="' in html
    assert "<img" not in html
    assert unsubscribe[1:-1] in text
    assert unsubscribe[1:-1].replace("&", "&amp;") in html


def test_the_unsubscribe_header_travels_as_a_plain_url(world: World, box: Mailbox) -> None:
    publish(world, 1)
    run(box, chicago(2026, 11, 30, 8, 0))
    (raw,) = box.to("bob@example.com")
    assert str(raw["List-Unsubscribe"]).startswith(f"<{BASE_URL}/digest/")


def test_it_lists_each_pending_item_newest_first_with_what_each_account_would_post(
    world: World, box: Mailbox
) -> None:
    posts = [publish(world, n) for n in (1, 2, 3)]
    with session_scope() as s:
        alice = s.get_one(Member, world.alice)
        alice.display_name = "Alice <Gardens> & Co"  # escaped in HTML, as is in text
    run(box, chicago(2026, 11, 30, 8, 0))
    text, html = parts(email(box.to("bob@example.com")[0]))
    assert "3 posts from your tribe are waiting for you to share" in text
    titles = [f"Why tomatoes split ({n})" for n in (3, 2, 1)]
    assert [text.index(t) for t in titles] == sorted(text.index(t) for t in titles)
    assert "1. Why tomatoes split (3)" in text
    assert "by Alice <Gardens> & Co, in Garden Writers" in text
    assert "by Alice &lt;Gardens&gt; &amp; Co, in Garden Writers" in html
    # The summary as plain text, its HTML gone.
    assert "Cracks & splits in tomato number 3." in text
    assert "<b>tomato</b>" not in html
    # The text each of bob's accounts would post, with alice's handle on X.
    assert "- X @bob:" in text
    assert "Why tomatoes split (3) https://alice.blog/3 via @alice_writes" in text
    assert "- Mastodon @bob@mastodon.social:" in text
    # Times in bob's zone: published 06:03 CST, the links end 5 days after arrival.
    assert "published Mon 30 Nov, 06:03 CST" in text
    assert "until Sat 5 Dec, 06:03 CST" in text
    assert "06:03 CST" in html
    found = links(text)
    for post in posts:
        item = item_of(world.bob, post)
        ends = item.created_at.replace(tzinfo=UTC) + EXPIRY
        assert DigestLink(world.bob, "approve", (b.pk(item),), ends) in found
        assert DigestLink(world.bob, "skip", (b.pk(item),), ends) in found
    (everything,) = [link for link in found if link.action == "all"]
    assert set(everything.item_ids) == {b.pk(item_of(world.bob, p)) for p in posts}
    assert (
        everything.expires == item_of(world.bob, posts[-1]).created_at.replace(tzinfo=UTC) + EXPIRY
    )
    assert DigestLink(world.bob, "unsubscribe") in found
    assert f"{BASE_URL}/settings" in text
    assert f"{BASE_URL}/settings" in html
    assert "You get this digest daily at 08:00 (America/Chicago)." in text


def test_a_member_with_no_account_is_told_approving_queues_nothing_yet(world: World) -> None:
    publish(world, 1)
    with session_scope() as s:
        found = compose(
            s,
            s.get_one(Member, world.carol),
            now=ARRIVED,
            keys=b.keys(),
            base_url=BASE_URL,
            expiry=EXPIRY,
        )
    assert found is not None
    assert "You have no account connected" in found.letter.text
    assert "Mon 30 Nov, 21:01 JST" in found.letter.text  # carol's zone


def test_a_long_stream_is_cut_and_the_rest_counted(world: World) -> None:
    for n in range(1, 8):
        publish(world, n)
    with session_scope() as s:
        found = compose(
            s,
            s.get_one(Member, world.bob),
            now=ARRIVED,
            keys=b.keys(),
            base_url=BASE_URL,
            expiry=EXPIRY,
            cap=5,
        )
    assert found is not None
    assert [i.title for i in found.items] == [f"Why tomatoes split ({n})" for n in (7, 6, 5, 4, 3)]
    assert found.more == 2
    assert found.letter.subject == "7 posts from your tribe to share"
    assert "...and 2 more on your stream: https://tribe.example.org/stream" in found.letter.text
    # Approve-all acts on what the member saw, no more.
    (everything,) = [link for link in links(found.letter.text) if link.action == "all"]
    assert set(everything.item_ids) == {i.item_id for i in found.items}
    assert "Approve all 5 above" in found.letter.text


def test_the_first_digest_says_how_to_change_or_stop_it_and_only_the_first(
    world: World, box: Mailbox
) -> None:
    publish(world, 1)
    assert member(world.bob).digest_sent_once is False
    run(box, chicago(2026, 11, 30, 8, 0))
    assert member(world.bob).digest_sent_once is True
    publish(world, 2)
    run(box, chicago(2026, 12, 1, 8, 0))
    first, second = (parts(email(m)) for m in box.to("bob@example.com"))
    assert "This is your first digest." in first[0]
    assert "This is your first digest." in first[1]
    assert "change it in your settings: https://tribe.example.org/settings" in first[0]
    assert "stop it with one click:" in first[0]
    assert "first digest" not in second[0]
    assert "first digest" not in second[1]
    # Every digest keeps the way out in its footer.
    assert "Stop it: https://tribe.example.org/digest/" in second[0]


def test_a_preview_changes_nothing(world: World) -> None:
    publish(world, 1)
    with session_scope() as s:
        bob = s.get_one(Member, world.bob)
        assert compose(s, bob, now=ARRIVED, keys=b.keys(), base_url=BASE_URL, expiry=EXPIRY)
    assert member(world.bob).digest_sent_once is False
    assert mails(world.bob) == []


def test_send_now_always_queues_a_new_one_and_none_when_nothing_waits(world: World) -> None:
    with session_scope() as s:
        bob = s.get_one(Member, world.bob)
        assert send_digest_now(s, bob, now=ARRIVED, keys=b.keys(), config=CONFIG) is None
    publish(world, 1)
    keys = []
    for _ in range(2):
        with session_scope() as s:
            bob = s.get_one(Member, world.bob)
            keys.append(send_digest_now(s, bob, now=ARRIVED, keys=b.keys(), config=CONFIG))
    assert [m.key for m in mails(world.bob)] == keys
    assert len(set(keys)) == 2
    # The day's own digest still comes: sending now is apart from the periods.
    assert beat(chicago(2026, 11, 30, 8, 0)) == 1


def test_a_digest_sent_by_hand_to_a_member_who_turned_it_off_says_so(world: World) -> None:
    publish(world, 1)
    with session_scope() as s:
        bob = s.get_one(Member, world.bob)
        set_digest(s, bob, mode=DigestMode.OFF)
        found = compose(s, bob, now=ARRIVED, keys=b.keys(), base_url=BASE_URL, expiry=EXPIRY)
    assert found is not None
    assert "Your digest is off: this one was sent by hand." in found.letter.text
    assert "Turn it on: https://tribe.example.org/settings" in found.letter.text
    assert "Stop it" not in found.letter.text
    assert "You get this digest" not in found.letter.text
    assert "this one was sent by hand" in (found.letter.html or "")


# The member's choice


def test_set_digest_stores_a_valid_choice() -> None:
    with session_scope() as s:
        bob = b.member(s, "Bob", "America/Chicago")
        assert (bob.digest_mode, bob.digest_hour, bob.digest_weekday) == (
            DigestMode.DAILY,
            "08:00",
            0,
        )
        set_digest(s, bob, mode=DigestMode.WEEKLY, hour="7:05", weekday=6)
        assert (bob.digest_mode, bob.digest_hour, bob.digest_weekday) == (
            DigestMode.WEEKLY,
            "07:05",
            6,
        )
        set_digest(s, bob, mode=DigestMode.OFF, hour="")  # the hour is kept, not read
        assert (bob.digest_mode, bob.digest_hour, bob.digest_weekday) == (
            DigestMode.OFF,
            "07:05",
            6,
        )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"mode": DigestMode.DAILY, "hour": "25:00"}, "'25:00' is not a time of day"),
        ({"mode": DigestMode.WEEKLY, "hour": "08:00", "weekday": 7}, "choose a day of the week"),
        ({"mode": "hourly"}, "choose daily, weekly or off for the digest"),
    ],
)
def test_set_digest_refuses_bad_input_and_changes_nothing(
    change: dict[str, object], said: str
) -> None:
    with session_scope() as s:
        bob = b.member(s, "Bob", "America/Chicago")
        with pytest.raises(InvalidInputError, match=said):
            set_digest(s, bob, **change)  # type: ignore[arg-type]
        assert (bob.digest_mode, bob.digest_hour, bob.digest_weekday) == (
            DigestMode.DAILY,
            "08:00",
            0,
        )


# The command line


@pytest.fixture
def smtp(box: Mailbox, monkeypatch: pytest.MonkeyPatch) -> Mailbox:
    """The CLI's settings point at the mailbox."""
    for name, value in box.settings().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRIBE_BASE_URL", BASE_URL)
    get_settings.cache_clear()
    return box


def test_cli_set_daily_weekly_and_off(world: World) -> None:
    assert ok("digest", "set", "bob@example.com", "--daily", "7:30") == (
        "bob@example.com: the digest daily at 07:30 (America/Chicago)\n"
    )
    assert ok("digest", "set", "bob@example.com", "--weekly", "Fri", "18:00") == (
        "bob@example.com: the digest weekly on Friday at 18:00 (America/Chicago)\n"
    )
    assert ok("digest", "set", "bob@example.com", "--off") == "bob@example.com: the digest off\n"
    stored = member(world.bob)
    assert (stored.digest_mode, stored.digest_hour, stored.digest_weekday) == (
        DigestMode.OFF,
        "18:00",
        4,
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["nobody@example.com", "--off"], "no member with the email nobody@example.com"),
        (["bob@example.com", "--daily", "8am"], "'8am' is not a time of day"),
        (["bob@example.com", "--weekly", "funday", "08:00"], "'funday' is not a day of the week"),
        (["bob@example.com", "--weekly", "mon", "24:00"], "'24:00' is not a time of day"),
        (["bob@example.com", "--daily", "08:00", "--off"], "not --daily and --off together"),
        (["bob@example.com"], "give one of --daily HH:MM, --weekly DAY HH:MM or --off"),
    ],
)
def test_cli_set_says_what_is_wrong(world: World, args: list[str], said: str) -> None:
    assert said in fails("digest", "set", *args)
    stored = member(world.bob)
    assert (stored.digest_mode, stored.digest_hour) == (DigestMode.DAILY, "08:00")


def test_cli_preview_prints_the_text_part_and_sends_nothing(world: World, smtp: Mailbox) -> None:
    assert ok("digest", "preview", "bob@example.com") == (
        "nothing is waiting in bob@example.com's stream: no digest would go "
        "(daily at 08:00 (America/Chicago))\n"
    )
    publish(world, 1, at=datetime.now(UTC) - timedelta(hours=1))
    out = ok("digest", "preview", "bob@example.com")
    assert out.startswith("Subject: 1 post from your tribe to share\n\nHi Bob,\n")
    assert "Why tomatoes split (1)" in out
    assert "Approve: https://tribe.example.org/digest/" in out
    assert smtp.messages == []
    assert mails(world.bob) == []
    assert "no member with the email x@example.com" in fails("digest", "preview", "x@example.com")


def test_cli_send_sends_now_through_the_outbox(world: World, smtp: Mailbox) -> None:
    assert ok("digest", "send", "bob@example.com") == (
        "nothing is waiting in bob@example.com's stream: no digest sent\n"
    )
    publish(world, 1, at=datetime.now(UTC) - timedelta(hours=1))
    for n in (1, 2):
        out = ok("digest", "send", "bob@example.com")
        assert out == f"sent bob@example.com's digest to {smtp.host}\n"
        assert len(smtp.to("bob@example.com")) == n
    assert [m.state for m in mails(world.bob)] == [MailState.SENT, MailState.SENT]
    first, second = (parts(email(m))[0] for m in smtp.to("bob@example.com"))
    assert "This is your first digest." in first
    assert "This is your first digest." not in second


def test_cli_send_says_when_the_server_refuses_for_good(world: World, smtp: Mailbox) -> None:
    publish(world, 1, at=datetime.now(UTC) - timedelta(hours=1))
    smtp.refuse("bob@example.com", "550 no such user")
    assert "bob@example.com's digest was not sent: " in fails("digest", "send", "bob@example.com")
    assert "550" in mails(world.bob)[0].reason


def test_cli_send_without_smtp_writes_an_eml_file(world: World) -> None:
    publish(world, 1, at=datetime.now(UTC) - timedelta(hours=1))
    out = ok("digest", "send", "bob@example.com")
    folder = get_settings().TRIBE_DATA_DIR / "outbox"
    assert out == f"sent bob@example.com's digest to the folder {folder}\n"
    (eml,) = folder.glob("*.eml")
    assert "Why tomatoes split (1)" in eml.read_text()


def test_stream_item_state_is_untouched_by_a_digest(world: World, box: Mailbox) -> None:
    post = publish(world, 1)
    run(box, chicago(2026, 11, 30, 8, 0))
    assert item_of(world.bob, post).state == StreamState.PENDING
