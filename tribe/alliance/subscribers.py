"""The letter's readers from outside the tribe: public subscribers, and the unsubscribe
links of every reader.

A tribe's letter goes to its members (each can opt out: `Membership.letter_reader`) and
to the people who subscribed on its public page. Subscribing is double opt-in: the form
makes a `pending` row and queues a confirmation email through the outbox; the click in
it confirms. The form's answer is the same whatever the address (new, pending,
confirmed, set aside), so nobody learns from it who reads the letter; the addresses are
the operator's alone (`tribe subscribers SLUG --show-addresses`), a chief sees counts.

An address gets at most one confirmation email per RESEND_EVERY however often the form
is sent for it, and no more than QUIET_AFTER in QUIET_FOR across every tribe of the
instance (and the web app limits the form per client address): nobody can fill someone
else's inbox from public pages. A subscriber already confirmed gets nothing
new: they have the letter, and its every issue carries the unsubscribe link.

The links are `tribe.alliance.letter_links`'; what they do is here. Each link's GET only
shows a button, its POST acts (architecture.md, rule 7); the unsubscribe POST is also
RFC 8058's one-click, with no cookie.

After each edition the letter's sender reports what became of every subscriber's email
(`record_outcomes`): REFUSALS_IN_A_ROW permanent refusals in a row set a subscriber
aside with the server's reason; a delivery in between starts the count again.
`Subscriber.unsubscribed_at` is when the letter stopped going to the address: by the
subscriber's click, or set aside.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from tribe.alliance.counting import aware
from tribe.alliance.letter_links import (
    CONFIRM_FOR,
    Action,
    LetterLink,
    confirm_url,
    read_letter_token,
    tribe_url,
)
from tribe.alliance.letters import letter
from tribe.alliance.public import public_row
from tribe.core.errors import InvalidInputError, LinkError, NotFoundError
from tribe.core.kinds import SubscriberState
from tribe.infra.db import dialect_insert
from tribe.infra.keys import Keyring
from tribe.infra.models import LetterPlan, Mail, Member, Membership, Subscriber, Tribe
from tribe.infra.outbox import enqueue
from tribe.members.people import normalize_email

KIND = "confirm"  # the outbox kind of a confirmation email
RESEND_EVERY = timedelta(minutes=15)
# An address sent this many confirmations in QUIET_FOR (any tribes) gets no more then.
QUIET_AFTER = 3
QUIET_FOR = timedelta(days=7)
REFUSALS_IN_A_ROW = 3
_CHUNK = 500  # ids in one IN (...) list
T = TypeVar("T")


def _chunks(values: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# The tribe and the address


def letter_tribe(session: Session, slug: str) -> Tribe:
    """The public tribe whose letter is on. A private tribe, one without a letter and a
    slug nobody has are not found in the same words: a stranger learns nothing."""
    tribe = public_row(session, slug)
    plan = session.exec(
        select(col(LetterPlan.enabled)).where(col(LetterPlan.tribe_id) == tribe.id)
    ).first()
    if not plan:
        raise NotFoundError(f"no tribe with the slug {slug!r}")
    return tribe


def check_address(email: str) -> str:
    """The address as stored (trimmed, lower case), or a message that says what to fix."""
    address = email.strip()
    if not address:
        raise InvalidInputError("enter your email address, like name@example.com")
    # A NUL (PostgreSQL refuses it in any query) or another control is in no address.
    if address.isprintable():
        try:
            return normalize_email(address)
        except InvalidInputError:
            pass
    raise InvalidInputError(
        f"{address[:100]!r} is not an email address; enter one like name@example.com"
    )


def masked(address: str) -> str:
    """Enough of an address for its owner to recognise it, and little for anyone else
    (a letter is forwarded with its links): "b•••@e•••.com"."""
    local, _, domain = address.partition("@")
    name, dot, tld = domain.rpartition(".")
    return f"{local[:1]}•••@{name[:1]}•••{dot}{tld}"


# Subscribing


@dataclass(frozen=True)
class Ask:
    """What a request to subscribe does to an address's row."""

    state: SubscriberState  # the row's state afterwards
    send: bool  # a confirmation email goes now
    why: str


def decide_ask(state: SubscriberState | None, asked_at: datetime | None, *, now: datetime) -> Ask:
    """The rule of the public form, for an address in `state` (None: never seen) whose
    latest confirmation email went at `asked_at`."""
    if state == SubscriberState.CONFIRMED:
        return Ask(state, False, "subscribed already: nothing to confirm")
    if asked_at is not None and now - asked_at < RESEND_EVERY:
        return Ask(SubscriberState.PENDING, False, "a confirmation email went minutes ago")
    return Ask(SubscriberState.PENDING, True, "a confirmation email goes")


def subscribe(
    session: Session,
    *,
    slug: str,
    email: str,
    keys: Keyring,
    base_url: str,
    sender: str,
    now: datetime,
) -> str | None:
    """Ask `email` to confirm it wants the letter of tribe `slug` (a public tribe with
    its letter on; else NotFoundError). Returns the outbox key of the confirmation
    email to send now, or None when none goes (see `decide_ask`). An address that
    unsubscribed or was set aside starts again as pending, its refusals forgotten.
    Two requests at once for one address queue one email: the row is claimed by a
    conditional insert or update, never read-then-written."""
    tribe = letter_tribe(session, slug)
    address = check_address(email)
    assert tribe.id is not None
    row = session.exec(
        select(Subscriber).where(
            col(Subscriber.tribe_id) == tribe.id, col(Subscriber.email) == address
        )
    ).first()
    if row is None:
        subscriber_id = _insert(session, tribe_id=tribe.id, address=address, now=now)
    else:
        ask = decide_ask(row.state, aware(row.asked_at), now=now)
        claimed = _claim(session, row, ask, now=now)
        subscriber_id = claimed if ask.send else None
    if subscriber_id is None or _confirmations_sent(session, address, now=now) >= QUIET_AFTER:
        return None
    return _queue_confirmation(
        session,
        tribe=tribe,
        subscriber_id=subscriber_id,
        address=address,
        keys=keys,
        base_url=base_url,
        sender=sender,
        now=now,
    )


def _confirmations_sent(session: Session, address: str, *, now: datetime) -> int:
    """Confirmation emails queued for `address` in the last QUIET_FOR, every tribe
    counted: past QUIET_AFTER the address gets no more for a while, however many
    public tribes an instance has for someone to subscribe it to."""
    return int(
        session.exec(
            select(func.count()).where(
                col(Mail.kind) == KIND,
                col(Mail.to) == address,
                col(Mail.due_at) > now - QUIET_FOR,
            )
        ).one()
    )


def _insert(session: Session, *, tribe_id: int, address: str, now: datetime) -> int | None:
    """A new pending row; None when the address got one at this very moment (the other
    request sends the email)."""
    stmt = (
        dialect_insert(session, Subscriber)
        .values(
            tribe_id=tribe_id,
            email=address,
            state=SubscriberState.PENDING,
            created_at=now,
            asked_at=now,
            refusals=0,
            reason="",
        )
        .on_conflict_do_nothing(index_elements=["tribe_id", "email"])
        .returning(col(Subscriber.id))
    )
    found = session.exec(stmt).first()
    return None if found is None else int(found[0])


def _claim(session: Session, row: Subscriber, ask: Ask, *, now: datetime) -> int | None:
    """Apply `ask` to the row unless another request changed it first: the row's id,
    or None when nothing was written."""
    if ask.state == row.state and not ask.send:
        return None
    values: dict[str, object] = {"state": ask.state}
    if ask.send:
        values["asked_at"] = now
    if row.state != SubscriberState.PENDING:  # back from unsubscribed or set aside
        values.update(refusals=0, reason="", confirmed_at=None, unsubscribed_at=None)
    stmt = update(Subscriber).where(
        col(Subscriber.id) == row.id, col(Subscriber.state) == row.state
    )
    if ask.send:
        stmt = stmt.where(col(Subscriber.asked_at) <= now - RESEND_EVERY)
    claimed = session.exec(stmt.values(**values).returning(col(Subscriber.id))).first()
    session.expire(row)  # the update went around it
    return None if claimed is None else int(claimed[0])


def _queue_confirmation(
    session: Session,
    *,
    tribe: Tribe,
    subscriber_id: int,
    address: str,
    keys: Keyring,
    base_url: str,
    sender: str,
    now: datetime,
) -> str:
    url = confirm_url(keys, base_url, slug=tribe.slug, subscriber_id=subscriber_id, now=now)
    mail = letter(
        "confirm",
        to=address,
        subject=f"Confirm: the letter of {tribe.name}",
        context={
            "tribe_name": tribe.name,
            "tribe_url": tribe_url(base_url, tribe.slug),
            "confirm_url": url,
            "days": CONFIRM_FOR.days,
        },
    )
    # One ask is one email: the claim above lets one request per RESEND_EVERY through.
    key = f"{KIND}:{subscriber_id}:{int(now.timestamp())}"
    enqueue(session, key=key, kind=KIND, letter=mail, sender=sender, due_at=now)
    return key


# What a link does


@dataclass(frozen=True)
class Standing:
    """Where a link's reader stands with a tribe's letter: what the link's page shows.
    The address is masked: whoever holds the link (a letter gets forwarded) sees only
    enough of it for its owner to recognise it."""

    action: Action
    tribe_name: str
    slug: str
    public: bool  # the tribe's public page can be linked to
    address: str  # masked
    member: bool  # a member of the tribe (its letter is theirs by default)
    reading: bool  # the letter goes to them
    pending: bool  # a subscriber who has not confirmed yet
    state: SubscriberState | None = None  # a subscriber's

    @property
    def button(self) -> str | None:
        """The page's one button, or None when the link has nothing left to do."""
        if self.action == "confirm":
            return "Confirm my subscription" if self.pending else None
        return "Unsubscribe" if self.reading or self.pending else None


@dataclass(frozen=True)
class Outcome:
    """What a link's POST did."""

    standing: Standing  # afterwards
    changed: bool  # False: it was done already, nothing changed


def link_standing(session: Session, link: LetterLink) -> Standing:
    """What the link's page shows; reads only."""
    if link.subscriber_id is not None:
        row = _subscriber(session, link.subscriber_id)
        return _subscriber_standing(session, link.action, row)
    member, membership, tribe = _member_reader(session, link)
    return _member_standing(member, membership, tribe)


def _subscriber(session: Session, subscriber_id: int, *, lock: bool = False) -> Subscriber:
    row = session.get(Subscriber, subscriber_id, with_for_update=lock)
    if row is None:
        raise LinkError("this link was for a subscription that no longer exists")
    return row


def _tribe(session: Session, tribe_id: int) -> Tribe:
    tribe = session.get(Tribe, tribe_id)
    if tribe is None:
        raise LinkError("this link was for a tribe that no longer exists")
    return tribe


def _subscriber_standing(session: Session, action: Action, row: Subscriber) -> Standing:
    tribe = _tribe(session, row.tribe_id)
    return Standing(
        action=action,
        tribe_name=tribe.name,
        slug=tribe.slug,
        public=tribe.is_public,
        address=masked(row.email),
        member=False,
        reading=row.state == SubscriberState.CONFIRMED,
        pending=row.state == SubscriberState.PENDING,
        state=row.state,
    )


def _member_reader(
    session: Session, link: LetterLink, *, lock: bool = False
) -> tuple[Member, Membership | None, Tribe]:
    assert link.member_id is not None
    assert link.tribe_id is not None
    member = session.get(Member, link.member_id)
    if member is None:
        raise LinkError("this link was for an account that no longer exists")
    tribe = _tribe(session, link.tribe_id)
    query = select(Membership).where(
        col(Membership.tribe_id) == tribe.id, col(Membership.member_id) == member.id
    )
    membership = session.exec(query.with_for_update() if lock else query).first()
    return member, membership, tribe


def _member_standing(member: Member, membership: Membership | None, tribe: Tribe) -> Standing:
    return Standing(
        action="unsubscribe",
        tribe_name=tribe.name,
        slug=tribe.slug,
        public=tribe.is_public,
        address=masked(member.email),
        member=True,
        reading=membership is not None and membership.letter_reader,
        pending=False,
    )


def confirm(session: Session, *, token: str, keys: Keyring, now: datetime) -> Outcome:
    """Confirm a subscription: the letter goes to the address from the next edition on.
    A second click changes nothing and says so; a link made before the subscriber
    unsubscribed (or was set aside) no longer confirms: they subscribe again."""
    link = read_letter_token(keys, token, now=now, action="confirm")
    assert link.subscriber_id is not None
    row = _subscriber(session, link.subscriber_id, lock=True)
    if row.state == SubscriberState.CONFIRMED:
        return Outcome(_subscriber_standing(session, "confirm", row), changed=False)
    if row.state != SubscriberState.PENDING:
        raise LinkError(
            "this confirmation link is no longer valid: the letter was stopped for this "
            "address since. To get it again, subscribe once more on the tribe's page"
        )
    row.state, row.confirmed_at = SubscriberState.CONFIRMED, now
    row.refusals, row.reason = 0, ""
    session.add(row)
    session.flush()
    return Outcome(_subscriber_standing(session, "confirm", row), changed=True)


def unsubscribe(session: Session, *, token: str, keys: Keyring, now: datetime) -> Outcome:
    """Stop the letter for the link's subscriber (or member: they stay in the tribe).
    A second click, or one after the address was set aside, changes nothing."""
    link = read_letter_token(keys, token, now=now, action="unsubscribe")
    if link.subscriber_id is not None:
        row = _subscriber(session, link.subscriber_id, lock=True)
        changed = row.state in (SubscriberState.CONFIRMED, SubscriberState.PENDING)
        if changed:
            row.state, row.unsubscribed_at = SubscriberState.UNSUBSCRIBED, now
            session.add(row)
            session.flush()
        return Outcome(_subscriber_standing(session, "unsubscribe", row), changed)
    member, membership, tribe = _member_reader(session, link, lock=True)
    changed = membership is not None and membership.letter_reader
    if membership is not None and changed:
        membership.letter_reader = False
        session.add(membership)
        session.flush()
    return Outcome(_member_standing(member, membership, tribe), changed)


# After an edition


@dataclass(frozen=True)
class Settled:
    """What one edition's outcomes changed."""

    delivered: int
    refused: int
    set_aside: tuple[int, ...]  # subscriber ids, set aside by this edition


def record_outcomes(
    session: Session, *, tribe_id: int, outcomes: Mapping[int, str | None], now: datetime
) -> Settled:
    """Count one edition's outcome per subscriber id: None = delivered (the refusals in
    a row start again), a reason = refused for good (counted, the reason kept). A
    confirmed subscriber refused REFUSALS_IN_A_ROW times in a row is set aside. A few
    statements whatever the number of subscribers; ids of other tribes are ignored."""
    delivered = sorted(i for i, reason in outcomes.items() if reason is None)
    by_reason: dict[str, list[int]] = {}
    for subscriber_id, reason in outcomes.items():
        if reason is not None:
            said = " ".join(reason.split())[:300] or "refused by the receiving server"
            by_reason.setdefault(said, []).append(subscriber_id)
    mine = col(Subscriber.tribe_id) == tribe_id
    for chunk in _chunks(delivered):
        session.exec(
            update(Subscriber)
            .where(mine, col(Subscriber.id).in_(chunk))
            .values(refusals=0, reason="")
        )
    for reason, ids in by_reason.items():
        for chunk in _chunks(sorted(ids)):
            session.exec(
                update(Subscriber)
                .where(mine, col(Subscriber.id).in_(chunk))
                .values(refusals=col(Subscriber.refusals) + 1, reason=reason)
            )
    set_aside: list[int] = []
    for chunk in _chunks(sorted(i for ids in by_reason.values() for i in ids)):
        rows = session.exec(
            update(Subscriber)
            .where(
                mine,
                col(Subscriber.id).in_(chunk),
                col(Subscriber.state) == SubscriberState.CONFIRMED,
                col(Subscriber.refusals) >= REFUSALS_IN_A_ROW,
            )
            .values(state=SubscriberState.SET_ASIDE, unsubscribed_at=now)
            .returning(col(Subscriber.id))
        ).all()
        set_aside.extend(int(row[0]) for row in rows)
    refused = sum(len(ids) for ids in by_reason.values())
    return Settled(len(delivered), refused, tuple(sorted(set_aside)))


# Who reads, in numbers (the chief) and by address (the sender, the operator)


def subscriber_counts(session: Session, *, tribe_id: int) -> dict[str, int]:
    """How many subscribers in each state (every state, 0 included): the chief's view."""
    counts = {state.value: 0 for state in SubscriberState}
    rows = session.exec(
        select(col(Subscriber.state), func.count())
        .where(col(Subscriber.tribe_id) == tribe_id)
        .group_by(col(Subscriber.state))
    ).all()
    for state, count in rows:
        counts[SubscriberState(state).value] = count
    return counts


def confirmed_subscribers(
    session: Session, *, tribe_id: int, after: int = 0, limit: int | None = None
) -> list[tuple[int, str]]:
    """(id, address) of the confirmed subscribers, by id; for the letter's sender only.
    `after` and `limit` read them a batch at a time (`confirmed_in_batches`)."""
    query = (
        select(col(Subscriber.id), col(Subscriber.email))
        .where(
            col(Subscriber.tribe_id) == tribe_id,
            col(Subscriber.state) == SubscriberState.CONFIRMED,
            col(Subscriber.id) > after,
        )
        .order_by(col(Subscriber.id))
    )
    if limit is not None:
        query = query.limit(limit)
    return [(int(i), email) for i, email in session.exec(query).all() if i is not None]


def confirmed_in_batches(
    session: Session, *, tribe_id: int, size: int = 1000
) -> Iterator[list[tuple[int, str]]]:
    """The confirmed subscribers, `size` at a time, by id (keyset: each batch is one
    indexed query however far in)."""
    after = 0
    while batch := confirmed_subscribers(session, tribe_id=tribe_id, after=after, limit=size):
        yield batch
        after = batch[-1][0]


@dataclass(frozen=True)
class SubscriberLine:
    """One subscriber as the operator sees it."""

    email: str
    state: SubscriberState
    since: datetime | None  # when it came to this state
    refusals: int
    reason: str


def _since(row: Subscriber) -> datetime | None:
    moment = {
        SubscriberState.PENDING: row.asked_at,
        SubscriberState.CONFIRMED: row.confirmed_at,
    }.get(row.state, row.unsubscribed_at)
    return None if moment is None else aware(moment)


def subscriber_lines(session: Session, *, tribe_id: int) -> list[SubscriberLine]:
    """Every subscriber of the tribe with their address, by address: the operator's."""
    rows = session.exec(
        select(Subscriber)
        .where(col(Subscriber.tribe_id) == tribe_id)
        .order_by(col(Subscriber.email))
    ).all()
    return [
        SubscriberLine(row.email, row.state, _since(row), row.refusals, row.reason) for row in rows
    ]
