"""A member decides on their stream: approve (as is, or with their own words), or skip.

Approving places one delivery per active account at the next time that account's
schedule allows. A decision is recorded once: a second click, a retried request or an
approval of the same post from a second tribe changes nothing.

Membership is checked when an item is approved, not only when it reached the stream:
a member who no longer shares an active tribe with the post's author cannot approve it
(by hand, all at once or automatically).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, update
from sqlmodel import Session, col, select

from config import Settings
from tribe.core.errors import ConflictError, InvalidInputError, NotFoundError, TribeError
from tribe.core.kinds import DeliveryState, Network, ReshareKind, StreamState
from tribe.core.schedule import Placement, place
from tribe.core.sharetext import ShareInput, check_own_text, check_template, fit, limit_for
from tribe.infra.db import serialize
from tribe.infra.models import Account, Delivery, Feed, Member, Post, Preference, StreamItem
from tribe.members.accounts import (
    check_network,
    limit_of,
    member_accounts,
    mention,
    schedule_of,
    template_for,
)
from tribe.members.people import get_member
from tribe.members.tribemates import item_author, shares_a_tribe, still_share_a_tribe

log = logging.getLogger("tribe.approvals")

# States in which a delivery holds its time in the account's schedule.
HOLDS_TIME = (
    DeliveryState.QUEUED,
    DeliveryState.SENDING,
    DeliveryState.SENT,
    DeliveryState.UNCONFIRMED,
    DeliveryState.HELD,
)


class QueueFullError(ConflictError):
    """No account had a free time within the horizon; the item stays pending."""


class WithdrawnError(ConflictError):
    """The member and the post's author no longer share an active tribe: the item was
    withdrawn from the member's stream and nothing was queued."""


@dataclass(frozen=True)
class ApprovalConfig:
    stagger: timedelta = timedelta(minutes=20)
    horizon: timedelta = timedelta(days=7)
    expiry: timedelta = timedelta(days=5)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApprovalConfig:
        return cls(
            stagger=settings.TRIBE_STAGGER,
            horizon=settings.TRIBE_QUEUE_HORIZON,
            expiry=settings.TRIBE_STREAM_EXPIRY,
        )


def approval_config() -> ApprovalConfig:
    from config import get_settings

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


def _item(session: Session, member: Member, item_id: int) -> StreamItem:
    item = session.get(StreamItem, item_id)
    if item is None or item.member_id != member.id:
        raise NotFoundError(f"no stream item #{item_id} for {member.email}")
    return item


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


def _author_name(session: Session, post: Post, network: Network) -> str:
    """The author's handle on the network when they have an account there, else their name."""
    feed = session.get(Feed, post.feed_id)
    assert feed is not None
    account = session.exec(
        select(Account).where(
            col(Account.member_id) == feed.owner_id,
            col(Account.network) == network,
            col(Account.active).is_(True),
        )
    ).first()
    if account is not None:
        return mention(account)
    author = session.get(Member, feed.owner_id)
    assert author is not None
    return author.display_name


def share_texts(
    session: Session, member: Member, post: Post, accounts: list[Account],
    own: Mapping[Network, str],
) -> dict[int, str]:  # fmt: skip
    """The text each account would post: the member's own words, or their template."""
    texts: dict[int, str] = {}
    for account in accounts:
        limit = limit_of(account)
        if account.network in own:
            texts[account.id] = check_own_text(own[account.network], post.url, limit)  # type: ignore[index]
        else:
            data = ShareInput(
                title=post.title or post.url,
                url=post.url,
                author=_author_name(session, post, account.network),
                categories=tuple(post.categories),
            )
            texts[account.id] = fit(template_for(member, account.network), data, limit)  # type: ignore[index]
    return texts


@dataclass(frozen=True)
class Preview:
    """What one account would post for a stream item, and the limit its text must fit."""

    account_id: int
    network: Network
    handle: str
    text: str
    maximum: int
    url_cost: int | None


def previews(session: Session, *, email: str, item_ids: list[int]) -> dict[int, list[Preview]]:
    """For each of the member's items, the text each active account would post as is."""
    member = get_member(session, email)
    accounts = member_accounts(session, member)
    result: dict[int, list[Preview]] = {}
    for item_id in item_ids:
        item = _item(session, member, item_id)
        post = session.get(Post, item.post_id)
        assert post is not None
        texts = share_texts(session, member, post, accounts, {})
        result[item_id] = [
            Preview(
                account_id=a.id,  # type: ignore[arg-type]
                network=a.network,
                handle=mention(a),
                text=texts[a.id],  # type: ignore[index]
                maximum=limit_of(a).maximum,
                url_cost=limit_of(a).url_cost,
            )
            for a in accounts
        ]
    return result


def edited_texts(
    session: Session, *, email: str, item_id: int, given: dict[Network, str | None]
) -> dict[Network, str]:
    """Of the texts a member sent back for an item, those they changed: a text that reads
    as what tribe would post anyway (spacing aside) is not their own words, so it keeps
    following their template."""
    texts = {n: t.strip() for n, t in given.items() if t and t.strip()}
    if not texts:
        return {}
    as_is = {p.network: p.text for p in previews(session, email=email, item_ids=[item_id])[item_id]}
    return {
        n: t for n, t in texts.items() if " ".join(t.split()) != " ".join(as_is.get(n, "").split())
    }


SAMPLE = ShareInput(
    title="Ten things I learned growing tomatoes on a balcony",
    url="https://blog.example/2026/tomatoes",
    author="Alice",
    categories=("Gardening", "Balcony"),
)


def template_preview(session: Session, *, email: str, network: str, template: str) -> str:
    """`template` filled in for the newest post in the member's stream (a sample post when
    there is none yet), fitted to the member's account on that network."""
    member = get_member(session, email)
    net = check_network(network)
    check_template(template)
    post = session.exec(
        select(Post)
        .join(StreamItem, col(StreamItem.post_id) == col(Post.id))
        .where(
            col(StreamItem.member_id) == member.id,
            shares_a_tribe(col(StreamItem.member_id), item_author()),
        )
        .order_by(col(StreamItem.id).desc())
    ).first()
    account = next((a for a in member_accounts(session, member) if a.network == net), None)
    limit = limit_of(account) if account else limit_for(net)
    data = SAMPLE
    if post is not None:
        data = ShareInput(
            title=post.title or post.url, url=post.url, author=_author_name(session, post, net),
            categories=tuple(post.categories),
        )  # fmt: skip
    return fit(template, data, limit)


def _times(session: Session, *conditions: object) -> list[datetime]:
    return list(
        session.exec(
            select(col(Delivery.due_at))
            .join(Account, col(Account.id) == col(Delivery.account_id))
            .where(col(Delivery.state).in_(HOLDS_TIME), *conditions)  # type: ignore[arg-type]
        ).all()
    )


def find_time(
    session: Session,
    *,
    account: Account,
    member: Member,
    post: Post,
    now: datetime,
    config: ApprovalConfig,
    ignore: int | None = None,
) -> Placement:
    """The next time this account may share this post (`ignore`: a delivery being moved)."""
    serialize(session, f"tribe.queue.{account.id}")
    serialize(session, f"tribe.post.{post.id}.{account.network.value}")
    schedule = schedule_of(account, member)
    recent = now - max(timedelta(days=2), schedule.min_gap)
    others = [col(Delivery.id) != ignore] if ignore is not None else []
    taken = _times(
        session, col(Delivery.account_id) == account.id, col(Delivery.due_at) >= recent, *others
    )
    avoid = _times(
        session,
        col(Delivery.post_id) == post.id,
        col(Account.network) == account.network,
        col(Account.id) != account.id,
    )
    return place(
        schedule, now=now, taken=taken, avoid=avoid, stagger=config.stagger, horizon=config.horizon
    )


def schedule_delivery(
    session: Session,
    *,
    account: Account,
    member: Member,
    post: Post,
    item: StreamItem | None,
    text: str,
    now: datetime,
    config: ApprovalConfig,
    kind: ReshareKind | None = None,
) -> Delivery | str:
    """Place one delivery; returns it, or the reason there was no room.

    Its kind is the account's choice (post or repost) unless given (an announcement).
    """
    placement = find_time(
        session, account=account, member=member, post=post, now=now, config=config
    )
    if placement.due_at is None:
        return placement.reason
    delivery = Delivery(
        account_id=account.id,  # type: ignore[arg-type]
        post_id=post.id,  # type: ignore[arg-type]
        stream_item_id=item.id if item else None,
        text=text,
        due_at=placement.due_at,
        reason=placement.reason,
        created_at=now,
        updated_at=now,
        kind=kind or account.reshare,
    )
    session.add(delivery)
    session.flush()
    return delivery


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
    email: str,
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
    member = get_member(session, email)
    item = _item(session, member, item_id)
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
            session, account=account, member=member, post=post, item=item,
            text=texts[account.id], now=now, config=config,  # type: ignore[index]
        )  # fmt: skip
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


def skip(session: Session, *, email: str, item_id: int, now: datetime | None = None) -> Decision:
    member = get_member(session, email)
    item = _item(session, member, item_id)
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
    email: str,
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
    member = get_member(session, email)
    item = _item(session, member, item_id)
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


def _try_approve(
    session: Session, *, email: str, item_id: int, now: datetime | None,
    config: ApprovalConfig | None, auto: bool = False,
) -> Decision | TribeError:  # fmt: skip
    """One approval of a batch, in a savepoint: its failure spoils only itself."""
    try:
        with session.begin_nested():
            return approve(session, email=email, item_id=item_id, now=now, config=config, auto=auto)
    except TribeError as exc:
        return exc


def approve_all(
    session: Session,
    *,
    email: str,
    item_ids: list[int],
    now: datetime | None = None,
    config: ApprovalConfig | None = None,
) -> BatchOutcome:
    """Approve every item shown to the member; one that cannot be approved stays pending
    (or is withdrawn, when its author no longer shares a tribe with the member)."""
    decisions, errors = [], []
    for item_id in item_ids:
        outcome = _try_approve(session, email=email, item_id=item_id, now=now, config=config)
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


# --- preferences ---------------------------------------------------------------------------


def _preference(session: Session, member: Member, author_email: str) -> Preference:
    author = get_member(session, author_email)
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


def preferences(session: Session, *, email: str) -> dict[int, AuthorPreference]:
    """The member's choices, by author id; an author not listed has the defaults."""
    member = get_member(session, email)
    rows = session.exec(select(Preference).where(col(Preference.member_id) == member.id)).all()
    return {p.author_id: AuthorPreference(p.muted, p.auto_approve, p.auto_daily_cap) for p in rows}


def set_muted(session: Session, *, email: str, author_email: str, muted: bool) -> None:
    member = get_member(session, email)
    _preference(session, member, author_email).muted = muted
    session.flush()


def set_auto_approve(
    session: Session, *, email: str, author_email: str, enabled: bool, daily_cap: int = 3
) -> None:
    if not 1 <= daily_cap <= 50:
        raise InvalidInputError("the auto-approve daily cap must be between 1 and 50")
    member = get_member(session, email)
    pref = _preference(session, member, author_email)
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
        decided = _try_approve(
            session, email=member.email, item_id=item.id or 0, now=now, config=config, auto=True
        )
        # No account, queue full: it waits for the member like any item.
        approved += isinstance(decided, Decision)
    return approved


def announce_own_posts(
    session: Session, post_ids: list[int], *, now: datetime, config: ApprovalConfig
) -> int:
    """Queue an author's own post of each new article, on accounts that opted in.

    The announcement keeps the account's schedule like any reshare, and is what
    tribemates' reposts point to. Returns how many were queued.
    """
    if not post_ids:
        return 0
    rows = session.exec(
        select(Post, Account, Member)
        .join(Feed, col(Feed.id) == col(Post.feed_id))
        .join(Account, col(Account.member_id) == col(Feed.owner_id))
        .join(Member, col(Member.id) == col(Account.member_id))
        .where(
            col(Post.id).in_(post_ids),
            col(Account.announce_own).is_(True),
            col(Account.active).is_(True),
        )
    ).all()
    queued = 0
    for post, account, member in rows:
        text = share_texts(session, member, post, [account], {})[account.id]  # type: ignore[index]
        placed = schedule_delivery(
            session, account=account, member=member, post=post, item=None, text=text,
            now=now, config=config, kind=ReshareKind.ANNOUNCE,
        )  # fmt: skip
        if isinstance(placed, str):
            log.warning(
                "%s's own post of %s was not queued on %s: %s",
                member.email, post.url, mention(account), placed,
            )  # fmt: skip
        else:
            queued += 1
    return queued
