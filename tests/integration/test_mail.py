"""The outbox under real worker and beat processes: two beats at once, and a worker
killed with SIGKILL in the middle of sending, still give each email exactly once."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from config import get_settings
from tests.fakenet.mailbox import Mailbox
from tests.integration.cluster import cluster, wait_for
from tribe.core.kinds import MailState
from tribe.infra.db import session_scope
from tribe.infra.models import Mail
from tribe.infra.outbox import Letter, enqueue
from workers.run import commands

pytestmark = [pytest.mark.usefixtures("db"), pytest.mark.integration, pytest.mark.timeout(240)]

EMAILS = 300


def states() -> Counter[str]:
    with session_scope() as s:
        rows = s.exec(select(col(Mail.state), func.count()).group_by(col(Mail.state))).all()
    return Counter({str(state): int(n) for state, n in rows})


def test_killed_senders_and_two_beats_give_each_email_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(7)
    with Mailbox() as box:
        with session_scope() as s:
            for n in range(EMAILS):
                letter = Letter(f"m{n}@example.com", f"Digest {n}", f"Your stream, {n}")
                enqueue(s, key=f"digest:{n}:2026-11-30", kind="digest", letter=letter,
                        sender="tribe@tribe.example.org")  # fmt: skip
        env = {
            **box.settings(), "TRIBE_MAIL_RATE": "150", "TRIBE_DISPATCH_EVERY": "1s",
            # A killed sender's batch is claimed again once its lease runs out.
            "TRIBE_PUBLISH_LEASE": "6s", "TRIBE_PUBLISH_TIMEOUT": "1s",
        }  # fmt: skip
        with cluster(tmp_path / "procs", **env) as running:
            running.start_worker("one")
            running.start_beat()
            beat_two = [*commands(get_settings())["beat"], "--schedule", str(tmp_path / "beat-two")]
            running.start("beat-two", beat_two)
            for kill in range(4):
                wait_for("emails being sent", lambda: states()["sending"] > 0, timeout=60)
                time.sleep(rng.uniform(0, 0.3))
                running.kill("one")
                running.start_worker("one")
                assert running.alive("beat"), f"beat died after kill {kill}"
                assert running.alive("beat-two"), f"the second beat died after kill {kill}"
            running.wait_for(
                "every email to be sent",
                lambda: states()["sent"] == EMAILS,
                timeout=180,
                explain=lambda: f"{dict(states())}, {len(box.messages)} received",
            )
        received = Counter(str(m["Message-ID"]) for m in box.messages)
    with session_scope() as s:
        rows = {m.message_id: m.reason for m in s.exec(select(Mail)).all()}
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    print(f"{EMAILS} emails, {len(box.messages)} received, states {dict(states())}")
    assert duplicates == {}
    assert set(received) <= set(rows)  # none from elsewhere
    # None lost, but for the one window SMTP leaves open (architecture.md, rule 6): a
    # sender killed between committing a row `handed` and writing the final "." loses
    # that email (at most one per kill, counted as sent), where the other order would
    # send it twice. The window is one commit wide; any other loss is a bug.
    lost = {mid: reason for mid, reason in rows.items() if mid not in received}
    assert len(lost) <= 4, lost  # one per kill at most
    assert set(lost.values()) <= {"sent (the server had it whole)"}, lost
    assert states() == Counter({MailState.SENT.value: EMAILS})
