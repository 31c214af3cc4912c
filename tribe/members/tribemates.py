"""Who is whose tribemate right now: the membership rule the stream follows where it
is used (listing, approving, auto-approving), and what leaving or being removed
withdraws."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.orm import Mapped, aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from tribe.core.kinds import MembershipStatus, StreamState
from tribe.infra.models import Feed, Membership, Post, StreamItem


def _common_memberships(
    member_id: Mapped[int] | ColumnElement[int] | int,
    author_id: Mapped[int] | ColumnElement[int] | int,
) -> SelectOfScalar[int | None]:
    mine = aliased(Membership)
    theirs = aliased(Membership)
    return (
        select(col(mine.id))
        .join(theirs, col(theirs.tribe_id) == col(mine.tribe_id))
        .where(
            col(mine.member_id) == member_id,
            col(mine.status) == MembershipStatus.ACTIVE,
            col(theirs.member_id) == author_id,
            col(theirs.status) == MembershipStatus.ACTIVE,
        )
    )


def shares_a_tribe(
    member_id: Mapped[int] | ColumnElement[int] | int,
    author_id: Mapped[int] | ColumnElement[int] | int,
) -> ColumnElement[bool]:
    """SQL: the two are both active members of at least one tribe right now.

    This is the one membership rule of the stream: an item is listed and can be
    approved only while it holds (checked where it is used, not only at fan-out).
    """
    return _common_memberships(member_id, author_id).exists()


def still_share_a_tribe(session: Session, member_id: int, author_id: int) -> bool:
    """`shares_a_tribe`, checked at the moment of use. On PostgreSQL the memberships
    that make it true stay locked (FOR SHARE) until the transaction ends, so a removal
    waits for an approval in progress instead of slipping in between; SQLite's write
    lock already does that."""
    found = session.exec(
        _common_memberships(member_id, author_id).limit(1).with_for_update(read=True)
    ).first()
    return found is not None


def item_author() -> ColumnElement[int]:
    """SQL, correlated to `StreamItem`: the member whose feed the item's post came from."""
    return (
        select(col(Feed.owner_id))
        .join(Post, col(Post.feed_id) == col(Feed.id))
        .where(col(Post.id) == col(StreamItem.post_id))
        .correlate(StreamItem)  # to the statement around `shares_a_tribe`, two levels up
        .scalar_subquery()
    )


def withdraw_unshared(
    session: Session,
    *,
    now: datetime,
    member_id: int | None = None,
    item_ids: Sequence[int] | None = None,
) -> int:
    """Pending items whose member and author no longer share an active tribe become
    withdrawn (kept, never deleted; a later re-join does not bring them back).

    `member_id` limits it to items that member is on either side of: theirs, and those
    of their posts in others' streams; `item_ids` to those items.
    """
    author = item_author()
    stmt = update(StreamItem).where(
        col(StreamItem.state) == StreamState.PENDING,
        ~shares_a_tribe(col(StreamItem.member_id), author),
    )
    if member_id is not None:
        theirs = select(col(Post.id)).join(Feed, col(Feed.id) == col(Post.feed_id))
        stmt = stmt.where(
            or_(
                col(StreamItem.member_id) == member_id,
                col(StreamItem.post_id).in_(theirs.where(col(Feed.owner_id) == member_id)),
            )
        )
    if item_ids is not None:
        stmt = stmt.where(col(StreamItem.id).in_(list(item_ids)))
    result = session.exec(stmt.values(state=StreamState.WITHDRAWN, decided_at=now))
    return int(result.rowcount)
