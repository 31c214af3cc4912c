"""The worker's self-check: probes sent to itself, and what it does when one never returns."""

from __future__ import annotations

from dataclasses import dataclass, field

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
        return SelfCheck(send=self.send, on_stall=self.stalls.append, timeout=timeout,
                         every=every, clock=lambda: self.now)  # fmt: skip

    def at(self, check: SelfCheck, when: float) -> None:
        self.now = when
        check.tick()


def test_a_probe_goes_out_at_once_and_the_next_one_when_the_interval_has_passed() -> None:
    h = Harness()
    check = h.check()
    h.at(check, 0)
    assert len(h.sent) == 1
    h.at(check, 5)
    assert len(h.sent) == 1  # still waiting for the first
    check.answer(h.sent[0])
    h.at(check, 10)
    assert len(h.sent) == 1  # answered at 5: the next is due at 17
    h.at(check, 17)
    assert len(h.sent) == 2
    assert h.stalls == []


def test_a_probe_not_back_within_the_timeout_stops_the_worker_once_told_why() -> None:
    h = Harness()
    check = h.check(timeout=60)
    h.at(check, 0)
    h.at(check, 59)
    assert h.stalls == []
    h.at(check, 61)
    assert len(h.stalls) == 1
    assert "taken nothing from the broker for 61s" in h.stalls[0]
    assert "TRIBE_WORKER_STALL_TIMEOUT" in h.stalls[0]
    assert len(h.sent) == 1  # no new probe while one is missing


def test_an_answer_to_an_older_probe_does_not_count() -> None:
    h = Harness()
    check = h.check(timeout=60)
    h.at(check, 0)
    check.answer("a token this check never sent")
    h.at(check, 61)
    assert len(h.stalls) == 1


def test_a_probe_that_cannot_be_sent_starts_no_clock() -> None:
    """The broker is down: reconnecting is the consumer's job, not a reason to exit."""
    h = Harness(broker_down=True)
    check = h.check(timeout=60)
    for second in range(0, 600, 10):
        h.at(check, second)
    assert (h.sent, h.stalls) == ([], [])
    h.broker_down = False
    h.at(check, 600)
    assert len(h.sent) == 1
    check.answer(h.sent[0])
    h.at(check, 700)
    assert h.stalls == []


def test_an_answer_that_comes_back_before_the_send_returns_counts() -> None:
    """An idle worker can run the probe on another thread before `send` has returned."""
    h = Harness()
    check = h.check(timeout=60)

    def send_and_answer_at_once(token: str) -> None:
        h.sent.append(token)
        check.answer(token)

    check.send = send_and_answer_at_once
    h.at(check, 0)
    h.at(check, 61)
    assert h.stalls == []
    assert len(h.sent) == 2  # answered at 0, so the next went out at 61
