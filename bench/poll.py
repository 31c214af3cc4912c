"""Polling benchmark: tribe's full pipeline vs the `reader` library vs a feedparser loop.

    make bench                      # or: .venv/bin/python bench/poll.py --feeds 2000

Serves N WordPress-like feeds (20 entries each) from a local server spread over 100
loopback hosts, then measures, in one run and on the same server:

- cold sweep: every feed fetched and parsed for the first time;
- warm sweep: the same feeds again, 10% of them with a new entry, the other 90%
  answering 304 to a conditional GET; three rounds, the median counts (the naive loop
  gets one);
- peak RSS of the contender's own processes (tribe: workers + beat + the web app, the
  whole `make run` stack, and each one's own peak in the notes; the database and broker
  servers are not counted);
- freshness (tribe): how long after the blog published it each warm round's new post was
  in all four tribemates' streams, p50 and p99, with every feed due at once;
- growth: tribe on SQLite again with `--growth` feeds (20,000 unless told), same hosts.

Contenders, each in its own processes:
- tribe, SQLite + embedded broker (the `make run` default), real worker and beat;
- tribe, PostgreSQL + Redis (the docker compose shape), when both answer;
- reader 3.x: `update_feeds(workers=W)`, then `update_feeds(workers=W, scheduled=False)`;
- a naive loop of `feedparser.parse(url)` (no conditional GET, one at a time);
- `tribe poll --all` on SQLite: the operator's own sweep, one process per core, start-up
  included;
- the parse floor: `feedparser.parse` alone over the same bodies (fetched first, not
  timed) in one process per core: what any contender that parses every feed is held to.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
from bench.server import host_for  # noqa: E402

PG_ADMIN = os.environ.get(
    "TRIBE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS = os.environ.get("TRIBE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
_THROWAWAY_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()  # a Fernet key
# The interpreter tribe's processes run on (--python): `make bench` gives the install
# the Dockerfile makes (`pip install .`, no dev extras), whose memory is what ships.
TRIBE_PYTHON = sys.executable
# Warm sweeps per contender (each with one more new entry in every tenth feed); the
# table shows their median, so one slow moment on a shared machine does not decide.
WARM_ROUNDS = 3


@dataclass
class Result:
    name: str
    cold: float
    warm: float
    rss_mb: float
    note: str = ""
    feeds: int = 0
    worker_mb: float = 0.0  # tribe: the largest worker process's peak
    lags: list[float] = field(default_factory=list)  # tribe: published -> in the stream, s


def urls(feeds: int, hosts: int, port: int) -> list[str]:
    return [f"http://{host_for(i, hosts)}:{port}/feed/{i}.xml" for i in range(feeds)]


@contextmanager
def feed_server(feeds: int, hosts: int, port: int) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--feeds", str(feeds), "--hosts", str(hosts),
         "--port", str(port)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("the feed server did not start")
    control = f"http://{host_for(0, hosts)}:{port}"
    try:
        yield control
    finally:
        proc.terminate()
        proc.wait()


def warm_up(control: str) -> datetime:
    """One more warm round on the feed server: the moment its new posts were out."""
    answer = urllib.request.urlopen(control + "/__warm", timeout=120).read()
    return datetime.fromisoformat(answer.decode())


class PeakRSS:
    """Samples the RSS of some processes (each with its children) until stopped: the
    peak of their sum, and each one's own peak."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids
        self.peak = 0
        self.each: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in self._pids():
                try:
                    proc = psutil.Process(pid)
                    own = proc.memory_info().rss
                    own += sum(c.memory_info().rss for c in proc.children(recursive=True))
                except psutil.Error:
                    continue
                total += own
                self.each[pid] = max(self.each.get(pid, 0), own)
            self.peak = max(self.peak, total)
            self._stop.wait(0.1)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- contenders run in a child process: `python bench/poll.py --contender NAME` --------


def contender_reader(feed_urls: list[str], control: str, workers: int, tmp: Path) -> dict[str, Any]:
    import logging

    from reader import make_reader

    logging.disable(logging.CRITICAL)
    reader = make_reader(str(tmp / "reader.sqlite"))
    for url in feed_urls:
        reader.add_feed(url)
    started = time.perf_counter()
    reader.update_feeds(workers=workers, scheduled=False)
    cold = time.perf_counter() - started
    warms = []
    for _ in range(WARM_ROUNDS):
        warm_up(control)
        started = time.perf_counter()
        reader.update_feeds(workers=workers, scheduled=False)
        warms.append(time.perf_counter() - started)
    return {"cold": cold, "warm": statistics.median(warms), "warms": warms}


def contender_naive(feed_urls: list[str], control: str, workers: int, tmp: Path) -> dict[str, Any]:
    import feedparser

    started = time.perf_counter()
    for url in feed_urls:
        feedparser.parse(url)
    cold = time.perf_counter() - started
    warm_up(control)
    started = time.perf_counter()
    for url in feed_urls:
        feedparser.parse(url)
    warm = time.perf_counter() - started
    return {"cold": cold, "warm": warm}


def contender_floor(feed_urls: list[str], control: str, workers: int, tmp: Path) -> dict[str, Any]:
    """The parse floor: `feedparser.parse` alone over the same bodies on every core (the
    bodies fetched first, untimed): no contender that parses every feed can beat it."""
    from concurrent.futures import ThreadPoolExecutor
    from multiprocessing import Pool

    import feedparser

    def body(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return bytes(answer.read())

    with ThreadPoolExecutor(workers) as pool:
        bodies = list(pool.map(body, feed_urls))
    cores = os.cpu_count() or 1
    with Pool(cores) as parsers:
        started = time.perf_counter()
        parsers.map(feedparser.parse, bodies, chunksize=16)
        took = time.perf_counter() - started
    return {"cold": took, "warm": took, "cores": cores}


def run_in_child(name: str, feed_urls: list[str], control: str, workers: int) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "urls.json").write_text(json.dumps(feed_urls))
        out = subprocess.run(
            [sys.executable, __file__, "--contender", name, "--control", control,
             "--workers", str(workers), "--tmp", tmp],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    timings = json.loads(out.stdout.strip().splitlines()[-1])
    note = _rounds(timings.get("warms", []))
    if name == "floor":
        name = "parse floor (feedparser.parse only)"
        note = f"{timings['cores']} processes; every body parsed, warm or not"
    peak = timings["peak_kb"] / 1024
    return Result(name, timings["cold"], timings["warm"], peak, note, feeds=len(feed_urls))


def _rounds(warms: list[float]) -> str:
    """The warm rounds behind a median, for the notes column."""
    return f"warm rounds {', '.join(f'{w:.1f}' for w in warms)} s" if len(warms) > 1 else ""


# --- tribe ---------------------------------------------------------------------------------


def tribe_env(backend: str, tmp: Path, workers: int, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBE_")}
    env.update(
        TRIBE_DATABASE_URL=database_url,
        TRIBE_DATA_DIR=str(tmp),
        TRIBE_ALLOWED_NETWORKS="127.0.1.0/24",
        TRIBE_CONTACT_URL="mailto:bench@example.org",
        TRIBE_POLL_SWEEP_EVERY="1s",
        TRIBE_WORKER_CONCURRENCY="4",
        TRIBE_FETCH_CONCURRENCY=str(workers),
        TRIBE_LOG_LEVEL="WARNING",
        # Polling only: nothing is published. The web app still wants a key (on
        # PostgreSQL there is no local key file to fall back on): a throwaway one.
        TRIBE_DRY_RUN="true",
        TRIBE_SECRET_KEYS=_THROWAWAY_KEY,
    )
    from workers.run import child_environment

    env = child_environment(env)  # what `tribe run` gives its processes
    if backend == "postgres":
        env["TRIBE_BROKER_URL"] = REDIS
    return env


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'tribe.db'}"
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"tribe_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed_feeds(
    backend: str, tmp: Path, workers: int, url: str, feed_urls: list[str]
) -> tuple[dict[str, str], Any]:
    """A migrated database holding a tribe of five, the first member owning the feeds
    (not due yet): the settings of this run, and an engine on it. A new post of theirs
    is announced to the four others: the fan-out is part of what is measured."""
    from sqlalchemy import create_engine, insert

    env = tribe_env(backend, tmp, workers, url)
    tribe = str(Path(TRIBE_PYTHON).parent / "tribe")
    subprocess.run([tribe, "db", "upgrade"], env=env, check=True, capture_output=True)
    if backend == "postgres":
        import redis

        redis.Redis.from_url(REDIS).flushdb()
    os.environ.update(env)  # the models below read settings once
    from tribe.core.urls import host_of
    from tribe.infra.models import Feed, Member, Membership, Tribe

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    now = datetime.now(UTC)
    later = now + timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(
            insert(Member),
            [
                {
                    "id": n,
                    "email": f"bench{n}@example.org",
                    "display_name": f"Bench {n}",
                    "timezone": "UTC",
                    "templates": {},
                    "created_at": now,
                }
                for n in range(1, 6)
            ],
        )
        conn.execute(
            insert(Tribe).values(
                id=1, name="Bench", slug="bench", chief_id=1, created_at=now, invite_issued_at=now
            )
        )
        conn.execute(
            insert(Membership),
            [{"tribe_id": 1, "member_id": n, "joined_at": now} for n in range(1, 6)],
        )
        conn.execute(insert(Feed), [
            {"owner_id": 1, "url": u, "host": host_of(u), "title": "", "site_url": "",
             "status": "active", "next_poll_at": later, "error_count": 0,
             "created_at": datetime.now(UTC)} for u in feed_urls])  # fmt: skip
    return env, engine


def run_tribe_poll(backend: str, feed_urls: list[str], control: str, workers: int) -> Result:
    """`tribe poll --all` (what an operator runs right after `tribe import`): the whole
    command, start-up included, cold and then warm like the others."""
    with tempfile.TemporaryDirectory() as tmp_name, database(backend, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        env, engine = seed_feeds(backend, tmp, workers, url, feed_urls)
        tribe = str(Path(TRIBE_PYTHON).parent / "tribe")

        def once() -> tuple[float, int]:
            started = time.perf_counter()
            command = [tribe, "poll", "--all", "--workers", str(workers)]
            proc = subprocess.Popen(command, env=env, cwd=tmp, **quiet(tmp, "poll"))
            with PeakRSS(lambda: [proc.pid]) as rss:
                proc.wait()
            return time.perf_counter() - started, rss.peak

        try:
            settle(engine)
            cold, peak = once()
            warms = []
            for _ in range(WARM_ROUNDS):
                settle(engine)
                warm_up(control)
                took, used = once()
                warms.append(took)
                peak = max(peak, used)
        finally:
            engine.dispose()
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    note = (
        f"{os.cpu_count()} processes (one per core), {workers} fetch threads each; {_rounds(warms)}"
    )
    name = f"tribe poll --all ({label})"
    return Result(name, cold, statistics.median(warms), peak / 2**20, note, feeds=len(feed_urls))


def run_tribe(
    backend: str, feed_urls: list[str], control: str, workers: int, processes: int
) -> Result:
    from sqlalchemy import func, select, update
    from sqlmodel import col

    with tempfile.TemporaryDirectory() as tmp_name, database(backend, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        env, engine = seed_feeds(backend, tmp, workers, url, feed_urls)
        from tribe.infra.models import Feed
        from workers.run import commands

        procs: list[subprocess.Popen[bytes]] = []
        import config

        config.get_settings.cache_clear()
        cmds = {
            name: [TRIBE_PYTHON, *command[1:]]  # the interpreter of the install measured
            for name, command in commands(config.get_settings()).items()
        }
        for n in range(processes):
            worker = list(cmds["worker"])
            worker[worker.index("--hostname") + 1] = f"bench{n}@%h"
            procs.append(subprocess.Popen(worker, env=env, cwd=tmp, **quiet(tmp, f"worker{n}")))
        procs.append(subprocess.Popen(cmds["beat"], env=env, cwd=tmp, **quiet(tmp, "beat")))
        # The web app too: the whole `make run` stack is measured (idle during sweeps,
        # after one page load).
        web_env = {**env, "TRIBE_WEB_PORT": str(_free_port())}
        procs.append(subprocess.Popen(cmds["web"], env=web_env, cwd=tmp, **quiet(tmp, "web")))

        def count(where: Any) -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(select(func.count()).select_from(Feed).where(where)).scalar_one()
                )

        from workers.app import make_app

        app = make_app(config.load_settings())  # this run's broker

        def sweep() -> float:
            started = datetime.now(UTC)
            with engine.begin() as conn:
                conn.execute(update(Feed).values(next_poll_at=started))
            t0 = time.perf_counter()
            # What beat sends every TRIBE_POLL_SWEEP_EVERY, sent now: we time the sweep,
            # not the wait for beat's next tick.
            app.send_task("tribe.feeds.poll_due_feeds")
            while count(col(Feed.last_polled_at) >= started) < len(feed_urls):
                time.sleep(0.05)
            return time.perf_counter() - t0

        try:
            from tribe.infra.models import Heartbeat

            while count_rows(engine, Heartbeat) == 0:  # a first sweep: worker and beat are up
                time.sleep(0.2)
            _load_page(f"http://127.0.0.1:{web_env['TRIBE_WEB_PORT']}/login", procs[-1], tmp)
            with PeakRSS(lambda: [p.pid for p in procs]) as rss:
                settle(engine)
                cold = sweep()
                warms: list[float] = []
                lags: list[float] = []
                for _ in range(WARM_ROUNDS):
                    settle(engine)
                    published = warm_up(control)
                    warms.append(sweep())
                    lags += stream_lags(engine, published)
            errors = count(Feed.last_outcome == "error")
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
            engine.dispose()
    label = "SQLite + embedded broker" if backend == "sqlite" else "PostgreSQL + Redis"
    note = f"{processes} worker processes, {workers} fetch threads each" + (
        f", {errors} errors" if errors else ""
    )
    mb = [rss.each.get(p.pid, 0) / 2**20 for p in procs]
    workers_mb = ", ".join(f"{m:.0f}" for m in mb[:-2])
    note += f"; peak RSS: workers {workers_mb} MB, beat {mb[-2]:.0f} MB, web {mb[-1]:.0f} MB"
    note += f"; {_rounds(warms)}"
    return Result(
        f"tribe ({label})", cold, statistics.median(warms), rss.peak / 2**20, note,
        feeds=len(feed_urls), worker_mb=max(mb[:-2]), lags=lags,
    )  # fmt: skip


def stream_lags(engine: Any, published: datetime) -> list[float]:
    """For each stream item made since `published`: how long after it the item was made."""
    from sqlalchemy import select
    from sqlmodel import col

    from tribe.infra.models import StreamItem

    with engine.connect() as conn:
        made = conn.execute(
            select(col(StreamItem.created_at)).where(col(StreamItem.created_at) >= published)
        ).scalars()
        return [
            ((w if w.tzinfo else w.replace(tzinfo=UTC)) - published).total_seconds() for w in made
        ]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _load_page(url: str, web: subprocess.Popen[bytes], folder: Path) -> None:
    """The web app answered a page (it is up, and has rendered once); if it never does,
    what its log says."""
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except OSError:
            if web.poll() is not None or time.monotonic() > deadline:
                log = (folder / "web.log").read_text(errors="replace")[-2000:]
                raise SystemExit(
                    f"the web app did not answer {url}; its log ends:\n{log}"
                ) from None
            time.sleep(0.3)


def settle(engine: Any) -> None:
    """On PostgreSQL, what autovacuum does between two real sweeps (15 minutes apart):
    fresh statistics, so neither sweep races an autovacuum of the rows just written."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def quiet(folder: Path, name: str) -> dict[str, Any]:
    log = (folder / f"{name}.log").open("wb")
    return {"stdout": log, "stderr": subprocess.STDOUT}


def count_rows(engine: Any, model: Any) -> int:
    from sqlalchemy import func, select

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def postgres_and_redis_answer() -> bool:
    try:
        import psycopg
        import redis

        psycopg.connect(PG_ADMIN.replace("+psycopg", ""), connect_timeout=3).close()
        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
    except Exception:
        return False
    return True


def print_table(results: list[Result], feeds: int, hosts: int) -> None:
    """The table, with each contender's feeds/s as a multiple of reader's, tribe's cold
    sweep as a share of the parse floor, and tribe's freshness below."""
    by_name = {r.name: r for r in results}
    reader = next((r for r in results if r.name.startswith("reader")), None)
    floor = next((r for r in results if r.name.startswith("parse floor")), None)
    print()
    print(f"{feeds} feeds x 20 entries, {hosts} hosts; warm = 10% changed (a post published "
          f"that moment), 90% answer 304 (median of {WARM_ROUNDS} rounds; the naive loop: one)")  # fmt: skip
    header = (
        f"{'contender':<44} {'cold s':>7} {'cold f/s':>9} {'x reader':>8} {'warm s':>7} "
        f"{'warm f/s':>9} {'x reader':>8} {'peak RSS':>9}  notes"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        cold, warm = r.feeds / r.cold, r.feeds / r.warm
        x_cold = f"{cold / (reader.feeds / reader.cold):.2f}x" if reader else ""
        x_warm = f"{warm / (reader.feeds / reader.warm):.2f}x" if reader else ""
        note = r.note
        if floor and r.name.startswith("tribe ("):
            note = f"cold = {cold / (floor.feeds / floor.cold):.0%} of the parse floor; {note}"
        if r.feeds != feeds:
            first = by_name.get(r.name.split(",")[0])
            if first:
                note = (
                    f"cold {cold / (first.feeds / first.cold):.0%}, warm "
                    f"{warm / (first.feeds / first.warm):.0%} of the {first.feeds}-feed row's "
                    f"feeds/s; largest worker {r.worker_mb:.0f} MB vs {first.worker_mb:.0f} MB; "
                    + r.note
                )
        print(
            f"{r.name:<44} {r.cold:>7.1f} {cold:>9.0f} {x_cold:>8} {r.warm:>7.1f} "
            f"{warm:>9.0f} {x_warm:>8} {r.rss_mb:>7.0f}MB  {note}"
        )
    for r in results:
        if r.lags:
            lags = sorted(r.lags)
            p50, p99 = lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            expected = -(-r.feeds // 10) * 4 * WARM_ROUNDS
            print(
                f"freshness, {r.name}: a new post was in all 4 tribemates' streams "
                f"p50 {p50:.1f} s, p99 {p99:.1f} s after the blog published it "
                f"({len(lags)} of {expected} stream items; every feed due at once). A real "
                "post waits first for its feed's next poll (TRIBE_POLL_INTERVAL) and beat's "
                "next sweep (TRIBE_POLL_SWEEP_EVERY)."
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--workers", type=int, default=16, help="threads for every contender")
    parser.add_argument("--processes", type=int, default=2, help="tribe worker processes")
    parser.add_argument(
        "--growth", type=int, default=20000,
        help="then tribe on SQLite again with this many feeds (0: skip)",
    )  # fmt: skip
    parser.add_argument(
        "--only", help="comma-separated: floor,reader,naive,tribe-poll,tribe-sqlite,tribe-postgres"
    )
    parser.add_argument(
        "--python", default=sys.executable,
        help="the Python of the tribe install to measure (default: this one)",
    )  # fmt: skip
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--control", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.contender:  # we are the child process of one contender
        feed_urls = json.loads((Path(args.tmp) / "urls.json").read_text())
        import resource

        contend = {
            "reader": contender_reader,
            "naive": contender_naive,
            "floor": contender_floor,
        }[args.contender]
        timings = contend(feed_urls, args.control, args.workers, Path(args.tmp))
        timings["peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(timings))
        return

    global TRIBE_PYTHON  # noqa: PLW0603 - read by the tribe runners
    TRIBE_PYTHON = os.path.abspath(args.python)  # the processes start in a temporary folder
    everyone = "floor,reader,naive,tribe-poll,tribe-sqlite,tribe-postgres"
    wanted = set((args.only or everyone).split(","))
    feed_urls = urls(args.feeds, args.hosts, args.port)
    results: list[Result] = []
    plan: list[tuple[str, Callable[[str], Result]]] = [
        ("floor", lambda c: run_in_child("floor", feed_urls, c, args.workers)),
        ("reader", lambda c: run_in_child("reader", feed_urls, c, args.workers)),
        ("naive", lambda c: run_in_child("naive", feed_urls, c, args.workers)),
        ("tribe-poll", lambda c: run_tribe_poll("sqlite", feed_urls, c, args.workers)),
        ("tribe-sqlite", lambda c: run_tribe("sqlite", feed_urls, c, args.workers, args.processes)),
        (
            "tribe-postgres",
            lambda c: run_tribe("postgres", feed_urls, c, args.workers, args.processes),
        ),
    ]
    for name, run in plan:
        if name not in wanted:
            continue
        if name == "tribe-postgres" and not postgres_and_redis_answer():
            print("skipping tribe on PostgreSQL + Redis: they do not answer", file=sys.stderr)
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        with feed_server(args.feeds, args.hosts, args.port) as control:  # fresh, cold documents
            results.append(run(control))
        print_table(results, args.feeds, args.hosts)
    if args.growth and "tribe-sqlite" in wanted:
        print(f"running tribe-sqlite with {args.growth} feeds ...", file=sys.stderr, flush=True)
        many = urls(args.growth, args.hosts, args.port)
        with feed_server(args.growth, args.hosts, args.port) as control:
            grown = run_tribe("sqlite", many, control, args.workers, args.processes)
        grown.name += f", {args.growth} feeds"
        results.append(grown)
        print_table(results, args.feeds, args.hosts)
    if not results:
        raise SystemExit("nothing ran")


if __name__ == "__main__":
    main()
