"""Publishing with real worker and beat processes against local fake networks.

The fakes speak X's, Mastodon's, Bluesky's, LinkedIn's and Threads' wire contracts, and
the real client code inside the worker (tweepy, Mastodon.py, atproto, httpx) talks to
them (TRIBE_X_API_URL, TRIBE_LINKEDIN_API_URL, TRIBE_THREADS_API_URL; each Mastodon
account's instance URL).
The fault tests kill the worker with SIGKILL at random moments — between claim and
call, and between the network call and the record — and then count, over hundreds of
deliveries, what reached the network: every delivery must be there exactly once, or be
visibly unconfirmed or failed.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlmodel import col, func, select

from tests import builders as b
from tests.builders import pk
from tests.conftest import BACKEND, TEST_SECRET_KEY
from tests.fakenet.bluesky import FakeBluesky
from tests.fakenet.linkedin import FakeLinkedIn
from tests.fakenet.mastodon import FakeMastodon
from tests.fakenet.threads import FakeThreads
from tests.fakenet.x import FakeX
from tests.integration.cluster import cluster, free_port, wait_for
from tribe.core.kinds import Connection, DeliveryState, Network
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Delivery, Post
from tribe.infra.vault import Vault

pytestmark = [pytest.mark.usefixtures("db"), pytest.mark.timeout(300)]

VAULT = Vault([TEST_SECRET_KEY])
FAST = {
    "TRIBE_DISPATCH_EVERY": "1s",
    "TRIBE_DISPATCH_BATCH": "25",
    "TRIBE_PUBLISH_TIMEOUT": "1s",
    "TRIBE_PUBLISH_LEASE": "4s",
    "TRIBE_PUBLISH_RETRY_BASE": "1s",
    "TRIBE_PUBLISH_MAX_ATTEMPTS": "8",
}
_serial = itertools.count(1)


def seed(
    network: Network,
    credentials: Sequence[tuple[str, dict[str, Any], str | None]],
    per_account: int,
    *,
    base_url: str | None = None,
) -> list[int]:
    """Connected accounts (handle, credentials, remote id), each with due deliveries."""
    ids = []
    now = datetime.now(UTC)
    with session_scope() as s:
        author = b.member(s, f"Author{next(_serial)}")
        # Never due: these tests are about publishing, not polling.
        feed = b.feed(
            s,
            author,
            f"https://author{next(_serial)}.blog/feed",
            next_poll_at=datetime.now(UTC) + timedelta(days=1),
        )
        for handle, creds, remote_id in credentials:
            member = b.member(s, f"M{next(_serial)}")
            account = Account(
                member_id=pk(member),
                network=network,
                handle=handle,
                connection=Connection.CONNECTED,
                credentials=VAULT.seal(creds),
                remote_user_id=remote_id,
                base_url=base_url,
            )
            s.add(account)
            s.flush()
            for _ in range(per_account):
                n = next(_serial)
                post = Post(
                    feed_id=pk(feed),
                    entry_key=f"e{n}",
                    url=f"https://author.blog/{n}",
                    title=f"Post {n}",
                )
                s.add(post)
                s.flush()
                delivery = Delivery(
                    account_id=pk(account),
                    post_id=pk(post),
                    text=f"Post number {n} by a tribemate https://author.blog/{n}",
                    due_at=now - timedelta(seconds=1),
                )
                s.add(delivery)
                s.flush()
                ids.append(pk(delivery))
    return ids


def states() -> Counter[str]:
    with session_scope() as s:
        rows = s.exec(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
    return Counter({str(state): n for state, n in rows})


BUSY = col(Delivery.state).in_([DeliveryState.QUEUED, DeliveryState.SENDING]) | (
    (col(Delivery.state) == DeliveryState.UNCONFIRMED) & col(Delivery.lease_until).is_not(None)
)


def settled() -> bool:
    """Nothing waiting, sending, or still being checked."""
    with session_scope() as s:
        busy = s.exec(select(func.count()).select_from(Delivery).where(BUSY)).one()
    return busy == 0


def unsettled() -> str:
    """What is still busy, for a test that timed out waiting for `settled`."""
    with session_scope() as s:
        rows = s.exec(select(Delivery).where(BUSY).order_by(col(Delivery.id)).limit(5)).all()
        sample = [
            f"#{d.id} {d.state.value} attempts={d.attempts} due_at={d.due_at} "
            f"lease_until={d.lease_until} reason={d.reason!r}"
            for d in rows
        ]
    return (
        f"states {dict(states())} at {datetime.now(UTC):%H:%M:%S}; first busy: {'; '.join(sample)}"
    )


def claimed_not_started() -> bool:
    with session_scope() as s:
        waiting = s.exec(
            select(func.count())
            .select_from(Delivery)
            .where(col(Delivery.state) == DeliveryState.SENDING, col(Delivery.started_at).is_(None))
        ).one()
    return waiting > 0


def deliveries() -> list[Delivery]:
    with session_scope() as s:
        return list(s.exec(select(Delivery).order_by(col(Delivery.id))).all())


def run_with_kills(
    folder: Path, env: dict[str, str], kills: int, seed_: int, made: Callable[[], int]
) -> None:
    """A worker killed with SIGKILL `kills` times and restarted each time.

    Every other kill lands between the network call and the record: the fake acts on a
    create, then answers only 0.3 s later, and the kill follows the moment `made()` (what
    the network holds) grows. The others land between claim and call: while deliveries
    are claimed (committed, their messages sent) and not yet started, a little later
    each time.
    """
    rng = random.Random(seed_)
    with cluster(folder, **env) as running:
        running.start_worker("one")
        running.start_beat()
        for n in range(kills):
            if n % 2 == 0:
                before = made()
                wait_for("a create in flight", lambda: made() > before, timeout=60)  # noqa: B023
            else:
                wait_for("claims waiting to start", claimed_not_started, timeout=60)
                time.sleep(rng.uniform(0, 0.2))
            running.kill("one")
            running.start_worker("one")
            assert running.alive("beat"), f"beat died after kill {n}"
        running.wait_for("every delivery to settle", settled, timeout=180, explain=unsettled)


def assert_exactly_once(sent_texts: Counter[str], ids: list[int]) -> None:
    rows = [d for d in deliveries() if d.id in set(ids)]
    duplicates = sum(n - 1 for n in sent_texts.values() if n > 1)
    lost = [
        d.id
        for d in rows
        if (d.state == DeliveryState.SENT and sent_texts[d.text] == 0)
        or d.state not in (DeliveryState.SENT, DeliveryState.UNCONFIRMED, DeliveryState.FAILED)
    ]
    unrecorded = [d.id for d in rows if d.state != DeliveryState.SENT and sent_texts[d.text] == 1]
    print(f"{len(rows)} deliveries: {states()}; duplicates {duplicates}; lost {len(lost)}")
    assert duplicates == 0
    assert lost == []
    # On the network but not recorded as sent is allowed only as "unconfirmed" (visible).
    assert all(d.state == DeliveryState.UNCONFIRMED for d in rows if d.id in unrecorded)


def bluesky_credentials(fake: FakeBluesky, handle: str) -> tuple[str, dict[str, Any], str]:
    account = fake.add_account(handle)
    session = fake.session_for(account.did)
    creds = {
        "did": account.did,
        "handle": handle,
        "pds_url": fake.base_url,
        "access_jwt": session["accessJwt"],
        "refresh_jwt": session["refreshJwt"],
    }
    return handle, creds, account.did


def test_due_deliveries_reach_every_network_once_with_a_real_worker(tmp_path: Path) -> None:
    with FakeX() as x, FakeMastodon() as mastodon, FakeBluesky() as bluesky:
        x_users = [x.add_user(f"xuser{i}") for i in range(2)]
        x_ids = seed(Network.X, [(u.username, x.issue_oauth1(u), u.id) for u in x_users], 2)
        m_ids = seed(
            Network.MASTODON,
            [
                (f"muser{i}@fake.social", {"access_token": mastodon.token_for(f"muser{i}")}, None)
                for i in range(2)
            ],
            2,
            base_url=mastodon.base_url,
        )
        b_ids = seed(
            Network.BLUESKY,
            [bluesky_credentials(bluesky, f"buser{i}.bsky.social") for i in range(2)],
            2,
            base_url=bluesky.base_url,
        )
        with cluster(tmp_path / "procs", **x_env(x)) as running:
            running.start_worker("one")
            running.start_beat()
            wait_for("all deliveries sent", lambda: states()["sent"] == 12, timeout=90)
        rows = {d.id: d for d in deliveries()}
        tweets = Counter(t.original for t in x.tweets)
        assert all(tweets[rows[i].text] == 1 for i in x_ids)
        assert {rows[i].remote_id for i in x_ids} == {t.id for t in x.tweets}
        statuses = {s.id: (s.text, s.idempotency_key) for s in mastodon.statuses}
        assert statuses == {rows[i].remote_id: (rows[i].text, rows[i].key) for i in m_ids}
        records = bluesky.records(collection="app.bsky.feed.post")
        assert {r.uri: r.value["text"] for r in records} == {
            rows[i].remote_id: rows[i].text for i in b_ids
        }
        assert bluesky.login_count == 0  # sessions are resumed, never a login per post


def test_killed_workers_neither_duplicate_nor_lose_where_no_key_dedupes(tmp_path: Path) -> None:
    """X, LinkedIn and Threads have no idempotency key: after a kill mid-call the
    account's recent posts decide; a Threads container made before a kill is published,
    not made again."""
    with FakeX() as x, FakeLinkedIn() as linkedin, FakeThreads() as threads:
        users = [x.add_user(f"u{i}") for i in range(12)]
        ids = seed(Network.X, [(u.username, x.issue_oauth1(u), u.id) for u in users], 10)
        ids += linkedin_and_threads(linkedin, threads, accounts=4, each=10)
        # Every create is acted on, then answered 0.3 s later: kills land mid-call.
        x.slow(0.3, match="POST /2/tweets", times=10_000)
        slow_linkedin_and_threads(linkedin, threads, 0.3)
        env = {**x_env(x), **linkedin.env(), **threads.env()}
        made = lambda: len(x.tweets) + len(linkedin.posts) + len(threads.posts)  # noqa: E731
        run_with_kills(tmp_path / "procs", env, kills=6, seed_=1, made=made)
        sent = Counter(t.original for t in x.tweets) + published(linkedin, threads)
        checks = (
            len(x.calls("GET", "/2/users/[0-9]+/tweets"))
            + len(linkedin.calls("GET", "/rest/posts"))
            + len(threads.calls("GET", r"/v1\.0/\d+/threads"))
        )
        print(
            f"X: {len(x.tweets)} tweets; LinkedIn: {len(linkedin.posts)} posts; Threads: "
            f"{len(threads.created_containers())} containers, {len(threads.posts)} posts; "
            f"{checks} reads of recent posts"
        )
    # The kills mid-call left posts whose answer was lost: found on the account, not resent.
    assert checks > 0
    assert len(ids) == 200
    assert_exactly_once(sent, ids)


class Mixed:
    """Four fake networks at once: X and Mastodon, and LinkedIn and Threads (no
    idempotency key either; Threads posts in two steps)."""

    def __init__(self) -> None:
        self.x, self.mastodon = FakeX(), FakeMastodon()
        self.linkedin, self.threads = FakeLinkedIn(), FakeThreads()
        self.fakes = (self.x, self.mastodon, self.linkedin, self.threads)

    def __enter__(self) -> Mixed:
        for fake in self.fakes:
            fake.start()
        return self

    def __exit__(self, *_: object) -> None:
        for fake in self.fakes:
            fake.stop()

    def deliveries(self) -> list[int]:
        """200 deliveries: 80 on X, 80 on Mastodon, 20 on LinkedIn, 20 on Threads."""
        users = [self.x.add_user(f"x{i}") for i in range(8)]
        ids = seed(Network.X, [(u.username, self.x.issue_oauth1(u), u.id) for u in users], 10)
        creds = [
            (f"m{i}@fake.social", {"access_token": self.mastodon.token_for(f"m{i}")}, None)
            for i in range(8)
        ]
        ids += seed(Network.MASTODON, creds, 10, base_url=self.mastodon.base_url)
        return ids + linkedin_and_threads(self.linkedin, self.threads, accounts=2, each=10)

    def slow(self, seconds: float) -> None:
        """Every create acted on, then answered `seconds` later."""
        self.x.slow(seconds, match="POST /2/tweets", times=10_000)
        self.mastodon.slow(seconds, match="POST /api/v1/statuses", times=10_000)
        slow_linkedin_and_threads(self.linkedin, self.threads, seconds)

    def texts(self) -> Counter[str]:
        return (
            Counter(t.original for t in self.x.tweets)
            + Counter(s.text for s in self.mastodon.statuses)
            + published(self.linkedin, self.threads)
        )

    def env(self) -> dict[str, str]:
        return {**x_env(self.x), **self.linkedin.env(), **self.threads.env()}


def linkedin_and_threads(
    linkedin: FakeLinkedIn, threads: FakeThreads, *, accounts: int, each: int
) -> list[int]:
    people = [linkedin.add_user(f"Linked In {i}") for i in range(accounts)]
    ids = seed(Network.LINKEDIN, [(u.name, linkedin.credentials(u), u.id) for u in people], each)
    users = [threads.add_user(f"threads{i}") for i in range(accounts)]
    return ids + seed(
        Network.THREADS, [(u.username, threads.credentials(u), u.id) for u in users], each
    )


def slow_linkedin_and_threads(linkedin: FakeLinkedIn, threads: FakeThreads, seconds: float) -> None:
    linkedin.slow(seconds, match="POST /rest/posts", times=10_000)
    threads.slow(seconds, match="/threads_publish", times=10_000)


def published(linkedin: FakeLinkedIn, threads: FakeThreads) -> Counter[str]:
    return Counter(p.text for p in linkedin.posts) + Counter(p.text for p in threads.posts)


def x_env(x: FakeX) -> dict[str, str]:
    return {
        **FAST,
        "TRIBE_X_API_URL": x.base_url,
        "TRIBE_X_API_KEY": x.consumer_key,
        "TRIBE_X_API_SECRET": x.consumer_secret,
    }


class OwnRedis:
    """A Redis server this test owns (so restarting it disturbs nothing else)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        in_memory = ["--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen([*server, *in_memory], stdout=subprocess.DEVNULL)
        wait_for("redis to answer", self.answers, timeout=20)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # everything it held is lost: no persistence, like CI's
            self.proc.wait()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_redis_restart_mid_run_neither_duplicates_nor_loses(tmp_path: Path) -> None:
    broker = OwnRedis(free_port())  # not a fixed one: `make test` runs two suites at once
    broker.start()
    try:
        with Mixed() as fakes:
            ids = fakes.deliveries()
            fakes.slow(0.2)
            with cluster(tmp_path / "procs", **fakes.env(), TRIBE_BROKER_URL=broker.url) as running:
                running.start_worker("one")
                running.start_beat()
                wait_for("a first delivery", lambda: states()["sent"] > 20, timeout=60)
                broker.stop()  # queued messages are gone with it
                time.sleep(2)
                broker.start()
                running.wait_for("every delivery to settle", settled, 180, unsettled)
            sent = fakes.texts()
    finally:
        broker.stop()
    assert_exactly_once(sent, ids)


@pytest.mark.skipif(BACKEND != "postgres", reason="restarts the PostgreSQL server of the run")
def test_a_postgres_restart_mid_run_neither_duplicates_nor_loses(tmp_path: Path) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    with Mixed() as fakes:
        ids = fakes.deliveries()
        fakes.slow(0.2)
        with cluster(tmp_path / "procs", **fakes.env()) as running:
            running.start_worker("one")
            running.start_beat()
            wait_for("a first delivery", lambda: states()["sent"] > 20, timeout=60)
            cluster_of = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
            subprocess.run([*cluster_of, "restart", "-m", "fast"], check=True, timeout=60)
            running.wait_for("every delivery to settle", settled, 180, unsettled)
        sent = fakes.texts()
    assert_exactly_once(sent, ids)


def test_mastodon_killed_workers_neither_duplicate_nor_lose_a_delivery(tmp_path: Path) -> None:
    """Mastodon dedupes by Idempotency-Key: a call cut short is simply sent again."""
    with FakeMastodon() as mastodon:
        creds = [
            (f"m{i}@fake.social", {"access_token": mastodon.token_for(f"m{i}")}, None)
            for i in range(20)
        ]
        ids = seed(Network.MASTODON, creds, 10, base_url=mastodon.base_url)
        mastodon.slow(0.3, match="POST /api/v1/statuses", times=10_000)
        run_with_kills(
            tmp_path / "procs", FAST, kills=6, seed_=2, made=lambda: len(mastodon.statuses)
        )
        sent = Counter(s.text for s in mastodon.statuses)
        creates = len(mastodon.calls("POST", "/api/v1/statuses"))
        print(f"Mastodon: {creates} create calls, {len(mastodon.statuses)} statuses")
    # Calls cut short were sent again with the same Idempotency-Key: more calls, no more posts.
    assert creates > len(sent)
    assert len(ids) == 200
    assert_exactly_once(sent, ids)
