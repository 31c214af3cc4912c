"""The worker's self-check: probes sent to itself, and what it does when none returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from workers.selfcheck import SelfCheck


@dataclass
class Harness:
    now: float = 0.0
    sent: list[str] = field(default_factory=list)
    stalls: list[str] = field(default_factory=list)
    broker_down: bool = False

    def send(self, token: str) -> None:
        if self.broker_down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.sent.append(token)

    def check(self, timeout: float = 60, every: float = 12) -> SelfCheck:
        return SelfCheck(
            send=self.send,
            on_stall=self.stalls.append,
            timeout=timeout,
            every=every,
            clock=lambda: self.now,
        )

    def run(self, check: SelfCheck, until: float, answer: bool = False) -> None:
        """Tick every second up to `until`; with `answer`, each probe returns at once."""
        while self.now < until:
            self.now += 1
            before = len(self.sent)
            check.tick()
            if answer:
                for token in self.sent[before:]:
                    check.answer(token)


def test_probes_go_out_at_once_then_every_interval_answered_or_not() -> None:
    h = Harness(now=-1)
    check = h.check(timeout=60, every=12)
    h.run(check, 0)
    assert len(h.sent) == 1
    h.run(check, 11)
    assert len(h.sent) == 1
    h.run(check, 12)
    assert len(h.sent) == 2  # the first is still out: a second goes anyway
    h.run(check, 600, answer=True)
    assert h.stalls == []


def test_when_nothing_comes_back_within_the_timeout_the_worker_is_stopped_once() -> None:
    h = Harness(now=-1)
    check = h.check(timeout=60)
    h.run(check, 59)
    assert h.stalls == []
    h.run(check, 60)
    assert len(h.stalls) == 1
    assert "has come back for 60s" in h.stalls[0]
    assert "TRIBE_WORKER_STALL_TIMEOUT" in h.stalls[0]
    sent = len(h.sent)
    h.run(check, 200)
    assert (len(h.stalls), len(h.sent)) == (1, sent)  # stopped: no more probes, no more stops


def test_one_lost_probe_is_settled_by_a_later_one_that_comes_back() -> None:
    h = Harness(now=-1)
    check = h.check(timeout=60, every=12)
    h.run(check, 12)  # probes at 0 (lost) and 12
    check.answer(h.sent[1])
    h.run(check, 71)
    assert h.stalls == []  # the one at 0 would be 71 s old
    h.run(check, 84)  # nothing answered since: the one at 24 is now 60 s old
    assert len(h.stalls) == 1


def test_an_answer_to_a_probe_this_check_never_sent_does_not_count() -> None:
    h = Harness(now=-1)
    check = h.check(timeout=60)
    h.run(check, 0)
    check.answer("a token from another process")
    h.run(check, 60)
    assert len(h.stalls) == 1


def test_while_the_broker_is_down_no_clock_runs() -> None:
    """The broker goes away with a probe out: reconnecting is the consumer's job."""
    h = Harness(now=-1)
    check = h.check(timeout=60, every=12)
    h.run(check, 5)  # a probe is out
    h.broker_down = True
    h.run(check, 600)
    assert h.stalls == []
    h.broker_down = False
    h.run(check, 700, answer=True)
    assert h.stalls == []
    assert len(h.sent) > 1


def test_an_answer_that_comes_back_before_the_send_returns_counts() -> None:
    """An idle worker can run the probe on another thread before `send` has returned."""
    h = Harness(now=-1)
    check = h.check(timeout=60)

    def send_and_answer_at_once(token: str) -> None:
        h.sent.append(token)
        check.answer(token)

    check.send = send_and_answer_at_once
    h.run(check, 300)
    assert h.stalls == []


def test_a_slow_send_is_not_counted_against_the_consumer() -> None:
    h = Harness(now=-1)
    check = h.check(timeout=60)

    def slow_send(token: str) -> None:
        h.now += 100  # e.g. retries while the broker comes back
        h.sent.append(token)

    check.send = slow_send
    h.run(check, 0)
    assert h.now == 100
    check.send = h.send
    h.run(check, 150)
    assert h.stalls == []


def test_a_stopped_check_neither_probes_nor_stops_the_worker() -> None:
    h = Harness(now=-1)
    check = h.check(timeout=60)
    h.run(check, 0)
    check.stop()
    h.run(check, 600)
    assert (len(h.sent), h.stalls) == (1, [])


def test_a_prefork_worker_gets_no_self_check_and_is_told_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Prefork runs tasks in child processes, where the check's answers would never land."""
    from celery.concurrency.prefork import TaskPool as Prefork
    from celery.concurrency.thread import TaskPool as Threads

    from workers import app, selfcheck

    started: list[float] = []
    monkeypatch.setattr(selfcheck, "start", lambda send, timeout: started.append(timeout))
    app._start_self_check(SimpleNamespace(pool=object.__new__(Prefork)))
    assert started == []
    assert "needs --pool threads" in caplog.text
    app._start_self_check(SimpleNamespace(pool=object.__new__(Threads)))
    assert started == [900.0]
