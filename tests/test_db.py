"""The database layer: writers queue without failing, sessions nest, time stays UTC."""

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tests import builders as b
from tests.conftest import BACKEND
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Member

pytestmark = pytest.mark.usefixtures("db")


def test_many_concurrent_writers_all_succeed() -> None:
    errors: list[Exception] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                with session_scope() as s:
                    b.member(s, f"W{n}x{i}")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with read_scope() as s:
        assert len(s.exec(select(Member)).all()) == 80


def test_a_session_inside_a_session_does_not_deadlock() -> None:
    with session_scope() as outer:
        b.member(outer, "Outer")
        with read_scope() as reader:
            reader.exec(select(Member)).all()
    with session_scope() as s:
        assert s.exec(select(Member.email)).all() == ["outer@example.com"]


def test_a_failing_block_rolls_back() -> None:
    def add_then_fail() -> None:
        with session_scope() as s:
            b.member(s, "Ghost")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        add_then_fail()
    with read_scope() as s:
        assert s.exec(select(Member)).all() == []


def test_times_come_back_aware_and_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    with session_scope() as s:
        member = b.member(s, "Clock")
        member.created_at = datetime(2026, 3, 1, 12, 0, tzinfo=paris)
    with read_scope() as s:
        stored = s.exec(select(Member)).one().created_at
    assert stored == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)


def _clock_twice(s: Session) -> tuple[datetime, datetime]:
    """PostgreSQL's now(): when the statement's transaction began."""
    clock = text("SELECT now()")
    first = s.exec(clock).scalar_one()  # type: ignore[call-overload]
    time.sleep(0.01)
    return first, s.exec(clock).scalar_one()  # type: ignore[call-overload]


@pytest.mark.skipif(BACKEND != "postgres", reason="statements outside a transaction: PostgreSQL")
def test_a_read_of_each_statement_opens_no_transaction_and_leaves_none_behind() -> None:
    for _ in range(3):  # through the pool's connections: each goes back to transactions
        with read_scope(each_statement=True) as s:
            first, second = _clock_twice(s)
            assert first < second  # each statement its own transaction
            assert s.exec(select(Member)).all() == []
        with read_scope() as s:
            first, second = _clock_twice(s)
            assert first == second
        with session_scope() as s:
            first, second = _clock_twice(s)
            assert first == second
