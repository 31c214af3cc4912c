"""Reach: how many people a member's accounts, and a tribe's, can reach.

Each connected account's followers are read from its network when it connects and then
once a day, one `ReachSnapshot` row per account and day (UTC): the history feeds the
charts and "the reach given" of a reshare (the sharer's followers on the day it went
out, `tribe.alliance.reciprocity`). A network that will not say (X below the tiers that
return `public_metrics`) leaves the count unknown, with the reason: never guessed.

A member's reach is the followers of their active accounts (connected, not switched
off); a tribe's is the sum over its active members' accounts, each account once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from tribe.core.kinds import Connection, MembershipStatus
from tribe.infra.models import Account, Membership, ReachSnapshot


@dataclass(frozen=True)
class Reach:
    """Followers summed over the accounts whose count is known; `unknown` says how many
    of the `accounts` counted have no count (never read, or the network would not say)."""

    followers: int
    accounts: int
    unknown: int

    @property
    def complete(self) -> bool:
        return self.unknown == 0


def latest_followers(session: Session, account_ids: Sequence[int]) -> dict[int, int | None]:
    """Each account → its followers at the latest reading (None: unknown or never read)."""
    if not account_ids:
        return {}
    newest = (
        select(col(ReachSnapshot.account_id), func.max(ReachSnapshot.day).label("day"))
        .where(col(ReachSnapshot.account_id).in_(account_ids))
        .group_by(col(ReachSnapshot.account_id))
        .subquery()
    )
    rows = session.exec(
        select(col(ReachSnapshot.account_id), col(ReachSnapshot.followers)).join(
            newest,
            (col(ReachSnapshot.account_id) == newest.c.account_id)
            & (col(ReachSnapshot.day) == newest.c.day),
        )
    ).all()
    found: dict[int, int | None] = dict.fromkeys(account_ids)
    found.update({account_id: followers for account_id, followers in rows})
    return found


def _reach(session: Session, account_ids: Sequence[int]) -> Reach:
    counts = latest_followers(session, account_ids)
    known = [n for n in counts.values() if n is not None]
    return Reach(followers=sum(known), accounts=len(counts), unknown=len(counts) - len(known))


def active_account_ids(session: Session, member_ids: Sequence[int]) -> list[int]:
    """The members' active accounts: connected and not switched off."""
    if not member_ids:
        return []
    ids = session.exec(
        select(col(Account.id)).where(
            col(Account.member_id).in_(member_ids),
            col(Account.active).is_(True),
            col(Account.connection) == Connection.CONNECTED,
        )
    ).all()
    return [account_id for account_id in ids if account_id is not None]


def member_reach(session: Session, member_id: int) -> Reach:
    """The followers of the member's active accounts."""
    return _reach(session, active_account_ids(session, [member_id]))


def tribe_reach(session: Session, tribe_id: int) -> Reach:
    """The followers of the tribe's active members' active accounts, each account once."""
    members = session.exec(
        select(col(Membership.member_id)).where(
            col(Membership.tribe_id) == tribe_id,
            col(Membership.status) == MembershipStatus.ACTIVE,
        )
    ).all()
    return _reach(session, active_account_ids(session, list(members)))
