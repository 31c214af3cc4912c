"""`tribe import FILE.csv`: bring an existing tribe in, in bulk and idempotently.

Columns: email,name,feed_url,tribe. Every row is checked before anything is written;
then members, tribes, memberships and feeds are inserted a chunk at a time with
`ON CONFLICT DO NOTHING`, in one transaction: a second run changes nothing, and a
failed run leaves the database as it was.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session, col, select

from tribe.core.errors import InvalidInputError, TribeError
from tribe.core.kinds import FeedStatus, MembershipStatus, Role
from tribe.core.urls import check_feed_url, host_of
from tribe.infra.db import dialect_insert
from tribe.infra.models import Feed, Member, Membership, Tribe
from tribe.members.people import check_name, normalize_email, slugify

COLUMNS = ("email", "name", "feed_url", "tribe")
CHUNK = 1000
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    name: str
    feed_url: str | None
    tribe: str | None


@dataclass
class ImportSummary:
    rows: int = 0
    members: int = 0
    tribes: int = 0
    memberships: int = 0
    feeds: int = 0
    created_tribes: list[str] = field(default_factory=list)


def read_rows(path: Path) -> list[ImportRow]:
    """Parse and check the whole file; one error lists every bad line (up to 20)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return _check_rows(csv.DictReader(handle))
    except FileNotFoundError:
        raise InvalidInputError(f"no such file: {path}") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path} is not UTF-8 text") from None
    except csv.Error as exc:
        raise InvalidInputError(f"{path} is not a readable CSV file ({exc})") from None


def _check_rows(reader: csv.DictReader[str]) -> list[ImportRow]:
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InvalidInputError(
            f"the CSV needs the columns {','.join(COLUMNS)}; missing: {', '.join(missing)}"
        )
    reader.fieldnames = header
    rows: list[ImportRow] = []
    errors: list[str] = []
    for record in reader:
        line = reader.line_num
        try:
            rows.append(_row(line, record))
        except TribeError as exc:
            errors.append(f"line {line}: {exc}")
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        more = len(errors) - len(shown)
        raise InvalidInputError(
            "nothing was imported; fix these lines first:\n  "
            + "\n  ".join(shown)
            + (f"\n  ... and {more} more" if more else "")
        )
    return rows


def _row(line: int, record: dict[str, Any]) -> ImportRow:
    def value(column: str) -> str:
        return str(record.get(column) or "").strip()

    tribe = value("tribe")
    if tribe and slugify(tribe) != tribe.lower():
        raise InvalidInputError(f"{tribe!r} is not a tribe slug (use e.g. {slugify(tribe)!r})")
    return ImportRow(
        line=line,
        email=normalize_email(value("email")),
        name=check_name(value("name")),
        feed_url=check_feed_url(value("feed_url")) if value("feed_url") else None,
        tribe=tribe.lower() or None,
    )


def _chunks(rows: Sequence[ImportRow], size: int) -> Iterable[Sequence[ImportRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert_new(session: Session, model: Any, values: list[dict[str, Any]], keys: list[str]) -> int:
    if not values:
        return 0
    stmt = (
        dialect_insert(session, model)
        .values(values)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(model.id)
    )
    return len(session.execute(stmt).all())


def _ids(session: Session, model: Any, key: Any, values: Iterable[str]) -> dict[str, int]:
    rows = session.exec(select(key, model.id).where(key.in_(list(values)))).all()
    return {k: v for k, v in rows}


def _new_tribes(
    session: Session, chiefs: dict[str, int], now: datetime
) -> Sequence[Row[int, str, int]]:
    """Insert the tribes not there yet, each with its chief; (id, slug, chief) of each."""
    values = [
        {
            "name": slug.replace("-", " ").title(),
            "slug": slug,
            "description": "",
            "chief_id": chief,
            "created_at": now,
        }
        for slug, chief in chiefs.items()
    ]
    stmt = (
        dialect_insert(session, Tribe)
        .values(values)
        .on_conflict_do_nothing(index_elements=["slug"])
        .returning(Tribe.id, Tribe.slug, Tribe.chief_id)
    )
    return session.execute(stmt).all()


def import_rows(
    session: Session,
    rows: Sequence[ImportRow],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Insert what is missing; the first member listed for a new tribe becomes its chief."""
    summary = ImportSummary(rows=len(rows))
    now = datetime.now(UTC)
    for chunk in _chunks(rows, CHUNK):
        names = {row.email: row.name for row in reversed(chunk)}  # first mention wins
        summary.members += _insert_new(
            session,
            Member,
            [
                {"email": e, "display_name": n, "timezone": "UTC", "created_at": now}
                for e, n in names.items()
            ],
            ["email"],
        )
        member_ids = _ids(session, Member, col(Member.email), names)
        chiefs = {row.tribe: member_ids[row.email] for row in reversed(chunk) if row.tribe}
        created = _new_tribes(session, chiefs, now) if chiefs else []
        summary.tribes += len(created)
        summary.created_tribes += [slug for _, slug, _ in created]
        tribe_ids = _ids(session, Tribe, col(Tribe.slug), chiefs)
        chief_of = {tribe_id: chief for tribe_id, _, chief in created}
        pairs = {
            (tribe_ids[row.tribe], member_ids[row.email]) for row in chunk if row.tribe is not None
        }
        summary.memberships += _insert_new(
            session,
            Membership,
            [
                {
                    "tribe_id": t,
                    "member_id": m,
                    "status": MembershipStatus.ACTIVE,
                    "joined_at": now,
                    "role": Role.CHIEF if chief_of.get(t) == m else Role.MEMBER,
                }
                for t, m in sorted(pairs)
            ],
            ["tribe_id", "member_id"],
        )
        feeds = {(member_ids[row.email], row.feed_url) for row in chunk if row.feed_url}
        summary.feeds += _insert_new(
            session,
            Feed,
            [
                {
                    "owner_id": owner,
                    "url": url,
                    "host": host_of(url),
                    "title": "",
                    "site_url": "",
                    "status": FeedStatus.ACTIVE,
                    "next_poll_at": now,
                    "error_count": 0,
                    "created_at": now,
                }
                for owner, url in sorted(feeds)
            ],
            ["owner_id", "url"],
        )
        if on_progress:
            on_progress(len(chunk))
    return summary
