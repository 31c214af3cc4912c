"""The tribal stream: new posts fanned out to tribemates, and each member's inbox."""

from __future__ import annotations

import functools
import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import nh3
from sqlalchemy import ColumnElement, and_, bindparam, func, literal, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, UTCDateTime, col, select

from tribe.core.errors import NotFoundError
from tribe.core.kinds import MembershipStatus, StreamState
from tribe.infra.db import insert_for
from tribe.infra.models import Feed, Member, Membership, Post, Preference, StreamItem, Tribe
from tribe.members.tribemates import item_author, shares_a_tribe


def shareable_url() -> ColumnElement[bool]:
    """SQL: the post has a web link a tribemate can share (http or https)."""
    return or_(col(Post.url).startswith("http://"), col(Post.url).startswith("https://"))


def fan_out(session: Session, post_ids: Sequence[int], *, now: datetime) -> int:
    """Give each post a stream item for every active tribemate of its author, once;
    return how many items were made (see `fan_out_by_post`)."""
    return sum(fan_out_by_post(session, post_ids, now=now).values())


def fan_out_by_post(session: Session, post_ids: Sequence[int], *, now: datetime) -> Counter[int]:
    """`fan_out`, counting the new items of each post (a batch of feeds fans out at once).

    Tribemates who muted the author get nothing; a post without a web link (see
    `shareable_url`) reaches no one: there would be nothing to share.

    One INSERT ... SELECT for all posts and members: the author is excluded, a
    member who shares several tribes with the author gets one item, and the unique
    (post, member) constraint makes a repeated fan-out change nothing.
    """
    if not post_ids:
        return Counter()
    stmt = _fan_out_statement(session.get_bind().dialect.name)
    return Counter(session.scalars(stmt, {"post_ids": list(post_ids), "now": now}))


@functools.cache
def _fan_out_statement(dialect: str) -> Any:
    """`fan_out`'s statement, built once per process: every batch of polls with new
    posts runs it, and building it anew (two aliases, four joins) was 17% of a warm
    sweep's CPU when it ran once a changed feed."""
    author = aliased(Membership)
    mate = aliased(Membership)
    owner = col(Feed.owner_id)
    rows = (
        select(
            col(Post.id),
            col(mate.member_id),
            literal(StreamState.PENDING.value),
            bindparam("now", type_=UTCDateTime()),
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
            col(Post.id).in_(bindparam("post_ids", expanding=True)),
            shareable_url(),
            or_(col(Preference.muted).is_(None), col(Preference.muted).is_(False)),
        )
        .distinct()
    )
    return (
        insert_for(dialect, StreamItem.__table__)  # type: ignore[attr-defined]
        .from_select(["post_id", "member_id", "state", "created_at"], rows)
        .on_conflict_do_nothing(index_elements=["post_id", "member_id"])
        .returning(col(StreamItem.post_id))
    )


@dataclass(frozen=True)
class StreamEntry:
    """One pending item of a member's stream, as `tribe stream` shows it."""

    item_id: int
    post_id: int
    title: str
    url: str
    author_email: str
    author_name: str
    tribes: tuple[str, ...]  # slugs
    published_at: datetime | None
    discovered_at: datetime
    summary: str = ""  # plain text, shortened
    tribe_names: tuple[str, ...] = ()  # the same tribes, by name


def _excerpt(summary: str, most: int = 280) -> str:
    """The sanitized HTML summary as plain text, cut at a word near `most` characters."""
    text = " ".join(nh3.clean(summary, tags=set()).split())
    text = html.unescape(text)
    if len(text) <= most:
        return text
    return text[:most].rsplit(" ", 1)[0] + " …"


def _listed(member_id: int) -> list[ColumnElement[bool]]:
    """The member's pending items whose author still shares an active tribe with them.

    Leaving and removal withdraw the others; this keeps them out of sight even when
    something got past that (a fan-out racing the removal)."""
    return [
        col(StreamItem.member_id) == member_id,
        col(StreamItem.state) == StreamState.PENDING,
        shares_a_tribe(member_id, item_author()),
    ]


def _id(member: Member) -> int:
    assert member.id is not None
    return member.id


def count_pending(session: Session, *, member: Member) -> int:
    return session.exec(
        select(func.count()).select_from(StreamItem).where(*_listed(_id(member)))
    ).one()


def pending_stream(
    session: Session, *, member: Member, limit: int | None = None, offset: int = 0
) -> list[StreamEntry]:
    """The member's pending items, newest first, with the tribes they share with the author
    (all of them unless a page is asked for with `limit` and `offset`)."""
    when = func.coalesce(col(Post.published_at), col(Post.discovered_at))
    return _entries(
        session,
        _id(member),
        order=(when.desc(), col(StreamItem.id).desc()),
        limit=limit,
        offset=offset,
    )


def newest_item_id(session: Session, *, member: Member) -> int:
    """The id of the newest item that ever reached the member's stream (0: none yet).

    Item ids only grow, so what arrives later has a greater id: the page remembers this
    one and asks for what came after it (`count_new`, `new_entries`)."""
    found = session.exec(
        select(func.max(col(StreamItem.id))).where(col(StreamItem.member_id) == member.id)
    ).one()
    return found or 0


def count_new(session: Session, *, member: Member, after: int) -> int:
    """How many of the member's pending items arrived after item `after`."""
    return session.exec(
        select(func.count())
        .select_from(StreamItem)
        .where(*_listed(_id(member)), col(StreamItem.id) > after)
    ).one()


def new_entries(session: Session, *, member: Member, after: int, limit: int) -> list[StreamEntry]:
    """The first `limit` pending items that arrived after item `after`, oldest first, so
    that asking again after the last of them gives the rest."""
    return _entries(
        session,
        _id(member),
        col(StreamItem.id) > after,
        order=(col(StreamItem.id).asc(),),
        limit=limit,
    )


def entries_of(session: Session, *, member: Member, item_ids: Sequence[int]) -> list[StreamEntry]:
    """Those of the given items that are pending in the member's stream, newest first."""
    return _entries(
        session,
        _id(member),
        col(StreamItem.id).in_(list(item_ids)),
        order=(col(StreamItem.id).desc(),),
    )


def _entries(
    session: Session,
    member_id: int,
    *where: ColumnElement[bool],
    order: tuple[ColumnElement[Any], ...],
    limit: int | None = None,
    offset: int = 0,
) -> list[StreamEntry]:
    rows = session.exec(
        select(StreamItem, Post, Member)
        .join(Post, col(Post.id) == col(StreamItem.post_id))
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .join(Member, col(Member.id) == col(Feed.owner_id))
        .where(*_listed(member_id), *where)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    ).all()
    shared = _shared_tribes(session, member_id, {author.id for _, _, author in rows if author.id})
    return [
        StreamEntry(
            item_id=item.id or 0,
            post_id=post.id or 0,
            title=post.title,
            url=post.url,
            author_email=author.email,
            author_name=author.display_name,
            tribes=tuple(slug for slug, _ in shared.get(author.id or 0, ())),
            published_at=post.published_at,
            discovered_at=post.discovered_at,
            summary=_excerpt(post.summary),
            tribe_names=tuple(name for _, name in shared.get(author.id or 0, ())),
        )
        for item, post, author in rows
    ]


@dataclass(frozen=True)
class SkippedEntry:
    """An item the member skipped, while it can still be put back in their stream."""

    item_id: int
    title: str
    url: str
    author_name: str
    skipped_at: datetime | None


def recently_skipped(
    session: Session, *, member: Member, now: datetime, expiry: timedelta, limit: int = 20
) -> list[SkippedEntry]:
    """The member's last skipped items, newest decision first: those younger than
    `expiry` (an older one would have expired by now) whose author still shares a tribe
    with them."""
    rows = session.exec(
        select(StreamItem, Post, Member)
        .join(Post, col(Post.id) == col(StreamItem.post_id))
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .join(Member, col(Member.id) == col(Feed.owner_id))
        .where(
            col(StreamItem.member_id) == member.id,
            col(StreamItem.state) == StreamState.SKIPPED,
            col(StreamItem.created_at) >= now - expiry,
            shares_a_tribe(_id(member), item_author()),
        )
        .order_by(col(StreamItem.decided_at).desc(), col(StreamItem.id).desc())
        .limit(limit)
    ).all()
    return [
        SkippedEntry(
            item_id=item.id or 0,
            title=post.title,
            url=post.url,
            author_name=author.display_name,
            skipped_at=item.decided_at,
        )
        for item, post, author in rows
    ]


def _shared_tribes(
    session: Session, member_id: int, author_ids: set[int]
) -> dict[int, tuple[tuple[str, str], ...]]:
    """For each author, the (slug, name) of each active tribe they share with the member."""
    if not author_ids:
        return {}
    mine = aliased(Membership)
    theirs = aliased(Membership)
    rows = session.exec(
        select(col(theirs.member_id), col(Tribe.slug), col(Tribe.name))
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
        .order_by(col(Tribe.name), col(Tribe.slug))
    ).all()
    shared: dict[int, tuple[tuple[str, str], ...]] = {}
    for author_id, slug, name in rows:
        shared[author_id] = (*shared.get(author_id, ()), (slug, name))
    return shared


def own_item(session: Session, *, member: Member, item_id: int) -> StreamItem:
    """One of the member's stream items; anyone else's is "not found", as if it did not
    exist."""
    item = session.get(StreamItem, item_id)
    if item is None or item.member_id != member.id:
        raise NotFoundError(f"no stream item #{item_id} for {member.email}")
    return item
