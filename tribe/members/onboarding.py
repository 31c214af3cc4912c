"""The first steps on a new instance: what is done of the loop a newcomer walks."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from tribe.core.kinds import MembershipStatus
from tribe.infra.models import Account, Feed, Member, Membership, Tribe


@dataclass(frozen=True)
class FirstSteps:
    """Each step of the loop, done or not, and the tribe the member leads (if any)."""

    tribe_slug: str | None  # the first tribe the member is chief of
    tribe_name: str | None
    has_tribe: bool
    someone_joined: bool  # the invite was used: the tribe has another member
    has_feed: bool
    has_account: bool

    @property
    def done(self) -> bool:
        return self.has_tribe and self.someone_joined and self.has_feed and self.has_account


def first_steps(session: Session, member: Member) -> FirstSteps:
    tribe = session.exec(
        select(Tribe).where(col(Tribe.chief_id) == member.id).order_by(col(Tribe.id))
    ).first()
    members = 0
    if tribe is not None:
        members = session.exec(
            select(func.count()).where(
                col(Membership.tribe_id) == tribe.id,
                col(Membership.status) == MembershipStatus.ACTIVE,
            )
        ).one()
    has_feed = session.exec(
        select(func.count()).where(col(Feed.owner_id) == member.id, col(Feed.removed_at).is_(None))
    ).one()
    has_account = session.exec(
        select(func.count()).where(col(Account.member_id) == member.id, col(Account.active))
    ).one()
    return FirstSteps(
        tribe_slug=tribe.slug if tribe else None,
        tribe_name=tribe.name if tribe else None,
        has_tribe=tribe is not None,
        someone_joined=members > 1,
        has_feed=has_feed > 0,
        has_account=has_account > 0,
    )
