"""Polling a batch of feeds: begin (check the claims), fetch and parse, record.

No database session is held across the network calls: `begin_polls` and
`record_polls` are short transactions, and everything between them is plain data.
"""

from __future__ import annotations

import hashlib
import logging
import random
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session, col

from tribe.core.errors import FeedError, NotAFeedError
from tribe.core.polling import (
    PollConfig,
)
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Feed
from tribe.ingest.claims import TO_POLL, FeedClaim, claim_due_feeds, to_poll
from tribe.ingest.fetch import Fetcher, Validators
from tribe.ingest.parse import parse_feed
from tribe.ingest.prescan import without_known_entries
from tribe.ingest.record import known_entry_keys, record_polls
from tribe.ingest.stages import FeedToPoll, Fetched, KnownKeys, PollSummary

log = logging.getLogger(__name__)


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
            .returning(*TO_POLL)
        ).all()
        taken += to_poll(rows, mine)
    return sorted(taken, key=lambda f: f.id)


def read_fresh_claims(
    session: Session, claims: Sequence[FeedClaim], *, now: datetime, lease: timedelta
) -> list[FeedToPoll]:
    """The claims this poller may start on without writing: still leased under their
    token with at least half the lease to run. For claims that cannot have been handed
    out twice (see `poll_claims`); `begin_polls` takes up the others."""
    taken: list[FeedToPoll] = []
    for token in dict.fromkeys(c.token for c in claims):
        ids = [c.feed_id for c in claims if c.token == token]
        rows = session.execute(
            select(*TO_POLL).where(
                col(Feed.id).in_(ids),
                col(Feed.lease_token) == token,
                col(Feed.lease_until) > now + lease / 2,
            )
        ).all()
        taken += to_poll(rows, token)
    return taken


def _new_entries_only(feed: FeedToPoll, body: bytes, known: KnownKeys | None) -> bytes:
    if known is None or feed.content_hash is None:
        # Never read before (every poll that stores posts also stores the document's
        # hash): there is nothing known to cut, and no need to ask.
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
        read = replace(result, body=b"")  # see below
        if digest == feed.content_hash:
            # The server ignores conditional GET but sent the same bytes: nothing to read.
            return Fetched(feed=feed, result=read, content_hash=digest)
        body = _new_entries_only(feed, result.body, known)
        try:
            parsed = parse_feed(body, result.headers, result.url)
        except NotAFeedError:
            if body is result.body:
                raise
            # Cutting every known entry can leave a document feedparser calls empty
            # and malformed; the whole document decides.
            parsed = parse_feed(result.body, result.headers, result.url)
        # The bytes are read: what the batch records is `parsed`. Dropping them here
        # keeps a batch waiting for its slowest feed small (a feed can be megabytes).
        return Fetched(feed=feed, result=read, parsed=parsed, content_hash=digest)
    except FeedError as exc:
        return Fetched(feed=feed, error=exc)
    except Exception as exc:  # a bug must not leave the feed leased and silent
        log.exception("unexpected error polling feed %s", feed.id)
        return Fetched(
            feed=feed, error=FeedError(f"tribe failed to read this feed ({type(exc).__name__})")
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
    delivered_once: bool = False,
) -> PolledBatch:
    """Poll a batch of claims: one transaction to begin, fetches side by side, one to record.

    Claims that turn out stale (delivered twice, lease run out) are skipped. With
    `claim_next`, the recording transaction also claims that many due feeds, so a
    worker keeps its pipeline full at no extra cost.

    `delivered_once`: the caller knows these claims reached no other poller (claimed
    in this process, or a task message the broker did not redeliver). Then they are
    taken up without the write that swaps their token (on SQLite every write waits for
    the one writer, and that wait was half of a warm sweep's batch), from what the
    claim read of each feed, or a read where it carries none. A claim with less than
    half its lease left is begun (and its lease renewed) all the same; and recording
    checks the token either way, so a poll can never be recorded twice.
    """
    rng = rng or random.Random()
    now = datetime.now(UTC)
    feeds: list[FeedToPoll] = []
    if delivered_once:
        fresh = now + config.lease / 2
        feeds = [c.feed for c in claims if c.feed and c.until and c.until > fresh]
        unread = [c for c in claims if c.feed is None]
        if unread:
            with read_scope(each_statement=True) as session:
                feeds += read_fresh_claims(session, unread, now=now, lease=config.lease)
    taken = {f.id for f in feeds}
    rest = [c for c in claims if c.feed_id not in taken]
    if rest:
        with session_scope() as session:
            feeds += begin_polls(session, rest, now=now, lease=config.lease)
        feeds.sort(key=lambda f: f.id)
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
