"""What a member wants from one tribemate's posts: muted, or approved automatically."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import StreamState
from tribe.infra.models import Feed, Member, Post, Preference, StreamItem
from tribe.members.tribemates import shares_a_tribe
from tribe.stream.approvals import ApprovalConfig, Decision, try_approve

log = logging.getLogger("tribe.approvals")


def _preference(session: Session, member: Member, author: Member) -> Preference:
    if author.id == member.id:
        raise InvalidInputError("that is you; your own posts never reach your stream")
    pref = session.exec(
        select(Preference).where(
            col(Preference.member_id) == member.id, col(Preference.author_id) == author.id
        )
    ).first()
    if pref is None:
        pref = Preference(member_id=member.id, author_id=author.id)  # type: ignore[arg-type]
        session.add(pref)
    return pref


@dataclass(frozen=True)
class AuthorPreference:
    """What a member chose for one tribemate's posts."""

    muted: bool
    auto_approve: bool
    auto_daily_cap: int


def preferences(session: Session, *, member: Member) -> dict[int, AuthorPreference]:
    """The member's choices, by author id; an author not listed has the defaults."""
    rows = session.exec(select(Preference).where(col(Preference.member_id) == member.id)).all()
    return {p.author_id: AuthorPreference(p.muted, p.auto_approve, p.auto_daily_cap) for p in rows}


def set_muted(session: Session, *, member: Member, author: Member, muted: bool) -> None:
    """Whether the author's new posts reach the member's stream."""
    _preference(session, member, author).muted = muted
    session.flush()


def set_auto_approve(
    session: Session, *, member: Member, author: Member, enabled: bool, daily_cap: int = 3
) -> None:
    """Approve the author's new posts for the member, at most `daily_cap` a day."""
    if not 1 <= daily_cap <= 50:
        raise InvalidInputError("the auto-approve daily cap must be between 1 and 50")
    pref = _preference(session, member, author)
    pref.auto_approve, pref.auto_daily_cap = enabled, daily_cap
    session.flush()


def auto_approve_pending(session: Session, *, now: datetime, config: ApprovalConfig) -> int:
    """Approve pending items from tribemates a member auto-approves, within the daily cap."""
    rows = session.exec(
        select(StreamItem, Member, Preference)
        .join(Post, col(Post.id) == col(StreamItem.post_id))
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .join(Member, col(Member.id) == col(StreamItem.member_id))
        .join(
            Preference,
            and_(
                col(Preference.member_id) == col(StreamItem.member_id),
                col(Preference.author_id) == col(Feed.owner_id),
            ),
        )
        .where(
            col(StreamItem.state) == StreamState.PENDING,
            col(Preference.auto_approve).is_(True),
            # A tribemate no more: nothing of theirs is approved automatically.
            shares_a_tribe(col(StreamItem.member_id), col(Feed.owner_id)),
        )
        .order_by(col(StreamItem.id))
    ).all()
    approved = 0
    for item, member, pref in rows:
        since = now - timedelta(days=1)
        used = session.exec(
            select(func.count())
            .select_from(StreamItem)
            .join(Post, col(Post.id) == col(StreamItem.post_id))
            .join(Feed, col(Feed.id) == col(Post.feed_id))
            .where(
                col(StreamItem.member_id) == member.id,
                col(Feed.owner_id) == pref.author_id,
                col(StreamItem.auto).is_(True),
                col(StreamItem.decided_at) >= since,
            )
        ).one()
        if used >= pref.auto_daily_cap:
            continue
        decided = try_approve(
            session, member=member, item_id=item.id or 0, now=now, config=config, auto=True
        )
        # No account, queue full: it waits for the member like any item.
        approved += isinstance(decided, Decision)
    return approved
