"""The embedded broker carries each message to exactly one consumer, across processes."""

import multiprocessing
import queue
import time
from pathlib import Path
from typing import Any

from kombu import Connection, Exchange, Queue

import workers.embedded  # noqa: F401 - registers the transport

PRODUCERS, CONSUMERS, PER_PRODUCER = 3, 2, 150


def _connection(path: Path) -> Connection:
    return Connection("tribe-embedded://", transport_options={"path": str(path)})


def _produce(path: Path, producer: int) -> None:
    with _connection(path) as conn:
        q = conn.SimpleQueue("work")
        for n in range(PER_PRODUCER):
            q.put({"id": f"{producer}-{n}"})
        q.close()


def _consume(path: Path, results: "multiprocessing.Queue[list[str]]", ready: Any) -> None:
    got: list[str] = []
    with _connection(path) as conn:
        q = conn.SimpleQueue("work")
        ready.release()
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 3:
            try:
                message = q.get(timeout=0.2)
            except queue.Empty:
                continue
            got.append(message.payload["id"])
            message.ack()
            time.sleep(0.005)  # a little work per message, as a worker does: the other
            # consumer gets its share instead of one fast poller draining the queue
            idle_since = time.monotonic()
        q.close()
    results.put(got)


def test_many_producers_and_consumers_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "broker.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[list[str]] = ctx.Queue()
    ready = ctx.Semaphore(0)
    consumers = [
        ctx.Process(target=_consume, args=(path, results, ready)) for _ in range(CONSUMERS)
    ]
    producers = [ctx.Process(target=_produce, args=(path, p)) for p in range(PRODUCERS)]
    for process in consumers:
        process.start()
    for _ in consumers:  # both consumers listen before anything is sent
        assert ready.acquire(timeout=60)
    for process in producers:
        process.start()
    received = [results.get(timeout=120) for _ in consumers]
    for process in consumers + producers:
        process.join(timeout=30)
    everything = [m for batch in received for m in batch]
    expected = {f"{p}-{n}" for p in range(PRODUCERS) for n in range(PER_PRODUCER)}
    assert len(everything) == len(expected)  # no duplicates
    assert set(everything) == expected  # no losses
    assert all(batch for batch in received)  # both consumers took part


def test_fanout_reaches_every_bound_queue_in_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "broker.sqlite3"
    exchange = Exchange("broadcast", type="fanout")
    first, second = (Queue(name, exchange=exchange) for name in ("listener-1", "listener-2"))
    with _connection(path) as conn:
        for q in (first, second):
            q(conn.default_channel).declare()
    with _connection(path) as other:  # a fresh connection knows the bindings from the file
        other.Producer().publish({"hello": "all"}, exchange=exchange, declare=[exchange])
    with _connection(path) as conn:
        for q in (first, second):
            message = q(conn.default_channel).get()
            assert message is not None
            assert message.payload == {"hello": "all"}
            message.ack()


def test_a_consumed_message_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "broker.sqlite3"
    with _connection(path) as conn:
        q = conn.SimpleQueue("work")
        q.put({"x": 1})
        q.get(timeout=1).ack()
        assert q.qsize() == 0
        q.close()
    import sqlite3

    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM message").fetchone() == (0,)


def _open_together(path: Path, barrier: Any, results: "multiprocessing.Queue[str]") -> None:
    from workers.embedded import connect

    barrier.wait()
    try:
        connect(path).close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_fresh_broker_file_together_all_succeed(tmp_path: Path) -> None:
    """Worker and beat start at once on a fresh file: one must not lose the WAL switch."""
    ctx = multiprocessing.get_context("spawn")
    outcomes: list[str] = []
    for attempt in range(8):
        path = tmp_path / f"fresh{attempt}.sqlite3"
        barrier = ctx.Barrier(6)
        results: multiprocessing.Queue[str] = ctx.Queue()
        procs = [
            ctx.Process(target=_open_together, args=(path, barrier, results)) for _ in range(6)
        ]
        for process in procs:
            process.start()
        outcomes += [results.get(timeout=60) for _ in procs]
        for process in procs:
            process.join(timeout=30)
    assert outcomes == ["ok"] * 48


def test_the_queues_are_looked_at_often_while_messages_flow_and_rarely_when_idle(
    tmp_path: Path,
) -> None:
    from workers.embedded import Transport

    with _connection(tmp_path / "broker.sqlite3") as conn:
        transport = conn.transport
        assert isinstance(transport, Transport)
        assert transport.polling_interval == Transport.IDLE_INTERVAL
        q = conn.SimpleQueue("work")
        q.put({"id": "one"})
        q.get(timeout=5).ack()
        assert transport.polling_interval == Transport.BUSY_INTERVAL
        transport.last_message -= Transport.BUSY_FOR
        assert transport.polling_interval == Transport.IDLE_INTERVAL
        q.close()
