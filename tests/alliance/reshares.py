"""Rows for the reciprocity tests: tribes whose members joined at a stated moment,
accounts, posts that reached streams, decided items, reshares that went out (each from
its stream item, as approvals make them) and follower readings, each stating only what
matters."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from tests import builders as b
from tribe.core.kinds import Connection, DeliveryState, Network, ReshareKind, StreamState
from tribe.infra.models import (
    Account,
    Delivery,
    Feed,
    Member,
    Membership,
    Post,
    ReachSnapshot,
    StreamItem,
    Tribe,
)

_serial = itertools.count(1)


def tribe(s: Session, name: str, chief: Member, *others: Member, since: datetime) -> Tribe:
    """A tribe of `chief` and `others`, every one of them a member since `since` (a
    tribe's numbers count only what reached its members while they were in it)."""
    made = b.tribe(s, name, chief, *others)
    for membership in s.exec(select(Membership).where(col(Membership.tribe_id) == made.id)):
        membership.joined_at = since
    s.flush()
    return made


def membership(s: Session, tribe: Tribe, member: Member) -> Membership:
    return s.exec(
        select(Membership).where(
            col(Membership.tribe_id) == tribe.id, col(Membership.member_id) == member.id
        )
    ).one()


def account(
    s: Session, member: Member, network: Network = Network.MASTODON, handle: str | None = None
) -> Account:
    """A connected, active account of `member`."""
    row = Account(
        member_id=b.pk(member),
        network=network,
        handle=handle or f"@{member.display_name.lower()}{next(_serial)}",
        connection=Connection.CONNECTED,
    )
    s.add(row)
    s.flush()
    return row


def post(s: Session, feed: Feed, title: str, *, at: datetime, announced: bool = True) -> Post:
    """A post of `feed` found at `at` (announced to tribemates unless told otherwise)."""
    n = next(_serial)
    row = Post(
        feed_id=b.pk(feed),
        entry_key=f"e{n}",
        url=f"https://blog.example/{n}",
        title=title,
        discovered_at=at,
        published_at=at,
        announced=announced,
    )
    s.add(row)
    s.flush()
    return row


def item(
    s: Session,
    post: Post,
    member: Member,
    state: StreamState = StreamState.PENDING,
    *,
    at: datetime,
) -> StreamItem:
    """`post` in `member`'s stream: arrived at `at` and, unless pending, decided then."""
    row = StreamItem(
        post_id=b.pk(post),
        member_id=b.pk(member),
        state=state,
        created_at=at,
        decided_at=None if state == StreamState.PENDING else at,
    )
    s.add(row)
    s.flush()
    return row


def reshare(
    s: Session,
    account: Account,
    post: Post,
    *,
    at: datetime,
    arrived: datetime | None = None,
    kind: ReshareKind = ReshareKind.POST,
    dry_run: bool = False,
    state: DeliveryState = DeliveryState.SENT,
) -> Delivery:
    """`post` on `account`: sent at `at` (with its address on the network, unless a dry
    run), or in another state due then. It comes from the account owner's stream item
    of the post: the one there is, or else an approved one that arrived at `arrived`
    (by default an hour before `at`)."""
    sharer = s.get(Member, account.member_id)
    assert sharer is not None
    source = s.exec(
        select(StreamItem).where(
            col(StreamItem.post_id) == post.id, col(StreamItem.member_id) == sharer.id
        )
    ).first()
    if source is None:
        source = item(s, post, sharer, StreamState.APPROVED, at=arrived or at - timedelta(hours=1))
    sent = state == DeliveryState.SENT
    row = Delivery(
        account_id=b.pk(account),
        post_id=b.pk(post),
        stream_item_id=source.id,
        text="the sharer's words, which reciprocity never reads",
        state=state,
        due_at=at,
        kind=kind,
        sent_at=at if sent else None,
        dry_run=dry_run,
        remote_url=f"https://social.example/@x/{next(_serial)}" if sent and not dry_run else None,
    )
    s.add(row)
    s.flush()
    return row


def followers(s: Session, account: Account, day: date, count: int | None) -> ReachSnapshot:
    """A daily reading of the account's followers (None: the network would not say)."""
    row = ReachSnapshot(account_id=b.pk(account), day=day, followers=count)
    s.add(row)
    s.flush()
    return row
