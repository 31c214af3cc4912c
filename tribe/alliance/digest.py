"""The digest: an email that brings a member back to a stream filling up without them.

It lists the pending stream items, newest first, each with what every account of the
member would post and signed Approve and Skip links that work without signing in
(`tribe.alliance.links`), an Approve-all link, the one-click unsubscribe of RFC 8058,
and every time in the member's zone. When it is due is decided in `tribe.core.digest`.

Exactly once per member and period (architecture.md, rule 6): the email is an outbox row
whose key is `digest:{member}:{period}`, and the outbox sends a key once, whatever the
number of beats, workers and restarts. The scan is built for an instance of thousands of
members checked every minute: the due periods are computed from a few columns, then the
members whose row is already queued and those with nothing pending are dropped with one
query each, before any digest is composed. Composing only reads; the rows are written
in short transactions (on SQLite, a writing session blocks every other writer).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfoNotFoundError

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from config import Settings
from tribe.alliance.herding import settings_url, stream_url
from tribe.alliance.letter_links import unsubscribe_headers
from tribe.alliance.letters import letter
from tribe.alliance.links import approve_all_url, item_links, unsubscribe_url
from tribe.core import timefmt
from tribe.core.digest import DigestSchedule, check_weekday, due_period, parse_hour
from tribe.core.errors import InvalidInputError
from tribe.core.kinds import DigestMode, StreamState
from tribe.infra.db import read_scope, session_scope
from tribe.infra.keys import Keyring
from tribe.infra.models import Mail, Member, StreamItem
from tribe.infra.outbox import Letter, enqueue
from tribe.stream.items import count_pending, pending_stream
from tribe.stream.texts import previews

log = logging.getLogger("tribe.digest")

KIND = "digest"
CAP = 30  # items listed; the rest are counted ("and 12 more on your stream")
_CHUNK = 500  # ids in one IN (...) list
_NETWORK_NAMES = {
    "x": "X",
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "linkedin": "LinkedIn",
    "facebook": "Facebook",
    "threads": "Threads",
}
T = TypeVar("T")


@dataclass(frozen=True)
class DigestConfig:
    """What composing and queueing digests needs from the settings."""

    base_url: str  # where the links point (TRIBE_BASE_URL)
    expiry: timedelta  # an item leaves the stream this long after it came (and its links end)
    sender: str  # the From address (TRIBE_SMTP_FROM)
    cap: int = CAP
    # A beat's scan starts no new batch after this long: the next beat goes on with it.
    budget: timedelta | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DigestConfig:
        return cls(
            base_url=settings.TRIBE_BASE_URL,
            expiry=settings.TRIBE_STREAM_EXPIRY,
            sender=settings.TRIBE_SMTP_FROM,
            budget=settings.TRIBE_DIGEST_EVERY * 0.8,
        )


# The member's choice


def schedule_of(member: Member) -> DigestSchedule:
    return DigestSchedule(
        mode=member.digest_mode,
        hour=member.digest_hour,
        weekday=member.digest_weekday,
        zone=member.timezone,
    )


def set_digest(
    session: Session,
    member: Member,
    *,
    mode: DigestMode,
    hour: str = "08:00",
    weekday: int = 0,
) -> None:
    """Daily at `hour` (HH:MM, the member's zone), weekly on `weekday` (0 = Monday) at
    `hour`, or off. Everything is checked before anything changes (InvalidInputError).
    Turning it off keeps the hour and day stored, so turning it on again finds them as
    they were; the `hour` and `weekday` given with "off" are not read."""
    try:
        mode = DigestMode(mode)
    except ValueError:
        raise InvalidInputError(
            f"choose daily, weekly or off for the digest, not {str(mode)!r}"
        ) from None
    if mode != DigestMode.OFF:
        hour, weekday = parse_hour(hour), check_weekday(weekday)
        member.digest_hour, member.digest_weekday = hour, weekday
    member.digest_mode = mode
    session.add(member)
    session.flush()


# Composing one digest


@dataclass(frozen=True)
class ShareText:
    """What one of the member's accounts would post for an item."""

    network: str  # as members know it: "X", "Mastodon", "Bluesky"
    handle: str
    text: str


@dataclass(frozen=True)
class DigestItem:
    item_id: int
    title: str
    url: str
    author: str
    tribes: tuple[str, ...]  # by name
    summary: str  # plain text, shortened
    published: str  # in the member's zone
    expires: str  # when it leaves the stream (and its links end), in the member's zone
    texts: tuple[ShareText, ...]
    approve_url: str
    skip_url: str


@dataclass(frozen=True)
class Digest:
    member_id: int
    to: str
    items: tuple[DigestItem, ...]  # newest first, at most `cap`
    more: int  # pending items not listed
    first: bool  # the member's first digest: it says how to change or stop it
    letter: Letter


def _aware(moment: datetime) -> datetime:
    # SQLite gives stored UTC times back without their zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _subject(total: int) -> str:
    return f"{total} post{'s' * (total != 1)} from your tribe to share"


def compose(
    session: Session,
    member: Member,
    *,
    now: datetime,
    keys: Keyring,
    base_url: str,
    expiry: timedelta,
    cap: int = CAP,
) -> Digest | None:
    """The member's digest as it would go now, or None when nothing is pending."""
    assert member.id is not None
    entries = pending_stream(session, member=member, limit=cap)
    if not entries:
        return None
    total = len(entries) if len(entries) < cap else count_pending(session, member=member)
    ids = [e.item_id for e in entries]
    arrived = dict(
        session.exec(
            select(col(StreamItem.id), col(StreamItem.created_at)).where(
                col(StreamItem.id).in_(ids)
            )
        ).all()
    )
    texts = previews(session, member=member, item_ids=ids)
    zone = member.timezone
    items = []
    ends = []
    for entry in entries:
        expires = _aware(arrived[entry.item_id]) + expiry
        ends.append(expires)
        approve, skip = item_links(
            keys, base_url, member_id=member.id, item_id=entry.item_id, expires=expires
        )
        items.append(
            DigestItem(
                item_id=entry.item_id,
                title=entry.title or entry.url,
                url=entry.url,
                author=entry.author_name,
                tribes=entry.tribe_names,
                summary=entry.summary,
                published=timefmt.moment(entry.published_at or entry.discovered_at, zone, now=now),
                expires=timefmt.moment(expires, zone, now=now),
                texts=tuple(
                    ShareText(
                        _NETWORK_NAMES.get(p.network.value, p.network.value), p.handle, p.text
                    )
                    for p in texts[entry.item_id]
                ),
                approve_url=approve,
                skip_url=skip,
            )
        )
    unsubscribe = unsubscribe_url(keys, base_url, member_id=member.id)
    context = {
        "member_name": member.display_name,
        "items": items,
        "total": total,
        "more": total - len(items),
        "first": not member.digest_sent_once,
        "written": timefmt.moment(now, zone, now=now),
        "schedule": schedule_of(member).describe(),
        "off": member.digest_mode == DigestMode.OFF,  # sent by hand (`tribe digest send`)
        # The link acts on the items listed, and ends with the last of them.
        "approve_all_url": approve_all_url(
            keys, base_url, member_id=member.id, item_ids=ids, expires=max(ends)
        ),
        "unsubscribe_url": unsubscribe,
        "settings_url": settings_url(base_url),
        "stream_url": stream_url(base_url),
    }
    mail = letter(
        "digest",
        to=member.email,
        subject=_subject(total),
        context=context,
        headers=unsubscribe_headers(unsubscribe),  # RFC 8058
    )
    return Digest(
        member_id=member.id,
        to=member.email,
        items=tuple(items),
        more=total - len(items),
        first=not member.digest_sent_once,
        letter=mail,
    )


# Which digests are due


@dataclass(frozen=True)
class Due:
    """A member whose digest for a period is due, not queued yet, with items pending."""

    member_id: int
    key: str  # the outbox key: digest:{member}:{period}


def digest_key(member_id: int, period: str) -> str:
    return f"{KIND}:{member_id}:{period}"


def _chunks(values: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def due_digests(session: Session, *, now: datetime) -> list[Due]:
    """The members whose digest is due at `now` and still to be queued: their period's
    send time has passed (`tribe.core.digest`), no outbox row has its key, and an item
    is pending in their stream. Reads a few columns, then one query per 500 members for
    the keys and one for what is pending."""
    # Five columns, not 10,000 rows of members (sqlmodel's `select` types up to four).
    rows = (
        session.connection()
        .execute(
            sa_select(
                col(Member.id),
                col(Member.digest_mode),
                col(Member.digest_hour),
                col(Member.digest_weekday),
                col(Member.timezone),
            ).where(col(Member.digest_mode) != DigestMode.OFF)
        )
        .all()
    )
    candidates: dict[str, int] = {}
    for member_id, mode, hour, weekday, zone in rows:
        assert member_id is not None  # a stored row's
        try:
            period = due_period(DigestSchedule(mode, hour, weekday, zone), now)
        except (InvalidInputError, ZoneInfoNotFoundError, ValueError) as error:
            # A row changed by hand: skip this member, never the whole beat.
            log.warning("member %s: digest settings unreadable (%s); skipped", member_id, error)
            continue
        if period is not None:
            candidates[digest_key(member_id, period)] = member_id
    for chunk in _chunks(list(candidates)):
        for key in session.exec(select(col(Mail.key)).where(col(Mail.key).in_(chunk))):
            del candidates[key]
    # Any pending item, on the stream's index: the listing rule (still tribemates?) is
    # left to `compose`, as a query over every pair of tribemates costs more than the
    # rare member it would drop (leaving withdraws the items it concerns).
    waiting: set[int] = set()
    for member_ids in _chunks(sorted(set(candidates.values()))):
        waiting.update(
            session.exec(
                select(col(StreamItem.member_id))
                .where(
                    col(StreamItem.member_id).in_(member_ids),
                    col(StreamItem.state) == StreamState.PENDING,
                )
                .distinct()
            )
        )
    return sorted(
        (Due(member_id, key) for key, member_id in candidates.items() if member_id in waiting),
        key=lambda due: due.member_id,
    )


# Queueing them


@dataclass(frozen=True)
class Composed:
    key: str
    digest: Digest


def compose_due(
    session: Session,
    due: Sequence[Due],
    *,
    now: datetime,
    keys: Keyring,
    config: DigestConfig,
) -> list[Composed]:
    """The digests of `due`, skipping those queued meanwhile (by another beat) and
    those whose stream emptied since. Reads only."""
    taken = set(session.exec(select(col(Mail.key)).where(col(Mail.key).in_([d.key for d in due]))))
    wanted = [d for d in due if d.key not in taken]
    members = {
        m.id: m
        for m in session.exec(
            select(Member).where(col(Member.id).in_([d.member_id for d in wanted]))
        )
    }
    composed = []
    for d in wanted:
        member = members.get(d.member_id)
        if member is None:
            continue
        digest = compose(
            session,
            member,
            now=now,
            keys=keys,
            base_url=config.base_url,
            expiry=config.expiry,
            cap=config.cap,
        )
        if digest is not None:
            composed.append(Composed(d.key, digest))
    return composed


def store(session: Session, composed: Sequence[Composed], *, now: datetime, sender: str) -> int:
    """Queue each digest under its key (a key already there changes nothing) and mark the
    members who got their first; how many were queued."""
    firsts = []
    queued = 0
    for c in composed:
        if enqueue(
            session,
            key=c.key,
            kind=KIND,
            letter=c.digest.letter,
            sender=sender,
            member_id=c.digest.member_id,
            due_at=now,
        ):
            queued += 1
            if c.digest.first:
                firsts.append(c.digest.member_id)
    for chunk in _chunks(firsts):
        session.exec(update(Member).where(col(Member.id).in_(chunk)).values(digest_sent_once=True))
    return queued


def queue_due_digests(
    session: Session, *, now: datetime, keys: Keyring, config: DigestConfig
) -> int:
    """Queue every digest due at `now`, in this session; how many were queued."""
    due = due_digests(session, now=now)
    return store(
        session,
        compose_due(session, due, now=now, keys=keys, config=config),
        now=now,
        sender=config.sender,
    )


def queue_due_digests_in_batches(
    *, now: datetime, keys: Keyring, config: DigestConfig, batch: int = 100
) -> int:
    """What the beat runs: `queue_due_digests` with its own sessions, `batch` members
    composed (reading) then written (one short transaction) at a time. After
    `config.budget` no new batch starts: the next beat finds the rest, so two beats'
    scans do not pile up behind each other."""
    with read_scope() as session:
        due = due_digests(session, now=now)
    started = time.monotonic()
    queued = 0
    for done, chunk in enumerate(_chunks(due, batch)):
        if config.budget is not None and time.monotonic() - started > config.budget.total_seconds():
            log.info("digest scan: %d members left for the next beat", len(due) - done * batch)
            break
        with read_scope() as session:
            composed = compose_due(session, chunk, now=now, keys=keys, config=config)
        with session_scope() as session:
            queued += store(session, composed, now=now, sender=config.sender)
    return queued


def send_digest_now(
    session: Session,
    member: Member,
    *,
    now: datetime,
    keys: Keyring,
    config: DigestConfig,
) -> str | None:
    """Queue the member's digest now, whatever the period (`tribe digest send`), under a
    key of its own so it always goes; the key, or None when nothing is pending."""
    digest = compose(
        session,
        member,
        now=now,
        keys=keys,
        base_url=config.base_url,
        expiry=config.expiry,
        cap=config.cap,
    )
    if digest is None:
        return None
    key = digest_key(
        digest.member_id, f"now-{now.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    )
    store(session, [Composed(key, digest)], now=now, sender=config.sender)
    return key
