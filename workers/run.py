"""`tribe run`: the web app, worker and beat in the foreground; one Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from types import FrameType

from config import Settings, SettingsError
from tribe.infra.keys import load_keyring
from workers.queues import Queue

STOP_GRACE_SECONDS = 20
# glibc gives each thread that allocates its own malloc arena (up to 8 per core), and
# freed memory stays in them: the worker's fetch threads grew it by ~10 MB each sweep
# (bench/poll.py). Two arenas cost nothing measurable in speed. The Dockerfile sets
# the same; an operator's own value wins.
MALLOC_ARENAS = "2"


def child_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment `tribe run` gives its processes."""
    return {"MALLOC_ARENA_MAX": MALLOC_ARENAS, **environ}


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
        "beat": [sys.executable, "-m", "celery", "-A", "workers.beat", "beat", "--loglevel", level],
        "web": [sys.executable, "-m", "tribe.cli", "web"],
    }


def start_notices(settings: Settings) -> list[str]:
    """What the operator should know before the processes start: where the keys come
    from (the local key file is made here, once, before the children race for it) and
    whether this is a dry run."""
    notices = []
    try:
        keyring = load_keyring(settings)
    except SettingsError as error:
        notices.append(str(error))
    else:
        if keyring.source == "file":
            notices.append(
                f"no TRIBE_SECRET_KEYS set: using the local key in {keyring.path} "
                "(keep it with the database; without it stored credentials cannot be read)"
            )
    if settings.dry_run:
        why = "TRIBE_DRY_RUN" if settings.TRIBE_DRY_RUN else "the default without TRIBE_SECRET_KEYS"
        notices.append(
            f"dry run ({why}): deliveries are logged, nothing is posted. "
            "Set TRIBE_DRY_RUN=false to publish for real"
        )
    return notices


def run(settings: Settings) -> int:
    """Start every process; when one stops (or on Ctrl-C / SIGTERM), stop the others."""
    settings.TRIBE_DATA_DIR.mkdir(parents=True, exist_ok=True)
    for notice in start_notices(settings):
        print(f"tribe run: {notice}", file=sys.stderr)
    env = child_environment()
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
