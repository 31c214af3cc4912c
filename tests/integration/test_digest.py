"""The digest under real worker and beat processes: two beats scanning every second and
a worker killed with SIGKILL while it sends still give each member exactly one digest
for the period, through a real SMTP server."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, func, select

from config import get_settings
from tests import builders as b
from tests.fakenet.mailbox import Mailbox
from tests.integration.cluster import cluster
from tribe.alliance.digest import digest_key
from tribe.core.digest import DigestSchedule, due_period
from tribe.core.kinds import DigestMode, MailState
from tribe.infra.db import session_scope
from tribe.infra.models import Mail, Member, Post
from tribe.stream.items import fan_out
from workers.run import commands

pytestmark = [pytest.mark.usefixtures("db"), pytest.mark.integration, pytest.mark.timeout(240)]

MEMBERS = 40
ZONES = ("America/Chicago", "Europe/Paris", "Asia/Tokyo", "Australia/Adelaide", "UTC")


def states() -> Counter[str]:
    with session_scope() as s:
        rows = s.exec(select(col(Mail.state), func.count()).group_by(col(Mail.state))).all()
    return Counter({str(state): int(n) for state, n in rows})


def members_due_now() -> dict[str, str]:
    """alice writes; MEMBERS tribemates in five zones, each with her two posts pending
    and a digest whose local hour was a few minutes ago. Their address → the key of the
    digest each must get."""
    now = datetime.now(UTC)
    expected = {}
    with session_scope() as s:
        alice = b.member(s, "Alice", "Europe/Paris")
        readers = []
        for n in range(MEMBERS):
            zone = ZONES[n % len(ZONES)]
            reader = b.member(s, f"Reader{n}", zone)
            # Weekly for some: today's weekday, so this week's digest is due too.
            local = (now - timedelta(minutes=3 + n % 7)).astimezone(ZoneInfo(zone))
            reader.digest_mode = DigestMode.WEEKLY if n % 4 == 0 else DigestMode.DAILY
            reader.digest_hour, reader.digest_weekday = f"{local:%H:%M}", local.weekday()
            readers.append(reader)
        b.tribe(s, "Garden Writers", alice, *readers)
        feed = b.feed(s, alice, "https://alice.blog/feed")
        posts = []
        for n in (1, 2):
            post = Post(feed_id=b.pk(feed), entry_key=f"e{n}", url=f"https://alice.blog/{n}",
                        title=f"Post {n}", discovered_at=now - timedelta(hours=n))  # fmt: skip
            s.add(post)
            s.flush()
            posts.append(b.pk(post))
        fan_out(s, posts, now=now - timedelta(minutes=30))
        for reader in readers:
            schedule = DigestSchedule(reader.digest_mode, reader.digest_hour,
                                      reader.digest_weekday, reader.timezone)  # fmt: skip
            period = due_period(schedule, now)
            assert period is not None, (reader.email, schedule)
            expected[reader.email] = digest_key(b.pk(reader), period)
    return expected


def test_two_beats_and_a_killed_sender_give_each_member_one_digest(tmp_path: Path) -> None:
    rng = random.Random(13)
    expected = members_due_now()
    with Mailbox() as box:
        env = {
            **box.settings(),
            "TRIBE_BASE_URL": "https://tribe.example.org",
            "TRIBE_DIGEST_EVERY": "1s", "TRIBE_DISPATCH_EVERY": "1s", "TRIBE_MAIL_RATE": "15",
            # A killed sender's batch is claimed again once its lease runs out.
            "TRIBE_PUBLISH_LEASE": "5s", "TRIBE_PUBLISH_TIMEOUT": "1s",
        }  # fmt: skip
        with cluster(tmp_path / "procs", **env) as running:
            running.start_worker("one")
            running.start_beat()
            beat_two = [*commands(get_settings())["beat"], "--schedule", str(tmp_path / "beat-two")]
            running.start("beat-two", beat_two)
            running.wait_for("digests being sent", lambda: states()["sending"] > 0, timeout=60)
            time.sleep(rng.uniform(0.2, 0.8))
            running.kill("one")
            running.start_worker("one")
            assert running.alive("beat")
            assert running.alive("beat-two")
            running.wait_for(
                "every digest to be sent",
                lambda: states()["sent"] == MEMBERS,
                timeout=120,
                explain=lambda: f"{dict(states())}, {len(box.messages)} received",
            )
            # A few more scans of both beats change nothing.
            time.sleep(3)
        received = box.messages
    by_recipient = Counter(str(m["To"]) for m in received)
    by_message_id = Counter(str(m["Message-ID"]) for m in received)
    print(f"{MEMBERS} members, {len(received)} digests received, states {dict(states())}")
    assert {to: n for to, n in by_recipient.items() if n > 1} == {}
    assert {mid: n for mid, n in by_message_id.items() if n > 1} == {}
    with session_scope() as s:
        rows = s.exec(select(Mail)).all()
        # One outbox row per member, under the key of the period due.
        assert {m.to: m.key for m in rows} == expected
        lost = {m.to: (m.state.value, m.reason) for m in rows if m.to not in by_recipient}
        # The one window SMTP leaves open (architecture.md, rule 6): a sender killed
        # between committing a row `handed` and writing the final "." loses that email,
        # which the outbox counts as sent. The window is one commit wide, so the one
        # kill here falls in it now and then (about one run in 25 on PostgreSQL); tribe
        # chose that over sending twice. More than the kill's one email lost, or one
        # lost any other way, is a bug.
        assert len(lost) <= 1, f"marked sent, never received: {lost}"
        assert set(lost.values()) <= {("sent", "sent (the server had it whole)")}, lost
        received_rows = {m.message_id for m in rows if m.to not in lost}
        assert received_rows == set(by_message_id)
        assert all(m.digest_sent_once for m in s.exec(select(Member)) if m.email in expected)
    assert states() == Counter({MailState.SENT.value: MEMBERS})
