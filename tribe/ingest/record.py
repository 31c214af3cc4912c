"""Recording polls: posts (unique per feed and entry key), the feed's state and next
poll, announcing and fanning out — in short transactions, batched across feeds."""

from __future__ import annotations

import functools
import logging
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Select, Update, and_, bindparam, update
from sqlalchemy import select as select_core
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from tribe.core.errors import FeedError
from tribe.core.kinds import FeedStatus, PollOutcome
from tribe.core.polling import (
    Announcement,
    Candidate,
    PollConfig,
    announcement,
    delay_after_error,
    delay_after_success,
    effective_published,
)
from tribe.core.urls import MAX_URL_LENGTH, host_of
from tribe.infra.db import insert_for, read_scope
from tribe.infra.models import Feed, Post
from tribe.ingest.fetch import FetchResult, GoneError, HTTPStatusError, Validators
from tribe.ingest.parse import ParsedFeed
from tribe.ingest.stages import Fetched, PollSummary
from tribe.stream.approvals import announce_own_posts, approval_config
from tribe.stream.items import fan_out_by_post

log = logging.getLogger("tribe.ingest.poll")
T = TypeVar("T")


def validators_after(result: FetchResult, previous: Validators) -> Validators:
    """What to send next time: a 304 may leave its validators out; a 200 replaces them.

    Values too long to store are dropped (the next fetch is then unconditional).
    """
    fresh = Validators(
        etag=_fits(result.validators.etag, 1024),
        last_modified=_fits(result.validators.last_modified, 128),
    )
    if result.not_modified:
        return Validators(
            etag=fresh.etag or previous.etag,
            last_modified=fresh.last_modified or previous.last_modified,
        )
    return fresh


def _fits(value: str | None, limit: int) -> str | None:
    return value if value is not None and len(value) <= limit else None


def record_poll(
    session: Session,
    fetched: Fetched,
    *,
    config: PollConfig,
    now: datetime,
    rng: random.Random,
) -> PollSummary:
    """Write the poll's outcome: the feed's state, new posts, and their fan-out."""
    return _record_together(session, [fetched], config=config, now=now, rng=rng)[0]


def _record_together(
    session: Session,
    batch: Sequence[Fetched],
    *,
    config: PollConfig,
    now: datetime,
    rng: random.Random,
) -> list[PollSummary]:
    """Write several polls' outcomes: each feed's state, then the new posts of them all
    in set-based statements (see `_record_entries`). A feed twice in `batch` is recorded
    once; its second poll finds the lease gone, as it would recorded one by one."""
    done: list[PollSummary | None] = [None] * len(batch)
    succeeded: list[tuple[int, Feed, Fetched]] = []
    recorded: set[int] = set()
    for place, fetched in enumerate(batch):
        feed = session.get(Feed, fetched.feed.id)
        if feed is None:  # deleted while we were fetching
            done[place] = PollSummary(
                fetched.feed.id, PollOutcome.ERROR, error="the feed was removed"
            )
        elif fetched.feed.id in recorded or (
            fetched.feed.token and feed.lease_token != fetched.feed.token
        ):
            # Our lease ran out and another poller has the feed: its result will count.
            log.warning("feed %s: lease lost while polling, result dropped", feed.id)
            done[place] = PollSummary(fetched.feed.id, PollOutcome.ERROR, error="lease lost")
        else:
            recorded.add(fetched.feed.id)
            feed.last_polled_at = now
            feed.lease_until = None
            feed.lease_token = None
            if fetched.error is not None:
                done[place] = _record_error(feed, fetched.error, config=config, now=now, rng=rng)
            else:
                succeeded.append((place, feed, fetched))
    changed = [
        _Changed(fetched.feed.id, fetched.parsed, is_baseline=feed.last_success_at is None)
        for _, feed, fetched in succeeded
        if fetched.parsed is not None
    ]
    # Each feed's row is complete before the posts' INSERT flushes it: written once,
    # not once there and again at commit (what is left, a warning or a new address, is
    # rare and written at commit).
    for _, feed, fetched in succeeded:
        _record_success(feed, fetched, config, now, rng)
    entries = _record_entries(session, changed, config=config, now=now) if changed else {}
    for place, feed, fetched in succeeded:
        done[place] = PollSummary(fetched.feed.id, PollOutcome.NOT_MODIFIED)
        if fetched.parsed is not None:
            done[place] = summary = entries[fetched.feed.id]
            feed.warning = _warning(fetched.parsed.warning, summary.without_link)
        assert fetched.result is not None
        if fetched.result.moved_to:
            _move(session, feed, fetched.result.moved_to)
    return [summary for summary in done if summary is not None]


def _record_success(
    feed: Feed, fetched: Fetched, config: PollConfig, now: datetime, rng: random.Random
) -> None:
    """A successful poll's feed state; its posts, warning and move are recorded after."""
    result = fetched.result
    assert result is not None
    feed.last_outcome = PollOutcome.OK if fetched.parsed else PollOutcome.NOT_MODIFIED
    feed.last_http_status = result.status
    feed.error_count = 0
    feed.error_message = None
    validators = validators_after(result, Validators(feed.etag, feed.last_modified))
    feed.etag, feed.last_modified = validators.etag, validators.last_modified
    feed.content_hash = fetched.content_hash
    ttl = None
    if fetched.parsed is not None:
        parsed = fetched.parsed
        ttl = parsed.ttl
        feed.title = parsed.title[:500] or feed.title
        feed.site_url = parsed.site_url or feed.site_url
        feed.image_url = parsed.image_url or feed.image_url
    feed.last_success_at = now
    feed.next_poll_at = now + delay_after_success(config, max_age=result.max_age, ttl=ttl, rng=rng)


def _record_error(
    feed: Feed, error: FeedError, *, config: PollConfig, now: datetime, rng: random.Random
) -> PollSummary:
    feed.error_count += 1
    feed.error_message = str(error)[:1000]
    feed.last_http_status = getattr(error, "status", None)
    if isinstance(error, GoneError):
        feed.status = FeedStatus.GONE
        feed.last_outcome = PollOutcome.GONE
        feed.next_poll_at = None
    else:
        feed.last_outcome = PollOutcome.ERROR
        retry_after = error.retry_after if isinstance(error, HTTPStatusError) else None
        feed.next_poll_at = now + delay_after_error(
            config, error_count=feed.error_count, retry_after=retry_after, rng=rng
        )
    log.info("feed %s: %s", feed.id, feed.error_message)
    return PollSummary(feed.id, feed.last_outcome, error=feed.error_message)  # type: ignore[arg-type]


def _move(session: Session, feed: Feed, new_url: str) -> None:
    """A permanent redirect: remember the new address, unless the owner already has it."""
    if new_url == feed.url or len(new_url) > MAX_URL_LENGTH:
        return
    twin = session.exec(
        select(col(Feed.id)).where(col(Feed.owner_id) == feed.owner_id, col(Feed.url) == new_url)
    ).first()
    if twin is not None:
        feed.warning = f"this feed now redirects to {new_url}, which is also your feed #{twin}"[
            :1000
        ]
        return
    log.info("feed %s moved permanently: %s -> %s", feed.id, feed.url, new_url)
    feed.url = new_url
    feed.host = host_of(new_url)


@dataclass(frozen=True)
class _Changed:
    """A feed whose document changed, as `_record_entries` records it."""

    feed_id: int
    parsed: ParsedFeed
    is_baseline: bool  # never read before: its entries are the baseline (see `announcement`)


def _record_entries(
    session: Session, changed: Sequence[_Changed], *, config: PollConfig, now: datetime
) -> dict[int, PollSummary]:
    """Store the changed feeds' new posts and announce them, the whole batch at once:
    one INSERT of every entry, one query for republished links, one UPDATE of the
    announced posts, one fan-out and one look for their authors' own posts — a round
    trip each, where a feed at a time was five a feed. Each feed's summary by its id.
    """
    rows = [
        {
            "feed_id": feed.feed_id,
            "entry_key": entry.key,
            "url": entry.url,
            "title": entry.title,
            "summary": entry.summary,
            "categories": list(entry.categories),
            "published_at": effective_published(entry.published_at, now),
            "discovered_at": now,
            "announced": False,
        }
        for feed in changed
        for entry in feed.parsed.entries
    ]
    stmt = _insert_posts(session.get_bind().dialect.name)
    inserted: dict[int, dict[str, int]] = {feed.feed_id: {} for feed in changed}
    for page in _pages(rows):
        for feed_id, key, post_id in session.execute(stmt, page):
            inserted[feed_id][key] = post_id
    decided: dict[int, Announcement] = {}
    for feed in changed:
        by_key = {e.key: e for e in feed.parsed.entries}
        decided[feed.feed_id] = announcement(
            (
                Candidate(
                    key, effective_published(by_key[key].published_at, now), bool(by_key[key].url)
                )
                for key in inserted[feed.feed_id]
            ),
            is_baseline=feed.is_baseline,
            now=now,
            max_age=config.max_entry_age,
        )
    candidates = {
        feed_id: [inserted[feed_id][key] for key in sorted(d.keys)]
        for feed_id, d in decided.items()
    }
    every_new = [post_id for ids in inserted.values() for post_id in ids.values()]
    republished = _republished(
        session,
        [post_id for ids in candidates.values() for post_id in ids],
        first_new=min(every_new, default=0),
    )
    announced = {
        feed_id: [post_id for post_id in ids if post_id not in republished]
        for feed_id, ids in candidates.items()
    }
    every = [post_id for ids in announced.values() for post_id in ids]
    if every:
        # Core, not the ORM's bulk UPDATE (which works out the statement's cache key anew).
        posts = Post.__table__  # type: ignore[attr-defined]
        session.execute(update(posts).where(posts.c.id.in_(every)).values(announced=True))
    items = fan_out_by_post(session, every, now=now)
    announce_own_posts(session, every, now=now, config=approval_config())
    return {
        feed.feed_id: PollSummary(
            feed.feed_id,
            PollOutcome.OK,
            new_posts=len(inserted[feed.feed_id]),
            announced=len(announced[feed.feed_id]),
            stream_items=sum(items[post_id] for post_id in announced[feed.feed_id]),
            without_link=tuple(
                e.title or "(untitled)"
                for e in feed.parsed.entries
                if e.key in decided[feed.feed_id].without_link
            ),
        )
        for feed in changed
    }


@functools.cache
def _insert_posts(dialect: str) -> Any:
    """One statement with the rows as parameters, built once per process (a VALUES list
    of the batch's length would be compiled every time; the statement built anew at
    each batch cost 0.13 ms against 0.08), sent by SQLAlchemy's "insertmanyvalues" as
    one multi-row INSERT per page (see `_pages`)."""
    posts = Post.__table__  # type: ignore[attr-defined]
    return (
        insert_for(dialect, posts)
        .on_conflict_do_nothing(index_elements=["feed_id", "entry_key"])
        .returning(posts.c.feed_id, posts.c.entry_key, posts.c.id)
    )


def _pages(rows: list[T], largest: int = 128) -> Iterator[list[T]]:
    """`rows` in pages of 2**n rows, at most `largest`: 400 rows are 128, 128, 128, 16.

    A multi-row INSERT of each length is a statement of its own, and SQLite and
    psycopg keep the statements they prepared (up to 128 and 100 of them): a batch's
    rows in one page, of any of hundreds of lengths, held 18 MB more in a replay of
    cold batches. Powers of two make eight shapes, for a round trip or two more.
    """
    start = 0
    while start < len(rows):
        size = min(largest, 1 << ((len(rows) - start).bit_length() - 1))
        yield rows[start : start + size]
        start += size


def _warning(problem: str | None, without_link: Sequence[str]) -> str | None:
    """What the feed's owner reads under the feed: a readable document's problems, and new
    entries that reached nobody because they have no web link (until the next change)."""
    notes = [problem] if problem else []
    if without_link:
        count = len(without_link)
        titles = ", ".join(f"\u201c{t}\u201d" for t in without_link[:3])
        more = f" and {count - 3} more" if count > 3 else ""
        notes.append(
            f"{count} new {'entry' if count == 1 else 'entries'} without a web link "
            f"{'was' if count == 1 else 'were'} not shared: {titles}{more} "
            "(a post's link must start with http:// or https://)"
        )
    return "; ".join(notes)[:1000] or None


def _republished(session: Session, candidates: list[int], first_new: int) -> set[int]:
    """Those of the new posts `candidates` whose link their feed already had: the blog
    changed its guids (a platform move, http -> https), not its posts. Recorded, but
    not announced again. One query for the batch.

    "Already had" is "an older post with a smaller id than `first_new`, the first this
    batch inserted": a feed's posts are only inserted by the poll holding its lease,
    so every post it had before has a smaller id (SQLite hands out the largest + 1,
    PostgreSQL's sequence had handed those out before this batch began). A poller
    whose lease ran out cannot slip posts in between on PostgreSQL either: the feed's
    row, changed above, is flushed (and locked) by the INSERT before any id is drawn.
    """
    if not candidates:
        return set()
    params = {"candidates": candidates, "first_new": first_new}
    return {post_id for post_id in session.scalars(_links_seen(), params) if post_id is not None}


@functools.cache
def _links_seen() -> SelectOfScalar[int | None]:
    """See `_republished`: one list, of the batch's few posts to announce (a list of
    its links and one of all its new posts made a statement of each pair of lengths,
    and SQLite and psycopg keep the statements they prepare, see `_pages`); built once."""
    new, old = aliased(Post), aliased(Post)
    return (
        select(col(new.id))
        .join(old, and_(col(old.feed_id) == col(new.feed_id), col(old.url) == col(new.url)))
        .where(
            col(new.id).in_(bindparam("candidates", expanding=True)),
            col(new.url) != "",
            col(old.id) < bindparam("first_new"),
        )
        .distinct()
    )


def record_polls(
    session: Session,
    fetched: Sequence[Fetched],
    *,
    config: PollConfig,
    now: datetime,
    rng: random.Random,
) -> list[PollSummary]:
    """Record a batch in one transaction; a feed whose recording fails spoils only itself.

    All in one savepoint: unchanged feeds (most of every sweep) with one bulk UPDATE that
    checks their leases as it writes, the others with a few statements for all of them
    (see `_record_entries`). Only when that fails, or a lease turns out lost, one by one,
    each in its own savepoint (for what almost never happens).
    """
    seen = Counter(f.feed.id for f in fetched)
    unchanged: list[Fetched] = []
    others: list[Fetched] = []
    for outcome in fetched:  # a feed twice in the batch: `_record_together` says which
        alone = seen[outcome.feed.id] == 1
        (unchanged if alone and _is_unchanged(outcome) else others).append(outcome)
    # The other feeds' rows in one query (`_record_together` finds them in the session),
    # not one each; kept referenced here, as the session only holds them weakly.
    loaded = (
        session.exec(select(Feed).where(col(Feed.id).in_([f.feed.id for f in others]))).all()
        if others
        else []
    )
    try:
        with session.begin_nested():
            summaries = _record_unchanged(session, unchanged, config=config, now=now, rng=rng)
            if others:
                summaries += _record_together(session, others, config=config, now=now, rng=rng)
        return summaries
    except _LeaseLost:
        log.info("a lease was lost while polling; recording %d feeds one by one", len(fetched))
    except Exception:  # the one that fails says why below
        log.info("recording %d feeds together failed; one by one instead", len(fetched))
    summaries = []
    for outcome in fetched:
        try:
            with session.begin_nested():
                summaries.append(record_poll(session, outcome, config=config, now=now, rng=rng))
        except Exception as exc:
            log.exception("could not record the poll of feed %s", outcome.feed.id)
            summaries += _record_failure(session, outcome, exc, config=config, now=now, rng=rng)
    del loaded
    return summaries


class _LeaseLost(Exception):
    """An unchanged feed of the batch is no longer this poller's (see `_record_unchanged`)."""


def _record_failure(
    session: Session,
    fetched: Fetched,
    exc: Exception,
    *,
    config: PollConfig,
    now: datetime,
    rng: random.Random,
) -> list[PollSummary]:
    """Storing the poll failed: say so on the feed and back off, rather than retry silently."""
    error = FeedError(f"tribe could not store this poll ({type(exc).__name__}); it will try again")
    try:
        with session.begin_nested():
            return [
                record_poll(session, replace(fetched, error=error), config=config, now=now, rng=rng)
            ]
    except Exception:
        log.exception("could not record the failure of feed %s either", fetched.feed.id)
        return []


def _is_unchanged(fetched: Fetched) -> bool:
    result = fetched.result
    return (
        fetched.error is None
        and fetched.parsed is None
        and result is not None
        and not result.moved_to
    )


def _record_unchanged(
    session: Session,
    fetched: Sequence[Fetched],
    *,
    config: PollConfig,
    now: datetime,
    rng: random.Random,
) -> list[PollSummary]:
    """One UPDATE for the batch's unchanged feeds, each row only while this poll holds
    its lease. A row it did not write is a lease lost (run out, and another poller has
    the feed): `_LeaseLost` says so, and `record_polls` records one by one, which tells
    which. Checking as it writes spares a read of every lease first."""
    leased: list[dict[str, object]] = []
    free: list[dict[str, object]] = []
    for outcome in fetched:
        assert outcome.result is not None
        validators = validators_after(outcome.result, outcome.feed.validators)
        delay = delay_after_success(config, max_age=outcome.result.max_age, rng=rng)
        row: dict[str, object] = {
            "feed_id": outcome.feed.id,
            "last_polled_at": now,
            "last_success_at": now,
            "next_poll_at": now + delay,
            "lease_until": None,
            "lease_token": None,
            "last_outcome": PollOutcome.NOT_MODIFIED,
            "last_http_status": outcome.result.status,
            "error_count": 0,
            "error_message": None,
            "etag": validators.etag,
            "last_modified": validators.last_modified,
            "content_hash": outcome.content_hash,
        }
        if outcome.feed.token:
            leased.append({**row, "token": outcome.feed.token})
        else:  # a poll that holds no lease (a feed's first one, as `add_feed` makes it)
            free.append(row)
    for rows, leases in ((leased, True), (free, False)):
        if rows:
            written = cast("CursorResult[Any]", session.execute(_unchanged_update(leases), rows))
            if written.rowcount != len(rows):  # the sum over the rows (both drivers)
                raise _LeaseLost
    return [PollSummary(outcome.feed.id, PollOutcome.NOT_MODIFIED) for outcome in fetched]


@functools.cache
def _unchanged_update(leases: bool) -> Update:
    """One UPDATE for every unchanged feed of a batch, its rows as parameters: a Core
    statement built once (the ORM's bulk UPDATE rebuilt and compiled it every batch).
    With `leases`, a row is written only while its `lease_token` is the poll's `token`."""
    table = Feed.__table__  # type: ignore[attr-defined]
    columns = (
        "last_polled_at", "last_success_at", "next_poll_at", "lease_until", "lease_token",
        "last_outcome", "last_http_status", "error_count", "error_message", "etag",
        "last_modified", "content_hash",
    )  # fmt: skip
    stmt = update(table).where(table.c.id == bindparam("feed_id"))
    if leases:
        stmt = stmt.where(table.c.lease_token == bindparam("token"))
    return stmt.values({name: bindparam(name) for name in columns})


def known_entry_keys(feed_id: int, keys: Sequence[str]) -> set[str]:
    """Which of `keys` the feed's stored posts already have (one short read)."""
    params = {"feed_id": feed_id, "keys": list(keys)}
    with read_scope(each_statement=True) as session:
        return set(session.connection().execute(_known_keys(), params).scalars())


@functools.cache
def _known_keys() -> Select[Any]:
    """See `known_entry_keys`: a Core statement built once (built at each of a sweep's
    thousands of calls, and run through the ORM, it took longer than the query)."""
    table = Post.__table__  # type: ignore[attr-defined]
    return select_core(table.c.entry_key).where(
        table.c.feed_id == bindparam("feed_id"),
        table.c.entry_key.in_(bindparam("keys", expanding=True)),
    )
