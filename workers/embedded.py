"""The embedded broker: a kombu transport on one SQLite file, for `make run` with no server.

Why our own rather than kombu's `filesystem://` or `sqla+sqlite://` (both tried):
- `filesystem://` writes a message by creating the file and then writing it, so a
  consumer can pick up an empty file; and it "moves" consumed files to the temp
  folder, which is a copy (not atomic) when that is another file system.
- `sqla+sqlite://` never deletes consumed messages, and passes every transport
  option to `create_engine`, so its one-second polling interval cannot be changed.
Here a message is taken by one `DELETE ... RETURNING` statement, which SQLite runs
under its write lock: a message goes to exactly one consumer and leaves no residue.

Like every kombu virtual transport, a message in flight when its worker dies is lost;
the database leases (a claimed feed is due again when its lease runs out) recover it.
Production uses Redis.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from queue import Empty
from typing import Any, cast

from kombu.transport import TRANSPORT_ALIASES, virtual
from kombu.utils.json import dumps, loads

SCHEME = "tribe-embedded"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_message_queue ON message (queue, id);
CREATE TABLE IF NOT EXISTS binding (
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    pattern TEXT NOT NULL,
    queue TEXT NOT NULL,
    PRIMARY KEY (exchange, routing_key, pattern, queue)
);
"""


def connect(path: str | Path) -> sqlite3.Connection:
    """An autocommit connection: each statement is its own transaction.

    Processes that start together (worker and beat on a fresh file) race to switch the
    file to WAL, and SQLite answers the loser "database is locked" at once, without
    waiting on the busy timeout: that step is retried for a while instead.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    deadline = time.monotonic() + 30
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            return conn
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(0.05)


class Channel(virtual.Channel):
    """Queues are rows in `message`; exchange bindings are rows in `binding`."""

    supports_fanout = True  # bindings live in the file, so fanout reaches every process

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        super().__init__(*args, **kwargs)

    @property
    def db(self) -> sqlite3.Connection:
        if self._conn is None:
            client = self.connection.client
            assert client is not None
            assert client.transport_options is not None
            self._conn = connect(client.transport_options["path"])
        return self._conn

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self._execute("INSERT INTO message (queue, payload) VALUES (?, ?)", (queue, dumps(message)))

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        rows = self._execute(
            "DELETE FROM message WHERE id = "
            "(SELECT id FROM message WHERE queue = ? ORDER BY id LIMIT 1) RETURNING payload",
            (queue,),
        )
        if not rows:
            raise Empty()
        cast("Transport", self.connection).last_message = time.monotonic()
        result: dict[str, Any] = loads(rows[0][0])
        return result

    def _purge(self, queue: str) -> int:
        return len(self._execute("DELETE FROM message WHERE queue = ? RETURNING id", (queue,)))

    def _size(self, queue: str) -> int:
        return int(self._execute("SELECT COUNT(*) FROM message WHERE queue = ?", (queue,))[0][0])

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        super()._delete(queue, *args, **kwargs)
        self._execute("DELETE FROM binding WHERE queue = ?", (queue,))

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        self._execute(
            "INSERT OR IGNORE INTO binding VALUES (?, ?, ?, ?)",
            (exchange, routing_key or "", pattern or "", queue),
        )

    def get_table(self, exchange: str) -> list[tuple[str, str, str]]:
        return [
            (routing_key, pattern, queue)
            for routing_key, pattern, queue in self._execute(
                "SELECT routing_key, pattern, queue FROM binding WHERE exchange = ?", (exchange,)
            )
        ]

    def _put_fanout(
        self, exchange: str, message: dict[str, Any], routing_key: str, **kw: Any
    ) -> None:
        for _, _, queue in self.get_table(exchange):
            self._put(queue, message)

    def close(self) -> None:
        super().close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Transport(virtual.Transport):
    """Looks at the queues again after `polling_interval`: when they were empty, and when
    the worker's slots were full (kombu takes nothing then). That wait is short while
    messages flow, so a slot freed by a finished poll takes the next batch at once (at
    0.1 s throughout, the bench's warm sweep was ~10% slower), and long when idle, so an
    idle instance does not read its broker file a hundred times a second."""

    Channel = Channel
    BUSY_INTERVAL = 0.01
    IDLE_INTERVAL = 0.1
    BUSY_FOR = 2.0  # seconds after the last message taken
    last_message = float("-inf")

    @property
    def polling_interval(self) -> float:
        busy = time.monotonic() - self.last_message < self.BUSY_FOR
        return self.BUSY_INTERVAL if busy else self.IDLE_INTERVAL

    @polling_interval.setter
    def polling_interval(self, value: float) -> None:  # the `polling_interval` option
        self.IDLE_INTERVAL = value

    driver_type = "sqlite"
    driver_name = "tribe-embedded"
    implements = virtual.Transport.implements.extend(
        asynchronous=False, exchange_type=frozenset(["direct", "topic", "fanout"])
    )

    def driver_version(self) -> str:
        return sqlite3.sqlite_version


TRANSPORT_ALIASES[SCHEME] = "workers.embedded:Transport"
