"""Builders for the health panel, nudge and reminder tests: members, tribes, stream
items, feeds, accounts and reshares placed at chosen moments around a fixed NOW."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from tests import builders as b
from tribe.core.kinds import Connection, DeliveryState, MembershipStatus, Network, StreamState
from tribe.infra.models import Account, Delivery, Feed, Member, Membership, Post, StreamItem, Tribe

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday
LONG_AGO = NOW - timedelta(days=200)
SENDER = "tribe@tribe.example.org"
BASE_URL = "https://tribe.example.org"

_numbers = itertools.count(1)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def person(s: Session, name: str, *, since: datetime = LONG_AGO, timezone: str = "UTC") -> Member:
    """A member who has been on this instance since `since`."""
    member = b.member(s, name, timezone)
    member.created_at = since
    s.flush()
    return member


def tribe_of(
    s: Session, name: str, chief: Member, *others: Member, since: datetime = LONG_AGO
) -> Tribe:
    """A tribe created at `since`, every member in it since then."""
    tribe = b.tribe(s, name, chief, *others)
    tribe.created_at = since
    for membership in s.exec(select(Membership).where(col(Membership.tribe_id) == tribe.id)):
        membership.joined_at = since
    s.flush()
    return tribe


def membership(s: Session, tribe: Tribe, member: Member) -> Membership:
    return s.exec(
        select(Membership).where(
            col(Membership.tribe_id) == tribe.id, col(Membership.member_id) == member.id
        )
    ).one()


def joined(s: Session, tribe: Tribe, member: Member, at: datetime) -> None:
    membership(s, tribe, member).joined_at = at
    s.flush()


def left(s: Session, tribe: Tribe, member: Member) -> None:
    membership(s, tribe, member).status = MembershipStatus.LEFT
    s.flush()


def feed_of(s: Session, owner: Member, **fields: object) -> Feed:
    n = next(_numbers)
    return b.feed(s, owner, f"https://{owner.display_name.lower()}.blog/feed{n}", **fields)


def post(s: Session, feed: Feed, *, found: datetime) -> Post:
    n = next(_numbers)
    row = Post(
        feed_id=b.pk(feed),
        entry_key=f"e{n}",
        url=f"https://blog.example/{n}",
        title=f"Post {n}",
        discovered_at=found,
    )
    s.add(row)
    s.flush()
    return row


def item(
    s: Session,
    member: Member,
    feed: Feed,
    *,
    arrived: datetime,
    state: StreamState = StreamState.PENDING,
    decided: datetime | None = None,
    auto: bool = False,
) -> StreamItem:
    """A post of `feed` that reached `member`'s stream at `arrived` (and what they did)."""
    row = StreamItem(
        post_id=b.pk(post(s, feed, found=arrived)),
        member_id=b.pk(member),
        state=state,
        created_at=arrived,
        decided_at=decided,
        auto=auto,
    )
    s.add(row)
    s.flush()
    return row


def decided(s: Session, member: Member, feed: Feed, at: datetime, *, auto: bool = False) -> None:
    """`member` approved (by hand, or automatically) a post of `feed` at `at`."""
    item(s, member, feed, arrived=at - timedelta(hours=1), state=StreamState.APPROVED,
         decided=at, auto=auto)  # fmt: skip


def account(
    s: Session,
    member: Member,
    *,
    connection: Connection = Connection.CONNECTED,
    active: bool = True,
) -> Account:
    n = next(_numbers)
    row = Account(
        member_id=b.pk(member),
        network=Network.MASTODON,
        handle=f"{member.display_name.lower()}{n}@mastodon.example",
        connection=connection,
        active=active,
    )
    s.add(row)
    s.flush()
    return row


def reshare(
    s: Session, sharer: Account, of: Feed, *, sent: datetime, dry_run: bool = False
) -> Delivery:
    """`sharer` reshared a post of `of` at `sent` (confirmed by the network)."""
    row = Delivery(
        account_id=b.pk(sharer),
        post_id=b.pk(post(s, of, found=sent - timedelta(hours=2))),
        text="worth a read",
        state=DeliveryState.SENT,
        due_at=sent,
        sent_at=sent,
        dry_run=dry_run,
    )
    s.add(row)
    s.flush()
    return row
