"""Members and tribes: who they are and who belongs where."""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import func
from sqlmodel import Session, col, select

from tribe.core.errors import ConflictError, InvalidInputError, NotFoundError
from tribe.core.kinds import MembershipStatus, Role
from tribe.infra.models import Member, Membership, Tribe

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidInputError(f"{email!r} is not an email address")
    return value


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    if name not in _zones():
        raise InvalidInputError(
            f"{name!r} is not an IANA time zone; use a name like Europe/Paris or America/Chicago"
        )
    return name


def check_name(name: str, what: str = "name", limit: int = 120) -> str:
    value = " ".join(name.split())
    if not value:
        raise InvalidInputError(f"the {what} must not be empty")
    if len(value) > limit:
        raise InvalidInputError(f"the {what} is longer than {limit} characters")
    return value


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")
    return slug or "tribe"


def get_member(session: Session, email: str) -> Member:
    """The member with this email, as a row of `session`.

    The edges resolve the acting member once per unit of work (the CLI its EMAIL
    argument with this, the web app the signed-in member with `tribe.web.deps.me`) and
    hand the row to the services, which read and change it in that same session."""
    address = normalize_email(email)
    member = session.exec(select(Member).where(col(Member.email) == address)).first()
    if member is None:
        raise NotFoundError(f"no member with the email {address}")
    return member


def add_member(session: Session, *, email: str, display_name: str, timezone: str = "UTC") -> Member:
    """Create a member; an email can belong to one member only."""
    address = normalize_email(email)
    member = Member(
        email=address,
        display_name=check_name(display_name),
        timezone=check_timezone(timezone),
    )
    if session.exec(select(func.count()).where(col(Member.email) == address)).one():
        raise ConflictError(f"a member with the email {address} already exists")
    session.add(member)
    session.flush()
    return member


def get_tribe(session: Session, slug: str) -> Tribe:
    tribe = session.exec(select(Tribe).where(col(Tribe.slug) == slug.strip().lower())).first()
    if tribe is None:
        raise NotFoundError(f"no tribe with the slug {slug!r}")
    return tribe


def unique_slug(session: Session, name: str) -> str:
    base = slugify(name)
    taken = set(session.exec(select(col(Tribe.slug)).where(col(Tribe.slug).startswith(base))))
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def create_tribe(session: Session, *, name: str, chief: Member, description: str = "") -> Tribe:
    """Create a tribe whose chief is its first member."""
    tribe = Tribe(
        name=check_name(name, "tribe name"),
        slug=unique_slug(session, name),
        description=description.strip()[:2000],
        chief_id=chief.id,  # type: ignore[arg-type]
        timezone=chief.timezone,  # the letter's clock, until the chief sets the tribe's own
    )
    session.add(tribe)
    session.flush()
    session.add(Membership(tribe_id=tribe.id, member_id=chief.id, role=Role.CHIEF))  # type: ignore[arg-type]
    session.flush()
    return tribe


def add_to_tribe(
    session: Session, *, tribe: Tribe, member: Member, now: datetime | None = None
) -> Membership:
    """Make a member an active member of a tribe (again, if they had left: the membership
    starts afresh `now`, so the tribe's reciprocity never counts the time they were away)."""
    moment = now or datetime.now(UTC)
    membership = session.scalar(
        select(Membership).where(Membership.tribe_id == tribe.id, Membership.member_id == member.id)
    )
    if membership is None:
        membership = Membership(tribe_id=tribe.id, member_id=member.id, joined_at=moment)  # type: ignore[arg-type]
        session.add(membership)
    elif membership.status == MembershipStatus.ACTIVE:
        raise ConflictError(f"{member.email} is already a member of {tribe.slug}")
    else:
        membership.status, membership.joined_at, membership.left_at = (
            MembershipStatus.ACTIVE,
            moment,
            None,
        )
    session.flush()
    return membership


def member_by_id(session: Session, member_id: int) -> Member:
    """The member with this id: a signed link (the digest's) names its member by id."""
    member = session.get(Member, member_id)
    if member is None:
        raise NotFoundError(f"no member #{member_id}")
    return member


def set_mail_choices(session: Session, *, member: Member, nudges: bool, reminders: bool) -> None:
    """Whether the member takes their chiefs' nudges and the reminder when their stream
    waits for them (the Settings page). The digest's schedule is set apart, with its
    checks, by `tribe.alliance.digest.set_digest`."""
    member.nudges, member.reminders = nudges, reminders
    session.flush()
