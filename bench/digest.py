"""Digest benchmark: 10,000 members' digests composed, queued and handed to an SMTP server.

    .venv/bin/python bench/digest.py [--members 10000] [--tribe-size 50] [--posts 5]
                                     [--senders 4] [--runs 1] [--backend sqlite|postgres]

The members are in tribes of `--tribe-size`, in five time zones, each with a daily
digest whose local hour came a few minutes ago; in each tribe `--posts` members wrote
a post, fanned out to their tribemates by the real `fan_out`, so nearly every member has
`--posts` items pending (an author has one less), and every member one social account
(X, Mastodon or Bluesky in turn) whose text each digest shows.

Then, timed apart:

- compose: the beat's work, `queue_due_digests_in_batches` as the `tribe.digest.queue`
  task runs it (the cheap scan, then batches of 100 composed and written to the outbox);
- scan again: the same beat a minute later, when every key is taken (what each beat of
  the day costs);
- send: `--senders` threads claiming the outbox like the `tribe.mail.send` task and
  handing each email over SMTP to an aiosmtpd server in this process, whose handler
  reads only the headers (To and Message-ID) of what it receives.

Printed per run: emails/s for compose and for send, the second scan's time, the peak
RSS of the process (`resource.getrusage`: seeding, composing, sending and the SMTP
server together), the emails received, and duplicates by Message-ID and by recipient
(and members without one). With `--runs N`, each run is its own process (so the peak
RSS is its own), and the median and the worst of the runs are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ZONES = ("America/Chicago", "Europe/Paris", "Asia/Tokyo", "Australia/Adelaide", "UTC")
NETWORKS = ("x", "mastodon", "bluesky")
HANDLES = (lambda n: f"m{n}", lambda n: f"m{n}@bench.social", lambda n: f"m{n}.bsky.social")
HOST = "127.0.0.2"
SENDER = "tribe@bench.example"


class Received:
    """An aiosmtpd handler that keeps only what the duplicate check needs."""

    def __init__(self) -> None:
        self.recipients: Counter[str] = Counter()
        self.message_ids: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.parser = BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = self.parser.parsebytes(envelope.original_content or envelope.content)
        with self.lock:
            self.recipients[str(headers["To"])] += 1
            self.message_ids[str(headers["Message-ID"])] += 1
        return "250 Message accepted for delivery"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pk(row: Any) -> int:
    """A flushed row's id."""
    assert row.id is not None
    return int(row.id)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def database(backend: str, folder: Path) -> tuple[str, str | None]:
    """The database URL for this run (and the PostgreSQL database to drop after)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'tribe.db'}", None
    from sqlalchemy import create_engine, text

    name = f"tribe_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, name


def drop(name: str | None) -> None:
    if name is None:
        return
    from sqlalchemy import create_engine, text

    from tribe.infra.db import dispose_engines

    dispose_engines()
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(members: int, tribe_size: int, posts: int, now: datetime) -> None:
    """Members, tribes, accounts and posts; the posts fanned out by the real code."""
    from tribe.core.kinds import DigestMode, Network, Role
    from tribe.infra.db import session_scope
    from tribe.infra.models import Account, Feed, Member, Membership, Post, Tribe
    from tribe.stream.items import fan_out

    rng = random.Random(1)
    with session_scope() as s:
        people = []
        for n in range(members):
            zone = ZONES[n % len(ZONES)]
            local = (now - timedelta(minutes=rng.randint(1, 30))).astimezone(ZoneInfo(zone))
            people.append(
                Member(
                    email=f"m{n}@bench.example",
                    display_name=f"Member {n}",
                    timezone=zone,
                    digest_mode=DigestMode.DAILY,
                    digest_hour=f"{local:%H:%M}",
                )
            )
        s.add_all(people)
        s.flush()
        s.add_all(
            Account(member_id=pk(m), network=Network(NETWORKS[n % 3]), handle=HANDLES[n % 3](n))
            for n, m in enumerate(people)
        )
        tribes = []
        for start in range(0, members, tribe_size):
            group = people[start : start + tribe_size]
            number = start // tribe_size
            tribe = Tribe(name=f"Tribe {number}", slug=f"t{number}", chief_id=pk(group[0]))
            s.add(tribe)
            tribes.append((tribe, group))
        s.flush()
        feeds = []
        for tribe, group in tribes:
            s.add_all(
                Membership(
                    tribe_id=pk(tribe), member_id=pk(m), role=Role.CHIEF if i == 0 else Role.MEMBER
                )
                for i, m in enumerate(group)
            )
            for author in group[:posts]:
                host = f"{pk(author)}.bench.blog"
                feed = Feed(owner_id=pk(author), url=f"https://{host}/feed", host=host)
                s.add(feed)
                feeds.append(feed)
        s.flush()
        summary = "<p>What the tomatoes taught me this year: " + "water early, " * 30 + "</p>"
        rows = [
            Post(
                feed_id=pk(feed),
                entry_key="e1",
                url=f"https://{feed.host}/a-post-about-gardening",
                title=f"Notes from the garden, part {feed.owner_id}",
                summary=summary,
                categories=["Gardening"],
                discovered_at=now - timedelta(hours=2),
            )
            for feed in feeds
        ]
        s.add_all(rows)
        s.flush()
        fan_out(s, [pk(p) for p in rows], now=now - timedelta(hours=1))


def send_all(senders: int, host: str, port: int) -> int:
    """`senders` threads claiming and sending the outbox until it is empty; how many sent."""
    from tribe.infra.db import session_scope
    from tribe.infra.mail import MailConfig, SmtpTransport
    from tribe.infra.outbox import OutboxConfig, claim_due, send_claimed

    config = OutboxConfig(sender=SENDER, rate=0, batch=50, lease=timedelta(minutes=10))
    sent = Counter[str]()

    def sender() -> None:
        transport = SmtpTransport(MailConfig(host, port, "", "", SENDER, "none"))
        while True:
            with session_scope() as s:
                claims = claim_due(s, now=datetime.now(UTC) + timedelta(seconds=1), config=config)
            if not claims:
                return
            report = send_claimed(claims, transport, config=config)
            sent["sent"] += report.sent

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent["sent"]


def fresh_instance(backend: str, name: str) -> str | None:
    """A new, migrated database and data folder for this process's run, in the
    environment its settings are read from; the PostgreSQL database to drop after."""
    folder = Path(tempfile.mkdtemp(prefix=f"tribe-bench-{name}-"))
    url, db_name = database(backend, folder)
    from cryptography.fernet import Fernet

    os.environ.update(
        TRIBE_DATABASE_URL=url, TRIBE_DATA_DIR=str(folder), TRIBE_LOG_LEVEL="WARNING",
        TRIBE_SECRET_KEYS=Fernet.generate_key().decode(), TRIBE_BASE_URL="https://bench.example",
        TRIBE_SMTP_FROM=SENDER,
    )  # fmt: skip
    tribe = str(Path(sys.executable).parent / "tribe")
    subprocess.run([tribe, "db", "upgrade"], check=True, capture_output=True, cwd=folder)

    import config

    config.get_settings.cache_clear()
    return db_name


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    db_name = fresh_instance(args.backend, "digest")
    from aiosmtpd.controller import Controller
    from sqlalchemy import text
    from sqlmodel import col, func, select

    import config
    from tribe.alliance.digest import DigestConfig, queue_due_digests_in_batches
    from tribe.infra.db import get_engine, read_scope
    from tribe.infra.keys import keyring_for
    from tribe.infra.models import Mail, Member, StreamItem

    settings = config.get_settings()
    try:
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        seed(args.members, args.tribe_size, args.posts, now)
        seeded = time.perf_counter() - t0
        if args.backend == "postgres":
            # What autovacuum does after a bulk load; without it the planner guesses.
            with get_engine().connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        with read_scope() as s:
            items = s.exec(select(func.count()).select_from(StreamItem)).one()
        digest = DigestConfig(
            base_url=settings.TRIBE_BASE_URL, expiry=settings.TRIBE_STREAM_EXPIRY, sender=SENDER
        )
        keys = keyring_for(settings)
        t0 = time.perf_counter()
        queued = queue_due_digests_in_batches(now=now, keys=keys, config=digest)
        composing = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = queue_due_digests_in_batches(
            now=now + timedelta(minutes=1), keys=keys, config=digest
        )
        rescan = time.perf_counter() - t0

        handler = Received()
        port = free_port()
        controller = Controller(handler, hostname=HOST, port=port)
        controller.start()
        try:
            t0 = time.perf_counter()
            sent = send_all(args.senders, HOST, port)
            sending = time.perf_counter() - t0
        finally:
            controller.stop()
        with read_scope() as s:
            addresses = set(s.exec(select(col(Member.email))))
            states = Counter(str(state) for state in s.exec(select(col(Mail.state))))
            size = s.exec(select(func.avg(func.length(col(Mail.html))))).one()
        received = sum(handler.recipients.values())
        return {
            "members": args.members, "items": items, "seed_s": seeded,
            "queued": queued, "compose_s": composing, "compose_rate": queued / composing,
            "requeued": again, "rescan_s": rescan,
            "sent": sent, "send_s": sending, "send_rate": sent / sending,
            "received": received,
            "dup_message_id": sum(n - 1 for n in handler.message_ids.values() if n > 1),
            "dup_recipient": sum(n - 1 for n in handler.recipients.values() if n > 1),
            "missing": len(addresses - set(handler.recipients)),
            "states": dict(states), "html_bytes": float(size or 0), "rss_mb": rss_mb(),
        }  # fmt: skip
    finally:
        drop(db_name)


Worst = Callable[[list[float]], float]


def run_apart(runs: int, script: str, report: Callable[[dict[str, Any]], str]) -> list[Any]:
    """`runs` runs of `script --json` with this command line, each its own process (so
    each peak RSS is its own); every run's report printed as it ends."""
    found = []
    for n in range(runs):
        command = [sys.executable, script, "--json", *sys.argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"run {n + 1} failed:\n{done.stderr}")
        found.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"run {n + 1}: {report(found[-1])}")
    return found


def summarize(runs: list[Any], figures: list[tuple[str, str, Worst]]) -> None:
    """The median and the worst of each figure, when there are several runs."""
    if len(runs) < 2:
        return
    for label, key, worst in figures:
        values = [float(r[key]) for r in runs]
        print(f"{label}: median {statistics.median(values):.0f}, worst {worst(values):.0f}")


def report(run: dict[str, Any]) -> str:
    return (
        f"{run['queued']} digests ({run['items']} items pending): compose {run['compose_rate']:.0f}/s "
        f"({run['compose_s']:.1f} s), send {run['send_rate']:.0f}/s ({run['send_s']:.1f} s), "
        f"scan with every key taken {run['rescan_s'] * 1000:.0f} ms ({run['requeued']} queued), "
        f"peak RSS {run['rss_mb']:.0f} MB; received {run['received']}, duplicates "
        f"{run['dup_message_id']} by Message-ID / {run['dup_recipient']} by recipient, "
        f"{run['missing']} members without one; states {run['states']}; "
        f"HTML part {run['html_bytes'] / 1024:.1f} KB on average"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--tribe-size", type=int, default=50)
    parser.add_argument("--posts", type=int, default=5, help="posts per tribe (items pending)")
    parser.add_argument("--senders", type=int, default=4, help="threads sending the outbox")
    parser.add_argument("--runs", type=int, default=1, help="runs, each in its own process")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one run's
    args = parser.parse_args()
    if args.json:
        print(json.dumps(one_run(args)))
        return
    backend = "SQLite" if args.backend == "sqlite" else "PostgreSQL"
    print(f"{args.members} members in tribes of {args.tribe_size}, {args.posts} posts per tribe, "
          f"{args.senders} senders, {backend}")  # fmt: skip
    runs = run_apart(args.runs, __file__, report)
    for run in runs:
        run["rescan_ms"] = run["rescan_s"] * 1000
    summarize(
        runs,
        [
            ("compose emails/s", "compose_rate", min),
            ("send emails/s", "send_rate", min),
            ("scan with every key taken, ms", "rescan_ms", max),
            ("peak RSS, MB", "rss_mb", max),
        ],
    )
    bad = [r for r in runs if r["dup_message_id"] or r["dup_recipient"] or r["missing"]
           or r["received"] != r["members"]]  # fmt: skip
    print("every member got one digest, no duplicate" if not bad else f"FAILED: {len(bad)} runs")
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
