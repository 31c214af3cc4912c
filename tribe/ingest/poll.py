"""Polling a batch of feeds: begin (check the claims), fetch and parse, record.

No database session is held across the network calls: `begin_polls` and
`record_polls` are short transactions, and everything between them is plain data.
"""

from __future__ import annotations

import hashlib
import logging
import random
import uuid
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from tribe.core.errors import FeedError, NotAFeedError
from tribe.core.kinds import FeedStatus, PollOutcome
from tribe.core.polling import (
    Candidate,
    PollConfig,
    announcement,
    delay_after_error,
    delay_after_success,
    effective_published,
)
from tribe.core.urls import MAX_URL_LENGTH, host_of
from tribe.infra.db import dialect_insert, read_scope, session_scope
from tribe.infra.models import Feed, Post
from tribe.ingest.claims import FeedClaim, claim_due_feeds
from tribe.ingest.fetch import Fetcher, FetchResult, GoneError, HTTPStatusError, Validators
from tribe.ingest.parse import ParsedFeed, parse_feed
from tribe.ingest.prescan import without_known_entries
from tribe.stream.approvals import announce_own_posts, approval_config
from tribe.stream.items import fan_out

log = logging.getLogger(__name__)
_INSERT_CHUNK = 500


@dataclass(frozen=True)
class FeedToPoll:
    """What a poll needs to know about a feed, read when the poll begins."""

    id: int
    url: str
    validators: Validators
    content_hash: str | None
    token: str = ""  # the lease token this poll holds; recording checks it is still ours


@dataclass(frozen=True)
class Fetched:
    """The outcome of the network half of a poll; exactly one of the cases holds."""

    feed: FeedToPoll
    result: FetchResult | None = None
    parsed: ParsedFeed | None = None  # None with a result: nothing changed
    content_hash: str | None = None
    error: FeedError | None = None


@dataclass(frozen=True)
class PollSummary:
    feed_id: int
    outcome: PollOutcome
    new_posts: int = 0
    announced: int = 0
    stream_items: int = 0
    error: str | None = None
    without_link: tuple[str, ...] = ()  # titles of new entries not announced for want of a link


def begin_polls(
    session: Session, claims: Sequence[FeedClaim], *, now: datetime, lease: timedelta
) -> list[FeedToPoll]:
    """Take up claims; stale or already-taken ones (a task delivered twice) are left out.

    The lease starts again now: the claim's lease also covered the wait in the queue,
    and a poll must not be handed to a second worker while it is still running.
    """
    taken: list[FeedToPoll] = []
    mine = str(uuid.uuid4())
    for token in dict.fromkeys(c.token for c in claims):
        ids = [c.feed_id for c in claims if c.token == token]
        rows = session.exec(
            update(Feed)
            .where(
                col(Feed.id).in_(ids),
                col(Feed.lease_token) == token,
                col(Feed.lease_until) > now,
            )
            .values(lease_token=mine, lease_until=now + lease)
            .returning(
                col(Feed.id),
                col(Feed.url),
                col(Feed.etag),
                col(Feed.last_modified),
                col(Feed.content_hash),
            )
        ).all()
        taken += [
            FeedToPoll(
                id=feed_id,
                url=url,
                validators=Validators(etag=etag, last_modified=last_modified),
                content_hash=content_hash,
                token=mine,
            )
            for feed_id, url, etag, last_modified, content_hash in rows
        ]
    return sorted(taken, key=lambda f: f.id)


KnownKeys = Callable[[int, Sequence[str]], Collection[str]]


def _new_entries_only(feed: FeedToPoll, body: bytes, known: KnownKeys | None) -> bytes:
    if known is None:
        return body
    try:
        return without_known_entries(body, lambda keys: known(feed.id, keys))
    except Exception:  # the cut is an optimisation: without it, parse everything
        log.exception("feed %s: could not look up known entries", feed.id)
        return body


def fetch_and_parse(feed: FeedToPoll, fetcher: Fetcher, known: KnownKeys | None = None) -> Fetched:
    """Fetch, skip parsing when nothing changed, parse. Feed problems are returned, not raised.

    `known(feed_id, keys)` says which entry keys are stored already: those entries are
    cut out before feedparser runs (see `prescan`).
    """
    try:
        result = fetcher.fetch(feed.url, feed.validators)
        if result.body is None:
            return Fetched(feed=feed, result=result, content_hash=feed.content_hash)
        digest = hashlib.sha256(result.body).hexdigest()
        if digest == feed.content_hash:
            # The server ignores conditional GET but sent the same bytes: nothing to read.
            return Fetched(feed=feed, result=result, content_hash=digest)
        body = _new_entries_only(feed, result.body, known)
        try:
            parsed = parse_feed(body, result.headers, result.url)
        except NotAFeedError:
            if body is result.body:
                raise
            # Cutting every known entry can leave a document feedparser calls empty
            # and malformed; the whole document decides.
            parsed = parse_feed(result.body, result.headers, result.url)
        return Fetched(feed=feed, result=result, parsed=parsed, content_hash=digest)
    except FeedError as exc:
        return Fetched(feed=feed, error=exc)
    except Exception as exc:  # a bug must not leave the feed leased and silent
        log.exception("unexpected error polling feed %s", feed.id)
        return Fetched(
            feed=feed, error=FeedError(f"tribe failed to read this feed ({type(exc).__name__})")
        )


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
    feed = session.get(Feed, fetched.feed.id)
    if feed is None:  # deleted while we were fetching
        return PollSummary(fetched.feed.id, PollOutcome.ERROR, error="the feed was removed")
    if fetched.feed.token and feed.lease_token != fetched.feed.token:
        # Our lease ran out and another poller has the feed: its result will count.
        log.warning("feed %s: lease lost while polling, result dropped", feed.id)
        return PollSummary(feed.id, PollOutcome.ERROR, error="lease lost")  # type: ignore[arg-type]
    feed.last_polled_at = now
    feed.lease_until = None
    feed.lease_token = None
    if fetched.error is not None:
        return _record_error(feed, fetched.error, config=config, now=now, rng=rng)

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
    summary = PollSummary(feed.id, feed.last_outcome)  # type: ignore[arg-type]
    if fetched.parsed is not None:
        parsed = fetched.parsed
        ttl = parsed.ttl
        feed.title = parsed.title[:500] or feed.title
        feed.site_url = parsed.site_url or feed.site_url
        summary = _record_entries(session, feed, parsed, config=config, now=now)
        feed.warning = _warning(parsed.warning, summary.without_link)
    if result.moved_to:
        _move(session, feed, result.moved_to)
    feed.last_success_at = now
    feed.next_poll_at = now + delay_after_success(config, max_age=result.max_age, ttl=ttl, rng=rng)
    return summary


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


def _record_entries(
    session: Session, feed: Feed, parsed: ParsedFeed, *, config: PollConfig, now: datetime
) -> PollSummary:
    is_baseline = feed.last_success_at is None
    rows = [
        {
            "feed_id": feed.id,
            "entry_key": entry.key,
            "url": entry.url,
            "title": entry.title,
            "summary": entry.summary,
            "categories": list(entry.categories),
            "published_at": effective_published(entry.published_at, now),
            "discovered_at": now,
            "announced": False,
        }
        for entry in parsed.entries
    ]
    inserted: dict[str, int] = {}
    for start in range(0, len(rows), _INSERT_CHUNK):
        stmt = (
            dialect_insert(session, Post)
            .values(rows[start : start + _INSERT_CHUNK])
            .on_conflict_do_nothing(index_elements=["feed_id", "entry_key"])
            .returning(col(Post.entry_key), col(Post.id))
        )
        inserted.update({key: post_id for key, post_id in session.exec(stmt).all()})
    by_key = {e.key: e for e in parsed.entries}
    decided = announcement(
        (
            Candidate(
                key, effective_published(by_key[key].published_at, now), bool(by_key[key].url)
            )
            for key in inserted
        ),
        is_baseline=is_baseline,
        now=now,
        max_age=config.max_entry_age,
    )
    announce = decided.keys - _republished(session, feed, parsed, inserted)
    announced_ids = [inserted[key] for key in announce]
    if announced_ids:
        session.exec(update(Post).where(col(Post.id).in_(announced_ids)).values(announced=True))
    items = fan_out(session, announced_ids, now=now)
    announce_own_posts(session, announced_ids, now=now, config=approval_config())
    return PollSummary(
        feed.id,  # type: ignore[arg-type]
        PollOutcome.OK,
        new_posts=len(inserted),
        announced=len(announced_ids),
        stream_items=items,
        without_link=tuple(
            e.title or "(untitled)" for e in parsed.entries if e.key in decided.without_link
        ),
    )


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


def _republished(
    session: Session, feed: Feed, parsed: ParsedFeed, inserted: dict[str, int]
) -> set[str]:
    """New keys whose link the feed already had: the blog changed its guids (a platform
    move, http -> https), not its posts. Recorded, but not announced again."""
    urls = {e.key: e.url for e in parsed.entries if e.key in inserted and e.url}
    if not urls:
        return set()
    seen = set(
        session.exec(
            select(col(Post.url)).where(
                col(Post.feed_id) == feed.id,
                col(Post.url).in_(set(urls.values())),
                col(Post.id).not_in(list(inserted.values())),
            )
        ).all()
    )
    return {key for key, url in urls.items() if url in seen}


def record_polls(
    session: Session,
    fetched: Sequence[Fetched],
    *,
    config: PollConfig,
    now: datetime,
    rng: random.Random,
) -> list[PollSummary]:
    """Record a batch in one transaction; a feed whose recording fails spoils only itself.

    Unchanged feeds (most of every sweep) are written with one bulk UPDATE.
    """
    unchanged = _still_ours(session, [f for f in fetched if _is_unchanged(f)])
    summaries = _record_unchanged(session, unchanged, config=config, now=now, rng=rng)
    if len(summaries) < len(unchanged):
        unchanged = []  # the bulk write failed: take them one by one below
    done = {f.feed.id for f in unchanged}
    for outcome in fetched:
        if outcome.feed.id in done:
            continue
        try:
            with session.begin_nested():
                summaries.append(record_poll(session, outcome, config=config, now=now, rng=rng))
        except Exception as exc:
            log.exception("could not record the poll of feed %s", outcome.feed.id)
            summaries += _record_failure(session, outcome, exc, config=config, now=now, rng=rng)
    return summaries


def _still_ours(session: Session, fetched: list[Fetched]) -> list[Fetched]:
    """The polls whose lease this poller still holds (one read for the batch)."""
    if not fetched:
        return []
    rows = session.exec(
        select(col(Feed.id), col(Feed.lease_token)).where(
            col(Feed.id).in_([f.feed.id for f in fetched])
        )
    ).all()
    tokens = dict(rows)
    return [f for f in fetched if not f.feed.token or tokens.get(f.feed.id) == f.feed.token]


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
    rows: list[dict[str, object]] = []
    for outcome in fetched:
        assert outcome.result is not None
        validators = validators_after(outcome.result, outcome.feed.validators)
        delay = delay_after_success(config, max_age=outcome.result.max_age, rng=rng)
        rows.append(
            {
                "id": outcome.feed.id,
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
        )
    if not rows:
        return []
    try:
        with session.begin_nested():
            session.execute(update(Feed), rows)  # ORM bulk UPDATE by primary key
    except Exception:
        log.exception("bulk recording of %d unchanged feeds failed", len(rows))
        return []
    return [PollSummary(outcome.feed.id, PollOutcome.NOT_MODIFIED) for outcome in fetched]


def known_entry_keys(feed_id: int, keys: Sequence[str]) -> set[str]:
    """Which of `keys` the feed's stored posts already have (one short read)."""
    with read_scope() as session:
        return set(
            session.exec(
                select(col(Post.entry_key)).where(
                    col(Post.feed_id) == feed_id, col(Post.entry_key).in_(list(keys))
                )
            ).all()
        )


@dataclass(frozen=True)
class PolledBatch:
    summaries: list[PollSummary]
    next_claims: list[FeedClaim]  # what `claim_next` leased in the same transaction


def poll_claims(
    claims: Sequence[FeedClaim],
    *,
    fetcher: Fetcher,
    config: PollConfig,
    pool: Executor | None = None,
    rng: random.Random | None = None,
    claim_next: int = 0,
) -> PolledBatch:
    """Poll a batch of claims: one transaction to begin, fetches side by side, one to record.

    Claims that turn out stale (delivered twice, lease run out) are skipped. With
    `claim_next`, the recording transaction also claims that many due feeds, so a
    worker keeps its pipeline full at no extra cost.
    """
    rng = rng or random.Random()
    with session_scope() as session:
        feeds = begin_polls(session, claims, now=datetime.now(UTC), lease=config.lease)
    if len(feeds) < len(claims):
        log.info("skipping %d stale or taken claim(s)", len(claims) - len(feeds))
    if pool is None or len(feeds) <= 1:
        fetched = [fetch_and_parse(feed, fetcher, known_entry_keys) for feed in feeds]
    else:
        fetched = list(
            pool.map(lambda feed: fetch_and_parse(feed, fetcher, known_entry_keys), feeds)
        )
    with session_scope() as session:
        now = datetime.now(UTC)
        summaries = record_polls(session, fetched, config=config, now=now, rng=rng)
        next_claims = (
            claim_due_feeds(
                session,
                now=now,
                limit=min(claim_next, len(feeds)),
                per_host=config.per_host,
                max_in_flight=config.max_in_flight,
                lease=config.lease,
            )
            if claim_next and feeds
            else []
        )
    return PolledBatch(summaries, next_claims)


def poll_claimed_feed(
    claim: FeedClaim,
    *,
    fetcher: Fetcher,
    config: PollConfig,
    rng: random.Random | None = None,
) -> PollSummary | None:
    """One claim's poll; None when the claim was stale (nothing was done)."""
    summaries = poll_claims([claim], fetcher=fetcher, config=config, rng=rng).summaries
    return summaries[0] if summaries else None


def unpolled(feed_id: int, url: str) -> FeedToPoll:
    """A feed that was never fetched (validation before it is stored)."""
    return FeedToPoll(id=feed_id, url=url, validators=Validators(), content_hash=None)


def with_id(fetched: Fetched, feed_id: int) -> Fetched:
    return replace(fetched, feed=replace(fetched.feed, id=feed_id))
