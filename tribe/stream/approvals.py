"""A member decides on their stream: approve (as is, or with their own words), or skip.

Approving places one delivery per active account at the next time that account's
schedule allows. A decision is recorded once: a second click, a retried request or an
approval of the same post from a second tribe changes nothing.

Membership is checked when an item is approved, not only when it reached the stream:
a member who no longer shares an active tribe with the post's author cannot approve it
(by hand, all at once or automatically).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from config import Settings, get_settings
from tribe.core.errors import ConflictError, InvalidInputError, TribeError
from tribe.core.kinds import Network, ReshareKind, StreamState
from tribe.delivery.placing import PlacementConfig, schedule_delivery
from tribe.infra.models import Account, Delivery, Feed, Member, Post, StreamItem
from tribe.members.accounts import (
    member_accounts,
    mention,
)
from tribe.members.tribemates import still_share_a_tribe
from tribe.stream.items import own_item
from tribe.stream.texts import share_texts

log = logging.getLogger("tribe.approvals")


class QueueFullError(ConflictError):
    """No account had a free time within the horizon; the item stays pending."""


class WithdrawnError(ConflictError):
    """The member and the post's author no longer share an active tribe: the item was
    withdrawn from the member's stream and nothing was queued."""


@dataclass(frozen=True)
class ApprovalConfig(PlacementConfig):
    """What deciding on the stream needs: where an approval places its deliveries (the
    `PlacementConfig` it is), and how long an item waits in a stream for a decision."""

    expiry: timedelta = timedelta(days=5)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApprovalConfig:
        return cls(
            stagger=settings.TRIBE_STAGGER,
            horizon=settings.TRIBE_QUEUE_HORIZON,
            expiry=settings.TRIBE_STREAM_EXPIRY,
        )


def approval_config() -> ApprovalConfig:
    return ApprovalConfig.from_settings(get_settings())


@dataclass(frozen=True)
class Queued:
    """A delivery an approval created (or found already there)."""

    delivery_id: int
    network: Network
    handle: str
    due_at: datetime
    text: str
    reason: str
    new: bool = field(default=True, compare=False)  # False: there before this decision


@dataclass(frozen=True)
class Decision:
    item_id: int
    state: StreamState
    queued: tuple[Queued, ...] = ()
    full: tuple[str, ...] = ()  # accounts with no free time, and why
    repeated: bool = False  # this decision had already been made


def _queued(delivery: Delivery, account: Account, *, new: bool = True) -> Queued:
    assert delivery.id is not None
    return Queued(
        delivery_id=delivery.id,
        network=account.network,
        handle=mention(account),
        due_at=delivery.due_at,
        text=delivery.text,
        reason=delivery.reason,
        new=new,
    )


def _existing(session: Session, item: StreamItem) -> tuple[Queued, ...]:
    rows = session.exec(
        select(Delivery, Account)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .where(col(Delivery.stream_item_id) == item.id)
        .order_by(col(Delivery.id))
    ).all()
    return tuple(_queued(d, a, new=False) for d, a in rows)


def _withdrawn_error(
    session: Session,
    item: StreamItem,
    outcome: str = "so it cannot be approved (nothing was queued)",
) -> WithdrawnError:
    post = session.get(Post, item.post_id)
    feed = session.get(Feed, post.feed_id) if post else None
    author = session.get(Member, feed.owner_id) if feed else None
    who = author.display_name if author else "its author"
    return WithdrawnError(
        f"stream item #{item.id}: you and {who} no longer share a tribe, {outcome}"
    )


def approve(
    session: Session,
    *,
    member: Member,
    item_id: int,
    own: Mapping[Network, str] | None = None,
    now: datetime | None = None,
    config: ApprovalConfig | None = None,
    auto: bool = False,
) -> Decision:
    """Approve a stream item: one delivery per active account, each at its next free time.

    Refused with `WithdrawnError` when the member and the post's author no longer share
    an active tribe.
    """
    now = now or datetime.now(UTC)
    config = config or ApprovalConfig()
    own = own or {}
    item = own_item(session, member=member, item_id=item_id)
    if item.state == StreamState.APPROVED:
        return Decision(item_id, item.state, _existing(session, item), repeated=True)
    if item.state == StreamState.WITHDRAWN:
        raise _withdrawn_error(session, item)
    if item.state != StreamState.PENDING:
        raise ConflictError(f"stream item #{item_id} was {item.state.value}; it cannot be approved")
    post = session.get(Post, item.post_id)
    assert post is not None
    feed = session.get(Feed, post.feed_id)
    assert feed is not None
    assert member.id is not None
    if not still_share_a_tribe(session, member.id, feed.owner_id):
        # Leaving and removal withdraw such items in their own transaction; one that is
        # still pending (a removal racing this approval) is refused, and not listed.
        raise _withdrawn_error(session, item, "so it cannot be approved (nothing was queued)")
    accounts = member_accounts(session, member)
    if not accounts:
        raise InvalidInputError(
            f"{member.email} has no active social account; connect one on the Accounts page "
            "(or with tribe account connect)"
        )
    missing = sorted(set(own) - {a.network for a in accounts})
    if missing:
        raise InvalidInputError(f"{member.email} has no {', '.join(missing)} account for that text")
    texts = share_texts(session, member, post, accounts, own)  # errors here store nothing

    queued: list[Queued] = []
    full: list[str] = []
    for account in accounts:
        already = session.exec(
            select(Delivery).where(
                col(Delivery.account_id) == account.id, col(Delivery.post_id) == post.id
            )
        ).first()
        if already is not None:  # the same post, approved before from another stream
            queued.append(_queued(already, account, new=False))
            continue
        placed = schedule_delivery(
            session,
            account=account,
            member=member,
            post=post,
            item=item,
            text=texts[account.id],  # type: ignore[index]
            now=now,
            config=config,
        )
        if isinstance(placed, str):
            full.append(f"{account.network.value} {mention(account)}: {placed}")
        else:
            queued.append(_queued(placed, account))
    if not queued:
        raise QueueFullError(
            "nothing was queued, the item stays in your stream: " + "; ".join(full)
        )
    item.state, item.decided_at, item.auto = StreamState.APPROVED, now, auto
    session.flush()
    return Decision(item_id, item.state, tuple(queued), tuple(full))


def skip(
    session: Session, *, member: Member, item_id: int, now: datetime | None = None
) -> Decision:
    item = own_item(session, member=member, item_id=item_id)
    if item.state == StreamState.SKIPPED:
        return Decision(item_id, item.state, repeated=True)
    if item.state == StreamState.WITHDRAWN:
        raise _withdrawn_error(session, item, "so it is out of your stream already")
    if item.state != StreamState.PENDING:
        raise ConflictError(f"stream item #{item_id} was {item.state.value}; it cannot be skipped")
    item.state, item.decided_at = StreamState.SKIPPED, now or datetime.now(UTC)
    session.flush()
    return Decision(item_id, item.state)


def unskip(
    session: Session,
    *,
    member: Member,
    item_id: int,
    now: datetime | None = None,
    config: ApprovalConfig | None = None,
) -> Decision:
    """Put a skipped item back in the member's stream, pending again (an undone skip).

    Done once: an item already pending is left as it is. Refused for an item approved,
    withdrawn or expired, for one old enough to have expired had it not been skipped
    (`ApprovalConfig.expiry`), and when the member and its author no longer share a tribe.
    """
    now = now or datetime.now(UTC)
    config = config or ApprovalConfig()
    item = own_item(session, member=member, item_id=item_id)
    if item.state == StreamState.PENDING:
        return Decision(item_id, item.state, repeated=True)
    if item.state == StreamState.WITHDRAWN:
        raise _withdrawn_error(session, item, "so it cannot come back to your stream")
    if item.state != StreamState.SKIPPED:
        raise ConflictError(f"stream item #{item_id} was {item.state.value}; only a skip is undone")
    if item.created_at < now - config.expiry:
        days, hours = config.expiry.days, config.expiry.seconds // 3600
        waits = f"{days} days" if days else f"{hours} hours"
        raise ConflictError(
            f"stream item #{item_id} is too old to come back: posts wait in the stream "
            f"for {waits} at most"
        )
    post = session.get(Post, item.post_id)
    feed = session.get(Feed, post.feed_id) if post else None
    assert feed is not None
    assert member.id is not None
    if not still_share_a_tribe(session, member.id, feed.owner_id):
        raise _withdrawn_error(session, item, "so it cannot come back to your stream")
    item.state, item.decided_at = StreamState.PENDING, None
    session.flush()
    return Decision(item_id, item.state)


@dataclass(frozen=True)
class BatchOutcome:
    decisions: tuple[Decision, ...]
    errors: tuple[str, ...]


def try_approve(
    session: Session,
    *,
    member: Member,
    item_id: int,
    now: datetime | None,
    config: ApprovalConfig | None,
    auto: bool = False,
) -> Decision | TribeError:
    """One approval of a batch, in a savepoint: its failure spoils only itself."""
    try:
        with session.begin_nested():
            return approve(
                session, member=member, item_id=item_id, now=now, config=config, auto=auto
            )
    except TribeError as exc:
        return exc


def approve_all(
    session: Session,
    *,
    member: Member,
    item_ids: list[int],
    now: datetime | None = None,
    config: ApprovalConfig | None = None,
) -> BatchOutcome:
    """Approve every item shown to the member; one that cannot be approved stays pending
    (or is withdrawn, when its author no longer shares a tribe with the member)."""
    decisions, errors = [], []
    for item_id in item_ids:
        outcome = try_approve(session, member=member, item_id=item_id, now=now, config=config)
        if isinstance(outcome, Decision):
            decisions.append(outcome)
        else:
            errors.append(f"#{item_id}: {outcome}")
    return BatchOutcome(tuple(decisions), tuple(errors))


def expire_stale(session: Session, *, now: datetime, expiry: timedelta) -> int:
    """Pending items older than `expiry` become expired (kept, never deleted)."""
    result = session.exec(
        update(StreamItem)
        .where(
            col(StreamItem.state) == StreamState.PENDING,
            col(StreamItem.created_at) < now - expiry,
        )
        .values(state=StreamState.EXPIRED, decided_at=now)
    )
    return int(result.rowcount)


@functools.cache
def _announcing() -> Select[Post, Account, Member]:
    """The posts of `post_ids` with their author's announcing accounts, oldest post
    first (a batch of feeds asks once for all their posts, and an author's schedule is
    filled in that order): built once, as every batch of polls with new posts asks it."""
    return (
        select(Post, Account, Member)
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .join(Account, col(Account.member_id) == col(Feed.owner_id))
        .join(Member, col(Member.id) == col(Account.member_id))
        .where(
            col(Post.id).in_(bindparam("post_ids", expanding=True)),
            col(Account.announce_own).is_(True),
            col(Account.active).is_(True),
        )
        .order_by(col(Post.published_at), col(Post.id), col(Account.id))
    )


def announce_own_posts(
    session: Session, post_ids: list[int], *, now: datetime, config: ApprovalConfig
) -> int:
    """Queue an author's own post of each new article, on accounts that opted in.

    The announcement keeps the account's schedule like any reshare, and is what
    tribemates' reposts point to. Returns how many were queued.
    """
    if not post_ids:
        return 0
    rows = session.exec(_announcing(), params={"post_ids": list(post_ids)}).all()
    queued = 0
    for post, account, member in rows:
        text = share_texts(session, member, post, [account], {})[account.id]  # type: ignore[index]
        placed = schedule_delivery(
            session,
            account=account,
            member=member,
            post=post,
            item=None,
            text=text,
            now=now,
            config=config,
            kind=ReshareKind.ANNOUNCE,
        )
        if isinstance(placed, str):
            log.warning(
                "%s's own post of %s was not queued on %s: %s",
                member.email,
                post.url,
                mention(account),
                placed,
            )
        else:
            queued += 1
    return queued
