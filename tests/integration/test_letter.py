"""A letter to 2,000 readers under real worker and beat processes: the worker killed
with SIGKILL in the middle of sending, then restarted, and every reader has one copy,
through a real SMTP server."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from tests import builders as b
from tests.alliance import reshares as r
from tests.fakenet.mailbox import Mailbox
from tests.integration.cluster import cluster
from tribe.alliance.editions import configure
from tribe.alliance.sending import KIND, LetterConfig, queue_recipients, send_current
from tribe.core.kinds import LetterCadence, MailState, SubscriberState
from tribe.infra.db import session_scope
from tribe.infra.models import Mail, Subscriber

pytestmark = [pytest.mark.usefixtures("db"), pytest.mark.integration, pytest.mark.timeout(300)]

READERS = 2_000
CONFIG = LetterConfig(base_url="https://tribe.example.org", sender="tribe@tribe.example.org")


def states() -> Counter[str]:
    with session_scope() as s:
        rows = s.exec(
            select(col(Mail.state), func.count())
            .where(col(Mail.kind) == KIND)
            .group_by(col(Mail.state))
        ).all()
    return Counter({str(state): int(n) for state, n in rows})


def an_edition_for_2000_readers() -> set[str]:
    """Alice and Bob's tribe, a post of Alice's, and subscribers making 2,000 readers
    with the two members; the edition is frozen and its emails queued, as `tribe letter
    send` does. Their addresses."""
    now = datetime.now(UTC)
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        tribe = r.tribe(s, "Garden Writers", alice, bob, since=now - timedelta(days=30))
        post = r.post(s, b.feed(s, alice, "https://alice.blog/feed"), "Tomatoes", at=now)
        r.item(s, post, bob, at=now)
        configure(s, tribe, cadence=LetterCadence.WEEKLY, day=4, hour="09:00")
        s.add_all(
            Subscriber(
                tribe_id=b.pk(tribe),
                email=f"reader{n}@example.net",
                state=SubscriberState.CONFIRMED,
            )
            for n in range(READERS - 2)
        )
        s.flush()
        edition = send_current(s, tribe, now=now, config=CONFIG)
        edition_id = b.pk(edition)
    assert queue_recipients(edition_id, now=now, keys=b.keys(), config=CONFIG) == READERS
    return {"alice@example.com", "bob@example.com"} | {
        f"reader{n}@example.net" for n in range(READERS - 2)
    }


def test_a_sender_killed_mid_edition_leaves_every_reader_one_copy(tmp_path: Path) -> None:
    rng = random.Random(14)
    readers = an_edition_for_2000_readers()
    with Mailbox() as box:
        env = {
            **box.settings(),
            "TRIBE_BASE_URL": CONFIG.base_url,
            "TRIBE_DISPATCH_EVERY": "1s", "TRIBE_MAIL_RATE": "0",
            # A killed sender's batch is claimed again once its lease runs out.
            "TRIBE_PUBLISH_LEASE": "5s", "TRIBE_PUBLISH_TIMEOUT": "1s",
        }  # fmt: skip
        with cluster(tmp_path / "procs", **env) as running:
            running.start_worker("one")
            running.start_beat()
            running.wait_for(
                "a tenth of the letter sent",
                lambda: len(box.messages) >= READERS // 10,
                timeout=90,
            )
            time.sleep(rng.uniform(0.1, 0.5))
            running.kill("one")
            at_kill = len(box.messages)
            running.start_worker("one")
            running.wait_for(
                "every email to be settled",
                lambda: states()["sent"] == READERS,
                timeout=180,
                explain=lambda: f"{dict(states())}, {len(box.messages)} received",
            )
        received = box.messages
    print(f"{READERS} readers, killed at {at_kill} received, {len(received)} received in all")
    assert at_kill < READERS, "the kill came after the letter was sent: it tested nothing"
    by_recipient = Counter(str(m["To"]) for m in received)
    assert {to: n for to, n in by_recipient.items() if n > 1} == {}
    with session_scope() as s:
        rows = s.exec(select(Mail).where(col(Mail.kind) == KIND)).all()
    assert {m.to for m in rows} == readers
    lost = {m.to: (m.state.value, m.reason) for m in rows if m.to not in by_recipient}
    # The one window SMTP leaves open (architecture.md, rule 6): a sender killed between
    # committing a row `handed` and writing the final "." loses that one email, which
    # the outbox counts as sent, rather than risk sending it twice. Anything more is a bug.
    assert len(lost) <= 1, f"marked sent, never received: {lost}"
    assert set(lost.values()) <= {("sent", "sent (the server had it whole)")}, lost
    assert states() == Counter({MailState.SENT.value: READERS})
