"""A worker's check on itself: do messages sent to it come back through the broker?

Celery workers on Redis have been seen to reconnect after a broker restart and then take
nothing from their queues again, without a word (celery/celery#8030, #9054, #10205). A
process that is alive but deaf is the worst kind of failure, because nothing restarts it.

So every worker process reads a queue of its own, named for the process (two workers that
share a node name do not answer each other), and sends a small task to it every fifth of
`TRIBE_WORKER_STALL_TIMEOUT`. When the oldest probe still out is older than the timeout,
and no later one has come back either, the worker logs why and exits with status 75, and
whatever supervises it (docker compose's restart policy, systemd) starts a fresh one.
Nothing is lost by the exit: feed claims and deliveries are leased in the database, and
the next worker takes them up when their leases end.

One lost probe proves nothing (a later one that comes back clears it). A probe that
cannot be sent means the broker is away: every probe out is forgotten and the clock
starts again when one can be sent, because reconnecting is the consumer's own job.
The probes run on the worker's own threads, so this only works with `--pool threads`
(or `solo`), as tribe starts its workers.
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
# This process's own queue: only its probes go there.
QUEUE = f"tribe.selfcheck.{uuid.uuid4().hex[:16]}"


@dataclass
class SelfCheck:
    """The clock of one worker's probes; `tick()` is called every second or so."""

    send: Callable[[str], None]  # sends a probe carrying this token to this process
    on_stall: Callable[[str], None]
    timeout: float
    every: float
    clock: Callable[[], float] = time.monotonic
    # Probes out, oldest first: token -> when its send returned (None while sending).
    _out: dict[str, float | None] = field(default_factory=dict)
    _last_sent: float | None = None
    _stopped: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, token: str) -> None:
        """A probe came back (called from the task, on a pool thread).

        Every probe sent before it is settled too: the way through the broker works.
        """
        with self._lock:
            if token not in self._out:
                return  # not ours, or an older one already settled
            for sent in list(self._out):
                del self._out[sent]
                if sent == token:
                    break

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """The worker is shutting down for another reason: judge nothing more."""
        with self._lock:
            self._stopped = True

    def tick(self) -> None:
        now = self.clock()
        with self._lock:
            if self._stopped:
                return
            oldest = next((t for t in self._out.values() if t is not None), None)
            due = self._last_sent is None or now - self._last_sent >= self.every
        if oldest is not None and now - oldest >= self.timeout:
            self.stop()
            self.on_stall(
                f"no message this worker sent to its own queue ({QUEUE}) has come back for "
                f"{now - oldest:.0f}s: either it takes nothing from the broker any more, or "
                "every one of its threads has been busy that long. Exiting so that it is "
                "started again (TRIBE_WORKER_STALL_TIMEOUT)"
            )
            return
        if due:
            self._probe()

    def _probe(self) -> None:
        token = uuid.uuid4().hex
        with self._lock:  # before sending: the answer may come back before send returns
            self._out[token] = None
        try:
            self.send(token)
        except Exception as error:  # any failure to send means "broker away"
            log.warning("self-check probe not sent (%s); waiting for the broker", error)
            with self._lock:
                self._out.clear()  # what was out may be lost with the broker
                self._last_sent = self.clock()  # try again in `every`
            return
        now = self.clock()  # a slow send is the broker's time, not the consumer's
        with self._lock:
            if token in self._out:
                self._out[token] = now
            self._last_sent = now


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
        while not check.stopped:
            time.sleep(min(1.0, timeout / 10))
            check.tick()

    threading.Thread(target=run, name="tribe-self-check", daemon=True).start()
    return check


def stop() -> None:
    """The worker is shutting down: its checks judge nothing more."""
    for check in _running:
        check.stop()


def answer(token: str) -> None:
    """The probe task's body: tell this process's check its message arrived."""
    for check in _running:
        check.answer(token)
