"""Tribes as members run them: invites, join requests, leaving, the chief's powers.

Who may do what is decided here, not in the web app: a member sees the tribes they
belong to (the operator sees all of them); only the chief changes a tribe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from tribe.core.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    LinkError,
    NotFoundError,
)
from tribe.core.kinds import MembershipStatus, Role
from tribe.infra.keys import Keyring
from tribe.infra.models import JoinRequest, Member, Membership, Preference, Tribe
from tribe.members.auth import (
    LoginLimits,
    check_password,
    count_mail_request,
    read_link,
    set_password,
    sign_link,
)
from tribe.members.people import (
    add_member,
    add_to_tribe,
    check_name,
    check_timezone,
    get_tribe,
    normalize_email,
)
from tribe.members.tribemates import withdraw_unshared

INVITE = "invite"
SIGNUP = "signup"


@dataclass(frozen=True)
class TribeInfo:
    slug: str
    name: str
    description: str
    is_open: bool
    chief_name: str
    members: int
    my_role: Role | None  # None: the operator looking at a tribe they are not in


@dataclass(frozen=True)
class Mate:
    member_id: int
    name: str
    role: Role
    muted: bool  # by the member looking


@dataclass(frozen=True)
class JoinRequestInfo:
    """Someone who asked to join an open tribe, as its chief sees them."""

    id: int
    member_id: int
    name: str
    email: str
    message: str
    created_at: datetime


def active_membership(session: Session, tribe: Tribe, member: Member) -> Membership | None:
    return session.exec(
        select(Membership).where(
            col(Membership.tribe_id) == tribe.id,
            col(Membership.member_id) == member.id,
            col(Membership.status) == MembershipStatus.ACTIVE,
        )
    ).first()


def visible_tribe(session: Session, member: Member, slug: str) -> tuple[Tribe, Membership | None]:
    """The tribe if the member belongs to it (or is the operator); otherwise not found."""
    tribe = get_tribe(session, slug)
    membership = active_membership(session, tribe, member)
    if membership is None and not member.is_operator:
        raise NotFoundError(f"no tribe with the slug {slug!r}")
    return tribe, membership


def chief_tribe(session: Session, member: Member, slug: str) -> Tribe:
    tribe, _ = visible_tribe(session, member, slug)
    if tribe.chief_id != member.id:
        raise ForbiddenError(f"only the chief of {tribe.slug} can do that")
    return tribe


def _info(session: Session, tribe: Tribe, role: Role | None) -> TribeInfo:
    chief = session.get(Member, tribe.chief_id)
    count = session.exec(select(func.count()).where(*_active_members(tribe))).one()
    return TribeInfo(
        slug=tribe.slug,
        name=tribe.name,
        description=tribe.description,
        is_open=tribe.is_open,
        chief_name=chief.display_name if chief else "",
        members=count,
        my_role=role,
    )


def _mine(member: Member) -> list[ColumnElement[bool]]:
    """SQL: the member's active memberships."""
    return [
        col(Membership.member_id) == member.id,
        col(Membership.status) == MembershipStatus.ACTIVE,
    ]


def _seen_by(member: Member) -> list[ColumnElement[bool]]:
    """SQL: the tribes the member sees: their own; the operator, every tribe."""
    if member.is_operator:
        return []
    return [col(Tribe.id).in_(select(col(Membership.tribe_id)).where(*_mine(member)))]


def my_tribes(
    session: Session, *, member: Member, limit: int | None = None, offset: int = 0
) -> list[TribeInfo]:
    """The member's tribes by name; for the operator, every tribe (a page of them with
    `limit` and `offset`)."""
    roles = {m.tribe_id: m.role for m in session.exec(select(Membership).where(*_mine(member)))}
    rows = session.exec(
        select(Tribe)
        .where(*_seen_by(member))
        .order_by(col(Tribe.name), col(Tribe.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return [_info(session, t, roles.get(t.id or 0)) for t in rows]


def count_my_tribes(session: Session, *, member: Member) -> int:
    """How many tribes `my_tribes` lists in all."""
    return session.exec(select(func.count()).select_from(Tribe).where(*_seen_by(member))).one()


def open_tribes(session: Session, *, member: Member) -> list[TribeInfo]:
    """Open tribes the member is not in: they can ask to join."""
    mine = select(col(Membership.tribe_id)).where(*_mine(member))
    rows = session.exec(
        select(Tribe).where(col(Tribe.is_open), col(Tribe.id).not_in(mine)).order_by(Tribe.name)
    ).all()
    return [_info(session, t, None) for t in rows]


def tribe_info(session: Session, *, member: Member, slug: str) -> TribeInfo:
    tribe, membership = visible_tribe(session, member, slug)
    return _info(session, tribe, membership.role if membership else None)


def _active_members(tribe: Tribe) -> list[ColumnElement[bool]]:
    return [
        col(Membership.tribe_id) == tribe.id,
        col(Membership.status) == MembershipStatus.ACTIVE,
    ]


def mates(
    session: Session, *, member: Member, slug: str, limit: int | None = None, offset: int = 0
) -> list[Mate]:
    """The tribe's active members with their roles, chief first (a page of them with
    `limit` and `offset`)."""
    tribe, _ = visible_tribe(session, member, slug)
    muted = set(
        session.exec(
            select(col(Preference.author_id)).where(
                col(Preference.member_id) == member.id, col(Preference.muted)
            )
        ).all()
    )
    rows = session.exec(
        select(Membership, Member)
        .join(Member, col(Member.id) == col(Membership.member_id))
        .where(*_active_members(tribe))
        .order_by(col(Membership.role), col(Member.display_name), col(Member.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        Mate(member_id=m.id or 0, name=m.display_name, role=ms.role, muted=m.id in muted)
        for ms, m in rows
    ]


def count_mates(session: Session, *, member: Member, slug: str) -> int:
    """How many active members the tribe has (as `mates` lists them)."""
    tribe, _ = visible_tribe(session, member, slug)
    return session.exec(select(func.count()).where(*_active_members(tribe))).one()


def mate(session: Session, *, member: Member, slug: str, member_id: int) -> Member:
    """A tribemate by id, only within a tribe the asking member can see."""
    tribe, _ = visible_tribe(session, member, slug)
    found = session.get(Member, member_id)
    if found is None or active_membership(session, tribe, found) is None:
        raise NotFoundError(f"no member #{member_id} in {slug}")
    return found


def update_tribe(
    session: Session,
    *,
    member: Member,
    slug: str,
    description: str | None = None,
    is_open: bool | None = None,
) -> TribeInfo:
    tribe = chief_tribe(session, member, slug)
    if description is not None:
        if len(description.strip()) > 2000:
            raise InvalidInputError("the description is longer than 2000 characters")
        tribe.description = description.strip()
    if is_open is not None:
        tribe.is_open = is_open
    session.flush()
    return _info(session, tribe, Role.CHIEF)


# Invites


@dataclass(frozen=True)
class Invite:
    """The tribe's current invite link: the same until the chief renews it."""

    token: str
    issued_at: datetime
    expires_at: datetime


def invite(session: Session, *, member: Member, slug: str, keys: Keyring, ttl: timedelta) -> Invite:
    """The chief's current invite link (reading only: it is signed as made when it was
    last renewed, so every look shows the same link)."""
    tribe = chief_tribe(session, member, slug)
    payload = {"t": tribe.id, "e": tribe.invite_epoch}
    token = sign_link(keys, INVITE, payload, issued_at=tribe.invite_issued_at)
    return Invite(token, tribe.invite_issued_at, tribe.invite_issued_at + ttl)


def invite_token(
    session: Session, *, member: Member, slug: str, keys: Keyring, renew: bool = False
) -> str:
    """The chief's invite link token; `renew` makes a new one and revokes every link
    handed out before."""
    if renew:
        tribe = chief_tribe(session, member, slug)
        tribe.invite_epoch += 1
        tribe.invite_issued_at = datetime.now(UTC)
        session.flush()
    return invite(session, member=member, slug=slug, keys=keys, ttl=timedelta(0)).token


def invited_tribe(session: Session, *, token: str, keys: Keyring, max_age: timedelta) -> Tribe:
    payload = read_link(keys, INVITE, token, max_age=max_age)
    tribe = session.get(Tribe, payload.get("t"))
    if tribe is None or payload.get("e") != tribe.invite_epoch:
        raise LinkError("this invite link was withdrawn; ask the chief for a new one")
    return tribe


def invited_info(session: Session, *, token: str, keys: Keyring, max_age: timedelta) -> TribeInfo:
    """What an invite link's page shows a newcomer: the tribe, its chief, how many."""
    return _info(session, invited_tribe(session, token=token, keys=keys, max_age=max_age), None)


def accept_invite(
    session: Session, *, member: Member, token: str, keys: Keyring, max_age: timedelta
) -> Tribe:
    """A signed-in member joins the tribe of an invite link."""
    tribe = invited_tribe(session, token=token, keys=keys, max_age=max_age)
    if active_membership(session, tribe, member) is None:
        add_to_tribe(session, tribe=tribe, member=member)
    _drop_request(session, tribe, member)
    return tribe


def sign_up(
    session: Session,
    *,
    token: str,
    keys: Keyring,
    max_age: timedelta,
    email: str,
    display_name: str,
    timezone: str,
    password: str,
) -> tuple[Member, Tribe]:
    """A newcomer makes an account through an invite link and joins its tribe."""
    tribe = invited_tribe(session, token=token, keys=keys, max_age=max_age)
    check_password(password)
    try:
        member = add_member(session, email=email, display_name=display_name, timezone=timezone)
    except ConflictError as exc:
        # An invite link must not take over an account someone else already has.
        raise ConflictError(
            "an account with this email exists: sign in, then open the invite link again"
        ) from exc
    set_password(session, member, password)
    add_to_tribe(session, tribe=tribe, member=member)
    return member, tribe


# Signing up by invite where the instance can email: the address is confirmed first, and
# the page answers the same whether or not it already has an account.


@dataclass(frozen=True)
class SignUpMail:
    """The email an invite sign-up sends: a link to finish (a new address), or a note
    that the address has an account already (`token` None)."""

    to: str
    tribe_name: str
    token: str | None


def request_sign_up(
    session: Session,
    *,
    token: str,
    keys: Keyring,
    max_age: timedelta,
    email: str,
    display_name: str,
    timezone: str,
    limits: LoginLimits,
) -> SignUpMail:
    """Check the form and say what to email; nothing is stored but the request's count
    (one address cannot be flooded with links)."""
    tribe = invited_tribe(session, token=token, keys=keys, max_age=max_age)
    address = normalize_email(email)
    name, zone = check_name(display_name), check_timezone(timezone)
    count_mail_request(session, key=f"signup:{address}", limits=limits)
    if session.exec(select(Member).where(col(Member.email) == address)).first() is not None:
        return SignUpMail(to=address, tribe_name=tribe.name, token=None)
    payload = {"t": tribe.id, "e": tribe.invite_epoch, "m": address, "n": name, "z": zone}
    return SignUpMail(to=address, tribe_name=tribe.name, token=sign_link(keys, SIGNUP, payload))


def sign_up_details(keys: Keyring, *, code: str, max_age: timedelta) -> tuple[str, str]:
    """(email, name) of a sign-up link, to show on its page."""
    payload = read_link(keys, SIGNUP, code, max_age=max_age)
    return str(payload.get("m")), str(payload.get("n"))


def confirm_sign_up(
    session: Session, *, code: str, keys: Keyring, max_age: timedelta, password: str
) -> tuple[Member, Tribe]:
    """The newcomer opened the emailed link and chose a password: make the account."""
    payload = read_link(keys, SIGNUP, code, max_age=max_age)
    tribe = session.get(Tribe, payload.get("t"))
    if tribe is None or payload.get("e") != tribe.invite_epoch:
        raise LinkError("this invite link was withdrawn; ask the chief for a new one")
    check_password(password)
    try:
        member = add_member(
            session,
            email=str(payload.get("m")),
            display_name=str(payload.get("n")),
            timezone=str(payload.get("z")),
        )
    except ConflictError as exc:
        raise LinkError(
            "this link was already used: sign in, then open the invite link again"
        ) from exc
    set_password(session, member, password)
    add_to_tribe(session, tribe=tribe, member=member)
    return member, tribe


# Join requests (open tribes)


def request_to_join(session: Session, *, member: Member, slug: str, message: str = "") -> None:
    tribe = get_tribe(session, slug)
    if not tribe.is_open:
        raise NotFoundError(f"no open tribe with the slug {slug!r}")
    if active_membership(session, tribe, member) is not None:
        raise ConflictError(f"you are already a member of {tribe.slug}")
    exists = session.exec(
        select(JoinRequest).where(
            col(JoinRequest.tribe_id) == tribe.id, col(JoinRequest.member_id) == member.id
        )
    ).first()
    if exists is None:
        assert tribe.id is not None
        assert member.id is not None
        session.add(
            JoinRequest(tribe_id=tribe.id, member_id=member.id, message=message.strip()[:500])
        )
        session.flush()


def join_requests(session: Session, *, member: Member, slug: str) -> list[JoinRequestInfo]:
    tribe = chief_tribe(session, member, slug)
    rows = session.exec(
        select(JoinRequest, Member)
        .join(Member, col(Member.id) == col(JoinRequest.member_id))
        .where(col(JoinRequest.tribe_id) == tribe.id)
        .order_by(col(JoinRequest.id))
    ).all()
    return [
        JoinRequestInfo(r.id or 0, m.id or 0, m.display_name, m.email, r.message, r.created_at)
        for r, m in rows
    ]


def decide_request(
    session: Session, *, member: Member, slug: str, request_id: int, accept: bool
) -> None:
    tribe = chief_tribe(session, member, slug)
    request = session.get(JoinRequest, request_id)
    if request is None or request.tribe_id != tribe.id:
        raise NotFoundError(f"no join request #{request_id} for {tribe.slug}")
    newcomer = session.get(Member, request.member_id)
    assert newcomer is not None
    if accept and active_membership(session, tribe, newcomer) is None:
        add_to_tribe(session, tribe=tribe, member=newcomer)
    session.delete(request)
    session.flush()


def _drop_request(session: Session, tribe: Tribe, member: Member) -> None:
    for request in session.exec(
        select(JoinRequest).where(
            col(JoinRequest.tribe_id) == tribe.id, col(JoinRequest.member_id) == member.id
        )
    ).all():
        session.delete(request)
    session.flush()


# Leaving, removing, handing over


def _part(session: Session, membership: Membership, now: datetime | None) -> None:
    """End a membership. What the tribe brought into streams goes with it, both ways:
    pending items between the member and people they now share no active tribe with
    are withdrawn (an item another shared tribe still brings stays). Deliveries the
    member already approved stay as they decided. When it ended is kept: the tribe's
    reciprocity counts only what reached them before it."""
    moment = now or datetime.now(UTC)
    membership.status, membership.left_at = MembershipStatus.LEFT, moment
    session.flush()
    withdraw_unshared(session, now=moment, member_id=membership.member_id)


def leave(session: Session, *, member: Member, slug: str, now: datetime | None = None) -> None:
    tribe, membership = visible_tribe(session, member, slug)
    if membership is None:
        raise NotFoundError(f"you are not a member of {tribe.slug}")
    if tribe.chief_id == member.id:
        raise ConflictError("hand the chief role to another member before you leave")
    _part(session, membership, now)


def remove_member(
    session: Session, *, member: Member, slug: str, member_id: int, now: datetime | None = None
) -> None:
    """The chief (`member`) removes tribemate #`member_id`."""
    tribe = chief_tribe(session, member, slug)
    if member_id == member.id:
        raise ConflictError("the chief cannot remove themselves; hand the role over first")
    target = mate(session, member=member, slug=slug, member_id=member_id)
    membership = active_membership(session, tribe, target)
    assert membership is not None
    # Whoever was removed may still hold an invite link: every link handed out stops.
    tribe.invite_epoch += 1
    _part(session, membership, now)


def hand_over(session: Session, *, member: Member, slug: str, member_id: int) -> None:
    """The chief (`member`) hands the role to tribemate #`member_id`."""
    tribe = chief_tribe(session, member, slug)
    target = mate(session, member=member, slug=slug, member_id=member_id)
    if target.id == member.id:
        raise ConflictError("you are already the chief")
    new, old = active_membership(session, tribe, target), active_membership(session, tribe, member)
    assert new is not None
    assert old is not None
    assert target.id is not None
    new.role, old.role, tribe.chief_id = Role.CHIEF, Role.MEMBER, target.id
    session.flush()
