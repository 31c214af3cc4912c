"""`tribe run` (what `make run` starts): web app, worker and beat; one Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.conftest import BACKEND, REDIS_URL
from tests.integration.cluster import free_port, wait_for, web_answers

pytestmark = pytest.mark.usefixtures("db")


def children(pid: int) -> set[int]:
    """Live child processes of `pid`, from /proc (field 4 of stat is the parent)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_one_ctrl_c_stops_the_web_app_the_worker_and_beat(tmp_path: Path) -> None:
    if BACKEND == "postgres":
        redis.Redis.from_url(REDIS_URL).flushdb()  # no messages left by an earlier test
    port = free_port()
    log = (tmp_path / "run.log").open("wb")
    # Its own process group, as a terminal's foreground job: Ctrl-C signals all of it.
    run = subprocess.Popen(
        [sys.executable, "-m", "tribe.cli", "run"],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TRIBE_WEB_PORT": str(port)},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("the web app", lambda: web_answers(base), timeout=60)
        wait_for("web, worker and beat", lambda: len(children(run.pid)) == 3, timeout=30)
        started = children(run.pid)
        os.killpg(run.pid, signal.SIGINT)
        assert run.wait(timeout=60) == 0
        assert not [pid for pid in started if alive(pid)]
        assert not web_answers(base)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        log.close()
        print((tmp_path / "run.log").read_text(errors="replace")[-3000:])
