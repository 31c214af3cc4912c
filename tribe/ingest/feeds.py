"""Adding and listing feeds."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from tribe.core.errors import ConflictError, NotFoundError
from tribe.core.kinds import FeedStatus, PollOutcome
from tribe.core.polling import PollConfig
from tribe.core.urls import check_feed_url, host_of
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Feed, Member
from tribe.ingest.fetch import Fetcher
from tribe.ingest.poll import fetch_and_parse, unpolled, with_id
from tribe.ingest.record import record_poll
from tribe.ingest.stages import PollSummary


@dataclass(frozen=True)
class FeedInfo:
    """A feed as `tribe feed list` shows it."""

    id: int
    url: str
    title: str
    owner_email: str
    status: FeedStatus
    last_outcome: PollOutcome | None
    last_http_status: int | None
    error: str | None
    warning: str | None
    error_count: int
    last_polled_at: datetime | None
    next_poll_at: datetime | None


@dataclass(frozen=True)
class AddedFeed:
    info: FeedInfo
    first_poll: PollSummary


def _ensure_new(session: Session, owner_id: int, url: str) -> Feed | None:
    """The owner's removed feed at `url`, to bring back; an error if they have it already."""
    existing = session.exec(
        select(Feed).where(col(Feed.owner_id) == owner_id, col(Feed.url) == url)
    ).first()
    if existing is not None and existing.removed_at is None:
        raise ConflictError(f"you already have this feed (#{existing.id}): {url}")
    return existing


def add_feed(*, owner_id: int, url: str, fetcher: Fetcher, config: PollConfig) -> AddedFeed:
    """Fetch once to check it is a feed, then store it with that fetch as its first poll.

    Nothing is stored when the fetch fails: the error says what is wrong with the URL. It
    takes the owner's id, not their row: no database session stays open while it fetches.
    """
    url = check_feed_url(url)
    with read_scope() as session:
        _ensure_new(session, owner_id, url)
    fetched = fetch_and_parse(unpolled(0, url), fetcher)
    if fetched.error is not None:
        raise fetched.error
    assert fetched.result is not None
    final_url = fetched.result.moved_to or url
    now = datetime.now(UTC)
    with session_scope() as session:
        feed = _ensure_new(session, owner_id, final_url) or Feed(
            owner_id=owner_id, url=final_url, host=host_of(final_url)
        )
        # A feed the owner removed and adds again comes back with its posts and state.
        feed.removed_at, feed.next_poll_at = None, now
        session.add(feed)
        session.flush()
        assert feed.id is not None
        summary = record_poll(
            session, with_id(fetched, feed.id), config=config, now=now, rng=random.Random()
        )
        return AddedFeed(info=list_feeds(session, feed_id=feed.id)[0], first_poll=summary)


def remove_feed(session: Session, *, member: Member, feed_id: int) -> FeedInfo:
    """Stop polling one of the member's feeds and stop listing it; its posts stay."""
    feed = session.get(Feed, feed_id)
    if feed is None or feed.owner_id != member.id or feed.removed_at is not None:
        raise NotFoundError(f"no feed #{feed_id} of {member.email}")
    feed.removed_at = datetime.now(UTC)
    feed.lease_until = feed.lease_token = None
    session.flush()
    return _info(feed, member.email)


def _listed(
    owner: Member | None, feed_id: int | None, failing_only: bool
) -> list[ColumnElement[bool]]:
    """SQL: the feeds not removed: all of them, one owner's, or one; only the failing."""
    where: list[ColumnElement[bool]] = [col(Feed.removed_at).is_(None)]
    if failing_only:
        where.append(col(Feed.error_count) > 0)
    if owner is not None:
        where.append(col(Feed.owner_id) == owner.id)
    if feed_id is not None:
        where.append(col(Feed.id) == feed_id)
    return where


def list_feeds(
    session: Session,
    *,
    owner: Member | None = None,
    feed_id: int | None = None,
    failing_only: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[FeedInfo]:
    """Feeds not removed, by id: all of them, one owner's, or one (a page of them with
    `limit` and `offset`)."""
    query = (
        select(Feed, col(Member.email))
        .join(Member, col(Member.id) == col(Feed.owner_id))
        .where(*_listed(owner, feed_id, failing_only))
        .order_by(col(Feed.id))
        .limit(limit)
        .offset(offset)
    )
    return [_info(feed, email) for feed, email in session.exec(query).all()]


def count_feeds(
    session: Session, *, owner: Member | None = None, failing_only: bool = False
) -> int:
    """How many feeds `list_feeds` lists in all."""
    where = _listed(owner, None, failing_only)
    return session.exec(select(func.count()).select_from(Feed).where(*where)).one()


def _info(feed: Feed, owner_email: str) -> FeedInfo:
    assert feed.id is not None
    return FeedInfo(
        id=feed.id,
        url=feed.url,
        title=feed.title,
        owner_email=owner_email,
        status=feed.status,
        last_outcome=feed.last_outcome,
        last_http_status=feed.last_http_status,
        error=feed.error_message,
        warning=feed.warning,
        error_count=feed.error_count,
        last_polled_at=feed.last_polled_at,
        next_poll_at=feed.next_poll_at,
    )
