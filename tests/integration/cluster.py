"""Real Celery workers and beat, as separate processes, on the test database and broker."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from config import get_settings
from tests.conftest import BACKEND, REDIS_URL
from workers.run import commands


@dataclass
class Cluster:
    folder: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str, concurrency: int = 4) -> None:
        command = commands(get_settings())["worker"]
        command[command.index("--hostname") + 1] = f"{name}@%h"
        command[command.index("--concurrency") + 1] = str(concurrency)
        self._start(name, command)

    def start_beat(self) -> None:
        self._start("beat", commands(get_settings())["beat"])

    def start_web(self, port: int, **env: str) -> str:
        """Start the web app on `port` and wait until it answers; its base URL."""
        base = f"http://127.0.0.1:{port}"
        self.env.update({"TRIBE_WEB_PORT": str(port), "TRIBE_BASE_URL": base, **env})
        self._start("web", commands(get_settings())["web"])
        wait_for("the web app", lambda: web_answers(base), timeout=30)
        return base

    def start(self, name: str, command: list[str]) -> None:
        """Start any command line as one of the processes (e.g. another install's `tribe`)."""
        self._start(name, command)

    def _start(self, name: str, command: list[str]) -> None:
        log = (self.folder / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            command, cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def wait_for(
        self,
        what: str,
        check: Callable[[], bool],
        timeout: float = 60,
        explain: Callable[[], str] | None = None,
    ) -> None:
        """`wait_for`, failing at once, and saying so, when one of the processes exits."""

        def done_or_died() -> bool:
            dead = {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}
            if dead:
                raise AssertionError(f"while waiting for {what}, exited: {dead}")
            return check()

        wait_for(what, done_or_died, timeout, explain)

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def cluster(folder: Path, **env: str) -> Iterator[Cluster]:
    """Processes inherit the test's settings; logs are printed when the test fails."""
    folder.mkdir(parents=True, exist_ok=True)
    if BACKEND == "postgres":
        redis.Redis.from_url(REDIS_URL).flushdb()  # no messages left by an earlier test
    merged = {**os.environ, "TRIBE_POLL_SWEEP_EVERY": "1s", **env}
    running = Cluster(folder=folder, env=merged)
    try:
        yield running
    finally:
        running.stop()
        for name in running.procs:
            lines = running.log(name).splitlines()
            # A failure's cause is often long before the end: its warnings and errors first.
            flagged = [line for line in lines if re.search(r"(WARNING|ERROR|CRITICAL)/", line)]
            print(f"----- {name} log: its first 40 warnings and errors -----")
            print("\n".join(flagged[:40]))
            print(f"----- {name} log (last 60 lines) -----")
            print("\n".join(lines[-60:]))


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float = 60,
    explain: Callable[[], str] | None = None,
) -> None:
    """Wait until `check()`; on timeout fail, with what `explain()` says about the state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    detail = f": {explain()}" if explain else ""
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{detail}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_answers(base: str) -> bool:
    """Whether the web app at `base` answers its health check."""
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
