"""Publishing benchmark: N due deliveries through real worker and beat processes.

    .venv/bin/python bench/publish.py [--deliveries 10000] [--accounts 1000] [--rate 50]
                                      [--backend sqlite|postgres]

Local fake X, Mastodon, Bluesky, LinkedIn, Facebook and Threads servers (the ones the
tests use, speaking the real wire contracts) run in this process; the worker's real
client code (tweepy, Mastodon.py, atproto, httpx) talks to them. The deliveries are
spread over the accounts and the six networks and fall due at `--rate` per second. Printed: deliveries/s, lateness (sent time minus due
time) p50/p95/p99, duplicates (a delivery found more than once on its network) and
losses (a delivery neither on its network nor visibly unconfirmed or failed).

The reference, in the same run: the same number of posts sent by a plain loop calling
the same adapters from 16 threads, with no database, queue or schedule — the fakes'
own ceiling, so "deliveries/s" can be read against what the servers allow.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from tests.fakenet.bluesky import FakeBluesky  # noqa: E402
from tests.fakenet.common import HOST as FAKE_HOST  # noqa: E402
from tests.fakenet.facebook import FakeFacebook  # noqa: E402
from tests.fakenet.linkedin import FakeLinkedIn  # noqa: E402
from tests.fakenet.mastodon import FakeMastodon  # noqa: E402
from tests.fakenet.threads import FakeThreads  # noqa: E402
from tests.fakenet.x import FakeX  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/14"
NETWORKS = ("x", "mastodon", "bluesky", "linkedin", "facebook", "threads")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Fakes:
    x: FakeX
    mastodon: FakeMastodon
    bluesky: FakeBluesky
    linkedin: FakeLinkedIn
    facebook: FakeFacebook
    threads: FakeThreads

    def all(self) -> tuple[Any, ...]:
        return (self.x, self.mastodon, self.bluesky, self.linkedin, self.facebook, self.threads)

    def env(self) -> dict[str, str]:
        """The settings that point tribe's clients at the fakes."""
        return {
            "TRIBE_X_API_URL": self.x.base_url,
            "TRIBE_X_API_KEY": self.x.consumer_key,
            "TRIBE_X_API_SECRET": self.x.consumer_secret,
            # The fake X app is not on a paid tier: lift the per-app daily cap.
            "TRIBE_X_DAILY_POSTS_PER_APP": str(10**6),
            **self.linkedin.env(),
            **self.facebook.env(),
            **self.threads.env(),
            # The fake networks listen there; every other local address stays refused.
            "TRIBE_ALLOWED_NETWORKS": f"{FAKE_HOST}/32",
        }


def start_fakes() -> Fakes:
    # Generous limits: the benchmark measures tribe, not the fakes' rate limiting.
    many = 10**9
    return Fakes(
        x=FakeX(rate_limit=many).start(),
        mastodon=FakeMastodon(rate_limit=many).start(),
        bluesky=FakeBluesky(rate_limit=many, login_limit=many).start(),
        linkedin=FakeLinkedIn(rate_limit=many).start(),
        facebook=FakeFacebook(rate_limit=many).start(),
        threads=FakeThreads(rate_limit=many, quota_total=many).start(),
    )


def make_accounts(n: int, fakes: Fakes) -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = []
    for i in range(n):
        network = NETWORKS[i % len(NETWORKS)]
        remote, base = None, None
        if network == "x":
            user = fakes.x.add_user(f"xb{i}")
            handle, remote, creds = user.username, user.id, fakes.x.issue_oauth1(user)
        elif network == "mastodon":
            handle, base = f"mb{i}@fake.social", fakes.mastodon.base_url
            creds = {"access_token": fakes.mastodon.token_for(f"mb{i}")}
        elif network == "bluesky":
            acct = fakes.bluesky.add_account(f"bb{i}.bsky.social")
            session = fakes.bluesky.session_for(acct.did)
            handle, remote, base = acct.handle, acct.did, fakes.bluesky.base_url
            creds = {"did": acct.did, "handle": acct.handle, "pds_url": base,
                     "access_jwt": session["accessJwt"], "refresh_jwt": session["refreshJwt"]}  # fmt: skip
        else:  # LinkedIn, Facebook, Threads: the fakes make their own users and tokens
            fake = getattr(fakes, network)
            user = fake.add_user(f"Bench {network} {i}" if network != "threads" else f"tb{i}")
            handle, remote, creds = (
                getattr(user, "username", user.name),
                user.id,
                fake.credentials(user),
            )
        accounts.append({"network": network, "handle": handle, "remote": remote, "base": base,
                         "creds": creds})  # fmt: skip
    return accounts


def text_of(n: int) -> str:
    return f"Bench reshare number {n} https://bench.blog/{n}"


def seed(url: str, accounts: list[dict[str, Any]], deliveries: int, rate: float, key: str,
         start: datetime) -> None:  # fmt: skip
    from sqlalchemy import create_engine, insert

    from tribe.infra.models import Account, Delivery, Feed, Member, Post
    from tribe.infra.vault import Vault

    vault = Vault([key])
    now = datetime.now(UTC)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Member), [
            {"id": i + 1, "email": f"m{i}@bench.example", "display_name": f"M{i}",
             "timezone": "UTC", "created_at": now, "templates": {}, "queue_paused": False}
            for i in range(len(accounts))])  # fmt: skip
        conn.execute(insert(Feed).values(
            id=1, owner_id=1, url="https://bench.blog/feed", host="bench.blog", title="",
            site_url="", status="active", next_poll_at=now + timedelta(days=9),
            error_count=0, created_at=now))  # fmt: skip
        conn.execute(insert(Post), [
            {"id": n + 1, "feed_id": 1, "entry_key": f"e{n}", "url": f"https://bench.blog/{n}",
             "title": f"Post {n}", "summary": "", "categories": [], "discovered_at": now,
             "announced": True} for n in range(deliveries)])  # fmt: skip
        conn.execute(insert(Account), [
            {"id": i + 1, "member_id": i + 1, "network": a["network"], "handle": a["handle"],
             "active": True, "schedule_mode": "interval", "slots": [], "min_gap_minutes": 1,
             "window_start": "00:00", "window_end": "23:59", "daily_cap": 100, "paused": False,
             "created_at": now, "connection": "connected", "connection_note": "",
             "base_url": a["base"], "remote_user_id": a["remote"],
             "credentials": vault.seal(a["creds"]), "reshare": "post", "announce_own": False}
            for i, a in enumerate(accounts)])  # fmt: skip
        conn.execute(insert(Delivery), [
            {"account_id": n % len(accounts) + 1, "post_id": n + 1, "text": text_of(n),
             "state": "queued", "due_at": start + timedelta(seconds=n / rate), "reason": "",
             "created_at": now, "updated_at": now, "kind": "post", "key": uuid.uuid4().hex,
             "attempts": 0} for n in range(deliveries)])  # fmt: skip
    engine.dispose()


def on_network(fakes: Fakes) -> Counter[str]:
    seen: Counter[str] = Counter(t.original for t in fakes.x.tweets)
    seen.update(s.text for s in fakes.mastodon.statuses)
    seen.update(
        r.value.get("text", "") for r in fakes.bluesky.records(collection="app.bsky.feed.post")
    )
    for fake in (fakes.linkedin, fakes.facebook, fakes.threads):
        seen.update(p.text for p in fake.posts)
    return seen


def run_tribe(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    key = Fernet.generate_key().decode()
    fakes = start_fakes()
    tmp = Path(tempfile.mkdtemp(prefix="tribe-bench-publish-"))
    db_name = None
    if args.backend == "postgres":
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        db_name = f"tribe_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + db_name
    else:
        url = f"sqlite:///{tmp / 'tribe.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBE_")}
    env.update(
        TRIBE_DATABASE_URL=url, TRIBE_DATA_DIR=str(tmp), TRIBE_SECRET_KEYS=key,
        TRIBE_LOG_LEVEL="WARNING", TRIBE_DISPATCH_EVERY="1s", TRIBE_DISPATCH_BATCH="500",
        TRIBE_WORKER_CONCURRENCY=str(args.threads), TRIBE_PUBLISH_TIMEOUT="5s",
        # The bench's posts link to a made-up blog: no Bluesky card fetch looks it up.
        TRIBE_LINK_CARDS="false",
        **fakes.env(),
    )  # fmt: skip
    if args.backend == "postgres":
        env["TRIBE_BROKER_URL"] = REDIS
        import redis

        redis.Redis.from_url(REDIS).flushdb()
    tribe = str(Path(sys.executable).parent / "tribe")
    subprocess.run([tribe, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp)
    accounts = make_accounts(args.accounts, fakes)
    os.environ.update(env)
    import config

    config.get_settings.cache_clear()
    start = datetime.now(UTC) + timedelta(seconds=15)  # workers start meanwhile
    seed(url.replace("postgresql://", "postgresql+psycopg://"), accounts, args.deliveries,
         args.rate, key, start)  # fmt: skip
    from workers.run import commands

    cmds = commands(config.get_settings())
    procs = []
    for n in range(args.processes):
        worker = list(cmds["worker"])
        worker[worker.index("--hostname") + 1] = f"pub{n}@%h"
        log = (tmp / f"worker{n}.log").open("wb")
        procs.append(
            subprocess.Popen(worker, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        )
    log = (tmp / "beat.log").open("wb")
    procs.append(
        subprocess.Popen(cmds["beat"], env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    )
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    deadline = time.monotonic() + 15 + args.deliveries / args.rate + args.grace
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                busy = conn.execute(text(
                    "SELECT count(*) FROM delivery WHERE state IN ('queued', 'sending')"
                )).scalar_one()  # fmt: skip
            if busy == 0:
                break
            time.sleep(1)
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT d.state, d.text, d.due_at, d.sent_at, a.network FROM delivery d "
                "JOIN account a ON a.id = d.account_id"
            )).all()  # fmt: skip
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        engine.dispose()
    seen = on_network(fakes)
    for fake in fakes.all():
        fake.stop()
    if db_name:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
    return summarize(rows, seen, args)


def _aware(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def summarize(rows: Sequence[Any], seen: Counter[str], args: argparse.Namespace) -> dict[str, Any]:
    states = Counter(r.state for r in rows)
    sent = [r for r in rows if r.state == "sent"]
    lateness = [(_aware(r.sent_at) - _aware(r.due_at)).total_seconds() for r in sent]
    first_due = min(_aware(r.due_at) for r in rows)
    last_sent = max((_aware(r.sent_at) for r in sent), default=first_due)
    duplicates = sum(seen[r.text] - 1 for r in rows if seen[r.text] > 1)
    lost = sum(
        1 for r in rows
        if (r.state == "sent" and seen[r.text] == 0)
        or r.state not in ("sent", "unconfirmed", "failed")
    )  # fmt: skip
    by_network = {
        network: percentile(
            [(_aware(r.sent_at) - _aware(r.due_at)).total_seconds()
             for r in sent if r.network == network], 99)
        for network in NETWORKS
    }  # fmt: skip
    return {
        "p99_by_network": by_network,
        "rate": len(sent) / max((last_sent - first_due).total_seconds(), 1e-9),
        "p50": percentile(lateness, 50), "p95": percentile(lateness, 95),
        "p99": percentile(lateness, 99), "max": max(lateness, default=float("nan")),
        "duplicates": duplicates, "lost": lost, "states": dict(states),
    }  # fmt: skip


def run_reference(args: argparse.Namespace) -> float:
    """The same posts from a plain thread pool calling the adapters: the fakes' ceiling."""
    from config import Settings
    from tribe.core.kinds import Network, ReshareKind
    from tribe.core.outcomes import AccountContext, Publication
    from tribe.networks import registry

    fakes = start_fakes()
    accounts = make_accounts(args.accounts, fakes)
    settings = Settings(**fakes.env(), TRIBE_LINK_CARDS="false")  # type: ignore[arg-type]
    publishers = {n.value: registry.package(n).publisher(settings) for n in Network}

    def send(n: int) -> None:
        a = accounts[n % len(accounts)]
        context = AccountContext(
            account_id=n, handle=a["handle"], remote_user_id=a["remote"], base_url=a["base"],
            credentials=a["creds"], timeout=5.0, refresh=lambda update: a["creds"],
        )  # fmt: skip
        item = Publication(
            delivery_id=n, kind=ReshareKind.POST, text=text_of(n), link=f"https://bench.blog/{n}",
            title=f"Post {n}", summary="", target_id=None, target_cid=None,
            key=uuid.uuid4().hex, created_at=datetime.now(UTC),
        )  # fmt: skip
        publishers[Network(a["network"]).value].publish(context, item)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send, range(args.deliveries)))
    elapsed = time.perf_counter() - t0
    for fake in fakes.all():
        fake.stop()
    return int(args.deliveries) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument(
        "--rate", type=float, default=50.0, help="deliveries falling due per second"
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--processes", type=int, default=2, help="tribe worker processes")
    parser.add_argument("--threads", type=int, default=8, help="task threads per worker")
    parser.add_argument(
        "--grace", type=float, default=120, help="seconds allowed after the last due time"
    )
    args = parser.parse_args()

    reference = run_reference(args)
    result = run_tribe(args)
    backend = "SQLite + embedded broker" if args.backend == "sqlite" else "PostgreSQL + Redis"
    print(f"\n{args.deliveries} deliveries, {args.accounts} accounts over {len(NETWORKS)} networks, "
          f"due at {args.rate:g}/s; tribe on {backend}, {args.processes} workers x {args.threads} threads\n")  # fmt: skip
    print("| contender | deliveries/s | lateness p50 | p95 | p99 | max | duplicates | losses |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| reference: adapters in a 16-thread loop, no queue | {reference:.0f} | - | - | - | - | - | - |"
    )
    print(f"| tribe ({backend}) | {result['rate']:.1f} | {result['p50']:.2f} s | {result['p95']:.2f} s | "
          f"{result['p99']:.2f} s | {result['max']:.2f} s | {result['duplicates']} | {result['lost']} |")  # fmt: skip
    by_network = ", ".join(f"{n} {p:.2f} s" for n, p in result["p99_by_network"].items())
    print(f"\nlateness p99 by network: {by_network}")
    print(f"final states: {result['states']}")


if __name__ == "__main__":
    main()
