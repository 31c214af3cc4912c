"""`tribe run`: the web app, worker and beat in the foreground; one Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from types import FrameType

from config import Settings
from workers.queues import Queue

STOP_GRACE_SECONDS = 20


def commands(settings: Settings) -> dict[str, list[str]]:
    celery = [sys.executable, "-m", "celery", "-A", "workers.app"]
    level = settings.TRIBE_LOG_LEVEL.upper()
    return {
        "worker": [
            *celery,
            "worker",
            "--loglevel",
            level,
            "--pool",
            "threads",
            "--concurrency",
            str(settings.TRIBE_WORKER_CONCURRENCY),
            "--queues",
            ",".join(q.value for q in Queue),
            "--hostname",
            "worker@%h",
            # Workers share nothing through mingle (start-up state sync) or gossip
            # (watching each other's events): the database coordinates them. Both steps
            # reconnect after a broker restart and have hung there (celery/celery#8030,
            # #9054); without them a worker goes straight back to its queues.
            "--without-mingle",
            "--without-gossip",
        ],
        "beat": [*celery, "beat", "--loglevel", level],
        "web": [sys.executable, "-m", "tribe.cli", "web"],
    }


def child_environment(settings: Settings) -> tuple[dict[str, str], str | None]:
    """The environment for worker and beat, and what to tell the operator about it.

    With no TRIBE_SECRET_KEYS at all (a fresh checkout) nothing could be sent, so the
    local run logs what it would send instead (dry run) and says so. A key that is set
    but is a placeholder stops the worker with a clear message instead.
    """
    env = dict(os.environ)
    if settings.TRIBE_DRY_RUN:
        return env, "dry run (TRIBE_DRY_RUN): deliveries are logged, nothing is sent"
    if not settings.TRIBE_SECRET_KEYS.strip():
        env["TRIBE_DRY_RUN"] = "true"
        return env, (
            "no TRIBE_SECRET_KEYS configured, so this is a dry run: deliveries are logged, "
            "nothing is sent. Set a key (tribe keys generate) to connect accounts and publish"
        )
    return env, None


def run(settings: Settings) -> int:
    """Start every process; when one stops (or on Ctrl-C / SIGTERM), stop the others."""
    settings.TRIBE_DATA_DIR.mkdir(parents=True, exist_ok=True)
    env, notice = child_environment(settings)
    if notice:
        print(f"tribe run: {notice}", file=sys.stderr)
    procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands(settings).items()}
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            code = proc.poll()
            if code is not None:
                print(f"tribe run: {name} exited with status {code}; stopping", file=sys.stderr)
                exit_code = code or 1
                stopping = True
        time.sleep(0.2)
    _stop_all(procs.values())
    return exit_code


def _stop_all(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in running:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
