"""Engines and sessions: one engine per process and URL, one session per unit of work."""

from __future__ import annotations

import os
import threading

try:
    import fcntl
except ImportError:  # Windows: SQLite's own busy handler does the queueing
    fcntl = None  # type: ignore[assignment]
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

from config import get_settings

READ_ONLY = "tribe_read_only"
# Row ids are INTEGER columns (32 bits on PostgreSQL): a larger number names no row, and
# handed to a driver it is an overflow error, not "not found". Edges bound ids by this.
MAX_ID = 2**31 - 1


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE for every transaction.

    pysqlite's deferred transactions let two processes read, then both try to write,
    and one fails with "database is locked" without waiting (SQLITE_BUSY_SNAPSHOT).
    Taking the write lock at BEGIN makes writers queue on the busy timeout instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # WAL readers never wait for writers
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """Create an engine for `url`, creating the SQLite file's folder when needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> Engine:
    """The process's engine for `url`, created on first use."""
    with _engines_lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def get_engine() -> Engine:
    """The process's engine for `TRIBE_DATABASE_URL`."""
    return engine_for(get_settings().TRIBE_DATABASE_URL)


def dispose_engines() -> None:
    """Close every pooled connection (tests switching databases call this)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _after_fork_in_child() -> None:
    # A forked child (Celery prefork) must not reuse its parent's sockets;
    # close=False leaves the parent's connections alone.
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


# SQLite allows one writer at a time and makes the others wait in a busy handler that
# sleeps in growing steps (1, 2, 5, 10 ... 100 ms) between tries. Writers queue here
# instead: threads of a process on a lock, processes on an flock() of a file next to
# the database; both wake the next writer the moment the previous one is done.
_sqlite_writer = threading.RLock()


_turns = threading.local()


@contextmanager
def _sqlite_write_turn(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    with _sqlite_writer:
        if getattr(_turns, "depth", 0) > 0:
            # A second writing session in this thread would wait for the first one's lock
            # for the whole busy timeout, then fail: say so at once.
            raise RuntimeError("a writing session is already open in this thread")
        if fcntl is None or not database or database == ":memory:":
            _turns.depth = 1
            try:
                yield
            finally:
                _turns.depth = 0
            return
        # A fresh open file for each turn: flock() belongs to the open file, which a
        # forked child would otherwise share with its parent.
        with open(f"{database}.writer", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            _turns.depth = 1
            try:
                yield
            finally:
                _turns.depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def read_scope(*, each_statement: bool = False) -> Iterator[Session]:
    """A session for reading only: on SQLite it neither queues for nor takes the write lock.

    `each_statement`: on PostgreSQL, no transaction around the statements (autocommit),
    which spares a read its BEGIN and ROLLBACK, two of its three round trips when it is
    one statement (the pollers' reads). What a statement sees is the same: in the READ
    COMMITTED transactions PostgreSQL gives by default, each statement takes its own
    snapshot too. SQLite keeps its transaction: its statements there share one snapshot,
    and it has no round trips to spare.
    """
    engine = get_engine()
    options: dict[str, Any] = {READ_ONLY: True}
    if each_statement and engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    with Session(engine.execution_options(**options)) as session:
        try:
            yield session
        finally:
            session.rollback()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    engine = get_engine()
    queue = _sqlite_write_turn(engine) if engine.dialect.name == "sqlite" else nullcontext()
    with queue, Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def dialect_insert(session: Session, table: type[SQLModel] | Table) -> Any:
    """`INSERT` of the session's dialect, which knows `ON CONFLICT DO NOTHING`."""
    target = table if isinstance(table, Table) else table.__table__  # type: ignore[attr-defined]
    return insert_for(session.get_bind().dialect.name, target)


def insert_for(dialect: str, target: Table) -> Any:
    """`INSERT` of the dialect named `dialect` (for statements built once and kept)."""
    return postgresql.insert(target) if dialect == "postgresql" else sqlite.insert(target)


def serialize(session: Session, key: str) -> None:
    """Serialize transactions that share `key` until this one ends.

    On PostgreSQL a transaction-scoped advisory lock; on SQLite every transaction
    already holds the write lock from BEGIN IMMEDIATE, so there is nothing to do.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
