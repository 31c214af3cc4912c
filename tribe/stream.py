"""The tribal stream: new posts fanned out to tribemates, and each member's inbox."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import nh3
from sqlalchemy import and_, func, literal, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, UTCDateTime, col, select

from tribe.db import dialect_insert
from tribe.members import get_member
from tribe.models import (
    Feed,
    Member,
    Membership,
    MembershipStatus,
    Post,
    Preference,
    StreamItem,
    StreamState,
    Tribe,
)


def fan_out(session: Session, post_ids: Sequence[int], *, now: datetime) -> int:
    """Give each post a stream item for every active tribemate of its author, once.

    Tribemates who muted the author get nothing.

    One INSERT ... SELECT for all posts and members: the author is excluded, a
    member who shares several tribes with the author gets one item, and the unique
    (post, member) constraint makes a repeated fan-out change nothing.
    """
    if not post_ids:
        return 0
    author = aliased(Membership)
    mate = aliased(Membership)
    owner = col(Feed.owner_id)
    rows = (
        select(
            col(Post.id),
            col(mate.member_id),
            literal(StreamState.PENDING.value),
            literal(now, UTCDateTime()),
        )
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .join(
            author,
            and_(
                col(author.member_id) == owner,
                col(author.status) == MembershipStatus.ACTIVE,
            ),
        )
        .join(
            mate,
            and_(
                col(mate.tribe_id) == col(author.tribe_id),
                col(mate.status) == MembershipStatus.ACTIVE,
                col(mate.member_id) != owner,
            ),
        )
        .outerjoin(
            Preference,
            and_(
                col(Preference.member_id) == col(mate.member_id),
                col(Preference.author_id) == owner,
            ),
        )
        .where(
            col(Post.id).in_(list(post_ids)),
            or_(col(Preference.muted).is_(None), col(Preference.muted).is_(False)),
        )
        .distinct()
    )
    stmt = (
        dialect_insert(session, StreamItem)
        .from_select(["post_id", "member_id", "state", "created_at"], rows)
        .on_conflict_do_nothing(index_elements=["post_id", "member_id"])
        .returning(col(StreamItem.id))
    )
    return len(session.exec(stmt).all())


@dataclass(frozen=True)
class StreamEntry:
    """One pending item of a member's stream, as `tribe stream` shows it."""

    item_id: int
    post_id: int
    title: str
    url: str
    author_email: str
    author_name: str
    tribes: tuple[str, ...]
    published_at: datetime | None
    discovered_at: datetime
    summary: str = ""  # plain text, shortened


def _excerpt(summary: str, most: int = 280) -> str:
    """The sanitized HTML summary as plain text, cut at a word near `most` characters."""
    text = " ".join(nh3.clean(summary, tags=set()).split())
    text = html.unescape(text)
    if len(text) <= most:
        return text
    return text[:most].rsplit(" ", 1)[0] + " …"


def count_pending(session: Session, *, email: str) -> int:
    member = get_member(session, email)
    return session.exec(
        select(func.count()).where(
            col(StreamItem.member_id) == member.id, col(StreamItem.state) == StreamState.PENDING
        )
    ).one()


def pending_stream(
    session: Session, *, email: str, limit: int | None = None, offset: int = 0
) -> list[StreamEntry]:
    """The member's pending items, newest first, with the tribes they share with the author
    (all of them unless a page is asked for with `limit` and `offset`)."""
    member = get_member(session, email)
    assert member.id is not None
    when = func.coalesce(col(Post.published_at), col(Post.discovered_at))
    rows = session.exec(
        select(StreamItem, Post, Member)
        .join(Post, col(Post.id) == col(StreamItem.post_id))
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .join(Member, col(Member.id) == col(Feed.owner_id))
        .where(
            col(StreamItem.member_id) == member.id,
            col(StreamItem.state) == StreamState.PENDING,
        )
        .order_by(when.desc(), col(StreamItem.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    shared = _shared_tribes(session, member.id, {author.id for _, _, author in rows if author.id})
    return [
        StreamEntry(
            item_id=item.id or 0,
            post_id=post.id or 0,
            title=post.title,
            url=post.url,
            author_email=author.email,
            author_name=author.display_name,
            tribes=shared.get(author.id or 0, ()),
            published_at=post.published_at,
            discovered_at=post.discovered_at,
            summary=_excerpt(post.summary),
        )
        for item, post, author in rows
    ]


def _shared_tribes(
    session: Session, member_id: int, author_ids: set[int]
) -> dict[int, tuple[str, ...]]:
    if not author_ids:
        return {}
    mine = aliased(Membership)
    theirs = aliased(Membership)
    rows = session.exec(
        select(col(theirs.member_id), col(Tribe.slug))
        .join(
            mine,
            and_(col(mine.tribe_id) == col(theirs.tribe_id), col(mine.member_id) == member_id),
        )
        .join(Tribe, col(Tribe.id) == col(theirs.tribe_id))
        .where(
            col(theirs.member_id).in_(author_ids),
            col(theirs.status) == MembershipStatus.ACTIVE,
            col(mine.status) == MembershipStatus.ACTIVE,
        )
        .order_by(col(Tribe.slug))
    ).all()
    shared: dict[int, tuple[str, ...]] = {}
    for author_id, slug in rows:
        shared[author_id] = (*shared.get(author_id, ()), slug)
    return shared
