"""Letter benchmark: one edition to 10,000 readers, queued and handed to an SMTP server.

    .venv/bin/python bench/letter.py [--readers 10000] [--senders 4] [--runs 1]
                                     [--backend sqlite|postgres]

A tribe of two members with a letter, five posts of theirs since the last edition, and
confirmed subscribers making `--readers` readers. Then, timed apart:

- queue: what `tribe letter send` and the `tribe.letter.tick` beat do: the edition
  frozen (`send_current`) and one outbox row per reader, each with its own unsubscribe
  link and headers (`queue_recipients`, 500 per transaction);
- send: `--senders` threads claiming the outbox like the `tribe.mail.send` task, with
  no rate limit (TRIBE_MAIL_RATE paces a real instance: 10 a second by default), and
  handing each email over SMTP to an aiosmtpd server in this process;
- reference: the same number of messages of the same size sent by a bare `smtplib` loop
  on one connection to the same server, no database: the floor the outbox's bookkeeping
  (a claim, a `handed` and a `sent` commit per email) is measured against.

Printed per run: emails/s queued, sent and for the reference, the peak RSS of the
process (`resource.getrusage`: seeding, queueing, sending and the SMTP server together),
the emails received, duplicates by recipient and by Message-ID, and readers without
one. With `--runs N`, each run is its own process, and the median and the worst of the
runs are printed.
"""

from __future__ import annotations

import argparse
import json
import smtplib
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.digest import (  # noqa: E402
    HOST,
    SENDER,
    Received,
    drop,
    free_port,
    fresh_instance,
    rss_mb,
    run_apart,
    send_all,
    summarize,
)


def seed(readers: int, now: datetime) -> int:
    """The tribe, its posts, its letter and its subscribers; the tribe's id."""
    from tribe.alliance.editions import configure
    from tribe.core.kinds import LetterCadence, MembershipStatus, Role, SubscriberState
    from tribe.infra.db import session_scope
    from tribe.infra.models import Feed, Member, Membership, Post, StreamItem, Subscriber, Tribe

    with session_scope() as s:
        alice = Member(email="alice@bench.example", display_name="Alice")
        bob = Member(email="bob@bench.example", display_name="Bob")
        s.add_all([alice, bob])
        s.flush()
        assert alice.id is not None
        assert bob.id is not None
        tribe = Tribe(name="Garden Writers", slug="garden-writers", chief_id=alice.id)
        s.add(tribe)
        s.flush()
        assert tribe.id is not None
        for member, role in ((alice, Role.CHIEF), (bob, Role.MEMBER)):
            s.add(Membership(tribe_id=tribe.id, member_id=member.id or 0, role=role,
                             status=MembershipStatus.ACTIVE, joined_at=now - timedelta(days=60)))  # fmt: skip
        for author, reader in ((alice, bob), (bob, alice)):
            feed = Feed(owner_id=author.id or 0, url=f"https://{author.id}.blog/feed",
                        host=f"{author.id}.blog")  # fmt: skip
            s.add(feed)
            s.flush()
            for n in range(5 if author is alice else 3):
                post = Post(feed_id=feed.id or 0, entry_key=f"e{n}", url=f"https://{feed.host}/{n}",
                            title=f"Notes from the garden, part {n}",
                            summary="<p>What the tomatoes taught me: " + "water early, " * 20,
                            discovered_at=now - timedelta(days=1, hours=n))  # fmt: skip
                s.add(post)
                s.flush()
                s.add(StreamItem(post_id=post.id or 0, member_id=reader.id or 0))
        configure(s, tribe, cadence=LetterCadence.WEEKLY, day=4, hour="09:00")
        s.add_all(
            Subscriber(
                tribe_id=tribe.id, email=f"reader{n}@bench.example", state=SubscriberState.CONFIRMED
            )
            for n in range(readers - 2)
        )
        return tribe.id


def reference(count: int, size: int, port: int) -> float:
    """Seconds for a bare smtplib loop to send `count` messages of `size` bytes."""
    message = EmailMessage()
    message["From"], message["Subject"] = SENDER, "Garden Writers: letter #1"
    message.set_content("x" * size)
    t0 = time.perf_counter()
    with smtplib.SMTP(HOST, port) as server:
        for n in range(count):
            del message["To"], message["Message-ID"]
            message["To"], message["Message-ID"] = f"ref{n}@bench.example", f"<ref{n}@bench>"
            server.send_message(message)
    return time.perf_counter() - t0


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    db_name = fresh_instance(args.backend, "letter")
    from aiosmtpd.controller import Controller
    from sqlmodel import col, func, select

    import config
    from tribe.alliance.sending import LetterConfig, queue_recipients, send_current
    from tribe.infra.db import read_scope, session_scope
    from tribe.infra.keys import keyring_for
    from tribe.infra.models import Mail, Tribe

    settings = config.get_settings()
    letter = LetterConfig(base_url=settings.TRIBE_BASE_URL, sender=SENDER)
    try:
        now = datetime.now(UTC)
        tribe_id = seed(args.readers, now)
        t0 = time.perf_counter()
        with session_scope() as s:
            tribe = s.get_one(Tribe, tribe_id)
            edition_id = send_current(s, tribe, now=now, config=letter).id or 0
        queued = queue_recipients(edition_id, now=now, keys=keyring_for(settings), config=letter)
        queueing = time.perf_counter() - t0

        handler = Received()
        port = free_port()
        controller = Controller(handler, hostname=HOST, port=port)
        controller.start()
        try:
            t0 = time.perf_counter()
            sent = send_all(args.senders, HOST, port)
            sending = time.perf_counter() - t0
            with read_scope() as s:
                size = int(s.exec(select(func.avg(func.length(col(Mail.html))))).one() or 0)
                addresses = set(s.exec(select(col(Mail.to))))
                states = Counter(str(state) for state in s.exec(select(col(Mail.state))))
            received = sum(handler.recipients.values())
            bare = reference(args.readers, size * 2, port)  # text + HTML parts
        finally:
            controller.stop()
        return {
            "readers": args.readers, "queued": queued, "queue_s": queueing,
            "queue_rate": queued / queueing, "sent": sent, "send_s": sending,
            "send_rate": sent / sending, "reference_rate": args.readers / bare,
            "received": received,
            "dup_recipient": sum(n - 1 for n in handler.recipients.values() if n > 1),
            "dup_message_id": sum(n - 1 for n in handler.message_ids.values() if n > 1),
            "missing": len(addresses - set(handler.recipients)),
            "states": dict(states), "html_bytes": size, "rss_mb": rss_mb(),
        }  # fmt: skip
    finally:
        drop(db_name)


def report(run: dict[str, Any]) -> str:
    return (
        f"{run['queued']} emails queued {run['queue_rate']:.0f}/s ({run['queue_s']:.1f} s), "
        f"sent {run['send_rate']:.0f}/s ({run['send_s']:.1f} s) vs bare smtplib "
        f"{run['reference_rate']:.0f}/s; peak RSS {run['rss_mb']:.0f} MB; received "
        f"{run['received']}, duplicates "
        f"{run['dup_recipient']} by recipient / {run['dup_message_id']} by Message-ID, "
        f"missing {run['missing']}; HTML part {run['html_bytes'] / 1024:.1f} KB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=4, help="threads sending the outbox")
    parser.add_argument("--runs", type=int, default=1, help="runs, each in its own process")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one run's
    args = parser.parse_args()
    if args.json:
        print(json.dumps(one_run(args)))
        return
    backend = "SQLite" if args.backend == "sqlite" else "PostgreSQL"
    print(f"one edition to {args.readers} readers, {args.senders} senders, {backend}")
    runs = run_apart(args.runs, __file__, report)
    summarize(
        runs,
        [
            ("queued emails/s", "queue_rate", min),
            ("sent emails/s", "send_rate", min),
            ("bare smtplib emails/s", "reference_rate", min),
            ("peak RSS, MB", "rss_mb", max),
        ],
    )
    bad = [r for r in runs if r["dup_recipient"] or r["dup_message_id"] or r["missing"]
           or r["received"] != r["readers"]]  # fmt: skip
    print("every reader got one copy, no duplicate" if not bad else f"FAILED: {len(bad)} runs")
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
