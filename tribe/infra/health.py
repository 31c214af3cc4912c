"""Heartbeats: periodic jobs record when they ran, health checks read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from tribe.infra.db import dialect_insert
from tribe.infra.models import Heartbeat

# Written by every feed sweep: proves beat is scheduling and a worker is working.
SWEEP_HEARTBEAT = "poll_due_feeds"


def beat(session: Session, name: str, *, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    stmt = dialect_insert(session, Heartbeat).values(name=name, beat_at=now)
    session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"beat_at": now}))


def last_beat(session: Session, name: str) -> datetime | None:
    row = session.get(Heartbeat, name)
    return row.beat_at if row else None


def is_alive(session: Session, name: str, *, within: timedelta) -> bool:
    when = last_beat(session, name)
    return when is not None and datetime.now(UTC) - when <= within
