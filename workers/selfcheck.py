"""A worker's check on itself: does a message sent to it come back through the broker?

Celery workers on Redis have been seen to reconnect after a broker restart and then take
nothing from their queues again, without a word (celery/celery#8030, #9054, #10205). A
process that is alive but deaf is the worst kind of failure, because nothing restarts it.

So every worker sends a small task to its own queue now and then. When one has not come
back within `TRIBE_WORKER_STALL_TIMEOUT`, the worker logs why and exits, and whatever
supervises it (docker compose's restart policy, systemd) starts a fresh one. Nothing is
lost by the exit: feed claims and deliveries are leased in the database, and a task in
hand is acknowledged only when it is done.

A probe that cannot be sent (the broker is down) starts no clock: reconnecting is the
consumer's own job, and it logs each attempt.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("tribe.worker")

# Exit status of a worker that stopped itself because it no longer hears the broker.
STALLED_EXIT = 75  # EX_TEMPFAIL: try again
# How long the warm shutdown may take before the process ends anyway.
SHUTDOWN_GRACE_SECONDS = 30.0


@dataclass
class SelfCheck:
    """The clock of one worker's probes; `tick()` is called every second or so."""

    send: Callable[[str], None]  # sends a probe carrying this token to the worker itself
    on_stall: Callable[[str], None]
    timeout: float
    every: float
    clock: Callable[[], float] = time.monotonic
    _pending: tuple[str, float] | None = None
    _last_answer: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, token: str) -> None:
        """A probe came back (called from the task, on a pool thread)."""
        with self._lock:
            if self._pending is not None and self._pending[0] == token:
                self._pending = None
                self._last_answer = self.clock()

    def tick(self) -> None:
        now = self.clock()
        with self._lock:
            pending, last = self._pending, self._last_answer
        if pending is not None:
            waited = now - pending[1]
            if waited >= self.timeout:
                self.on_stall(
                    f"this worker has taken nothing from the broker for {waited:.0f}s: a "
                    "message it sent to itself is still waiting. Exiting so that it is "
                    "started again (TRIBE_WORKER_STALL_TIMEOUT)"
                )
            return
        if last is not None and now - last < self.every:
            return
        token = uuid.uuid4().hex
        with self._lock:  # before sending: the answer may come back before send returns
            self._pending = (token, now)
        try:
            self.send(token)
        except Exception as error:  # any failure to send means "broker away"
            log.debug("self-check not sent (%s); the consumer is reconnecting", error)
            with self._lock:
                if self._pending is not None and self._pending[0] == token:
                    self._pending = None


_stalled = threading.Event()


def stalled() -> bool:
    """Whether this process is stopping because its self-check failed."""
    return _stalled.is_set()


def stop_this_process(reason: str) -> None:
    """Warm shutdown (tasks in hand finish); the hard way if that does not end it."""
    log.critical("%s", reason)
    _stalled.set()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(SHUTDOWN_GRACE_SECONDS)
    log.critical("warm shutdown did not finish in %.0fs; exiting", SHUTDOWN_GRACE_SECONDS)
    os._exit(STALLED_EXIT)


_running: list[SelfCheck] = []  # this process's check, once its worker is ready


def start(send: Callable[[str], None], timeout: float) -> SelfCheck:
    """Run this process's self-check on a daemon thread; probes go out every timeout/5."""
    check = SelfCheck(send=send, on_stall=stop_this_process, timeout=timeout, every=timeout / 5)
    _running.append(check)

    def run() -> None:
        while True:
            time.sleep(min(1.0, timeout / 10))
            check.tick()

    threading.Thread(target=run, name="tribe-self-check", daemon=True).start()
    return check


def answer(token: str) -> None:
    """The probe task's body: tell this process's check its message arrived."""
    for check in _running:
        check.answer(token)
