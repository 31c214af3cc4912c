"""A tribe's letter: the plan (when it goes out), the editors' turns, the editions and
their archive. An edition's draft is `tribe.alliance.drafts`'; sending is
`tribe.alliance.sending`'s.

The plan is a chief's choice per tribe: weekly or monthly, an hour in the tribe's zone,
and what happens when the editor of the turn has not sent by the deadline (the
automatic selection goes out, or nothing does). Editors are the members who opted in,
in join order unless the chief set an order; an edition's editor is the one after the
previous edition's. The chief can pass over the editor of the turn; two editors can
swap turns when the second accepts.

An edition opens (`open_edition`) for the next editor, due at the plan's next send
time, proposing the tribe's posts since the previous edition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, not_, or_
from sqlmodel import Session, col, select

from tribe.alliance.counting import aware
from tribe.alliance.public import public_row
from tribe.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tribe.core.kinds import EditionState, IfUnsent, LetterCadence, MembershipStatus
from tribe.core.letter import LetterSchedule, check_schedule, next_send
from tribe.infra.db import dialect_insert
from tribe.infra.models import (
    Edition,
    LetterPlan,
    Member,
    Membership,
    Tribe,
    TurnSwap,
)
from tribe.members.tribes import chief_tribe, visible_tribe

OPEN = (EditionState.DRAFT, EditionState.SCHEDULED, EditionState.SENDING)


# The plan


def plan_of(session: Session, tribe: Tribe) -> LetterPlan | None:
    return session.exec(select(LetterPlan).where(col(LetterPlan.tribe_id) == tribe.id)).first()


def schedule_of(tribe: Tribe, plan: LetterPlan) -> LetterSchedule:
    return LetterSchedule(plan.cadence, plan.day, plan.hour, tribe.timezone)


def configure(
    session: Session,
    tribe: Tribe,
    *,
    cadence: LetterCadence,
    day: int,
    hour: str,
    if_unsent: IfUnsent = IfUnsent.SEND,
    zone: str | None = None,
    editor_ids: list[int] | None = None,
) -> LetterPlan:
    """Turn the tribe's letter on (or change it). Everything is checked before anything
    changes. `editor_ids`: these members become editors, in this order, ahead of the
    others who opted in. An open edition keeps its deadline; the next follows the plan."""
    schedule = check_schedule(LetterSchedule(cadence, day, hour, zone or tribe.timezone))
    if_unsent = IfUnsent(if_unsent)
    if editor_ids is not None:
        _check_members(session, tribe, editor_ids)
    plan = plan_of(session, tribe) or LetterPlan(tribe_id=tribe.id or 0)
    plan.enabled = True
    plan.cadence, plan.day, plan.hour = schedule.cadence, schedule.day, schedule.hour
    plan.if_unsent = if_unsent
    tribe.timezone = schedule.zone
    if editor_ids is not None:
        for membership in _memberships(session, tribe, editor_ids):
            membership.letter_editor = True
            session.add(membership)
        plan.editor_order = list(dict.fromkeys(editor_ids))
    session.add_all([plan, tribe])
    session.flush()
    return plan


def disable(session: Session, tribe: Tribe) -> None:
    """No more editions; an open draft stays as it is. Turned on again by its deadline
    (or within a day after), it goes as the tribe's rule says; later, it is skipped
    (`tribe.alliance.sending.STALE`) and a new edition opens."""
    plan = plan_of(session, tribe)
    if plan is not None:
        plan.enabled = False
        session.add(plan)
        session.flush()


def _memberships(session: Session, tribe: Tribe, member_ids: list[int]) -> list[Membership]:
    return list(
        session.exec(
            select(Membership).where(
                col(Membership.tribe_id) == tribe.id,
                col(Membership.member_id).in_(member_ids),
                col(Membership.status) == MembershipStatus.ACTIVE,
            )
        )
    )


def _check_members(session: Session, tribe: Tribe, member_ids: list[int]) -> None:
    found = {m.member_id for m in _memberships(session, tribe, member_ids)}
    if missing := [i for i in member_ids if i not in found]:
        raise NotFoundError(f"not members of {tribe.slug}: {', '.join(map(str, missing))}")


# The editors' turns


@dataclass(frozen=True)
class Editor:
    member_id: int
    name: str


def editors(session: Session, tribe: Tribe, plan: LetterPlan | None = None) -> list[Editor]:
    """The rotation: the editors in the chief's order, then the others in join order."""
    plan = plan or plan_of(session, tribe)
    order = {member_id: n for n, member_id in enumerate(plan.editor_order if plan else [])}
    rows = session.exec(
        select(Membership, Member)
        .join(Member, col(Member.id) == col(Membership.member_id))
        .where(
            col(Membership.tribe_id) == tribe.id,
            col(Membership.status) == MembershipStatus.ACTIVE,
            col(Membership.letter_editor),
        )
        .order_by(col(Membership.joined_at), col(Membership.id))
    ).all()
    ranked = sorted(rows, key=lambda row: order.get(row[0].member_id, len(order)))
    return [Editor(membership.member_id, member.display_name) for membership, member in ranked]


def editor_after(rotation: list[Editor], previous: int | None) -> int | None:
    """The editor who follows `previous` in the rotation (the first when there was none,
    or when they are no longer an editor); None when nobody writes the letter."""
    ids = [e.member_id for e in rotation]
    if not ids:
        return None
    if previous not in ids:
        return ids[0]
    return ids[(ids.index(previous) + 1) % len(ids)]


def reorder(session: Session, *, member: Member, slug: str, member_ids: list[int]) -> None:
    """The chief's order of the editors (ids of editors; the others follow)."""
    tribe = chief_tribe(session, member, slug)
    plan = _plan_or_refuse(session, tribe)
    current = {e.member_id for e in editors(session, tribe, plan)}
    if strangers := [i for i in member_ids if i not in current]:
        raise InvalidInputError(
            f"only editors take turns; these are not: {', '.join(map(str, strangers))}"
        )
    plan.editor_order = list(dict.fromkeys(member_ids))
    session.add(plan)
    session.flush()


def set_roles(
    session: Session, *, member: Member, slug: str, editor: bool | None, reader: bool | None
) -> None:
    """A member's own choices: take turns writing the letter, receive it."""
    tribe, membership = visible_tribe(session, member, slug)
    if membership is None:
        raise ForbiddenError(f"only members of {tribe.slug} write or read its letter")
    if editor is not None:
        membership.letter_editor = editor
    if reader is not None:
        membership.letter_reader = reader
    session.add(membership)
    session.flush()


def pass_over(session: Session, *, member: Member, slug: str) -> int | None:
    """The chief passes over the editor of the turn: the open draft goes to the editor
    after them in the rotation (who is told). With no other editor, nobody writes it:
    the tribe's rule applies at the deadline (`automatic` marks it, so the beat does not
    hand it back). Returns the new editor's id."""
    tribe = chief_tribe(session, member, slug)
    plan = _plan_or_refuse(session, tribe)
    edition = open_draft(session, tribe, lock=True)
    following = editor_after(editors(session, tribe, plan), edition.editor_id)
    edition.editor_id = None if following == edition.editor_id else following
    edition.automatic = edition.editor_id is None
    edition.edited_at, edition.picks, edition.links, edition.intro = None, [], [], ""
    # A scheduled edition goes back to being a draft: the new editor chooses when.
    edition.state, edition.send_at = EditionState.DRAFT, None
    touch(session, edition)
    return edition.editor_id


def ask_swap(session: Session, *, member: Member, slug: str, partner_id: int) -> None:
    """Ask another editor to swap turns; they accept or decline (`answer_swap`)."""
    tribe, membership = visible_tribe(session, member, slug)
    rotation = {e.member_id for e in editors(session, tribe)}
    if membership is None or member.id not in rotation:
        raise ForbiddenError("only editors of the letter can swap turns: opt in first")
    if partner_id == member.id or partner_id not in rotation:
        raise InvalidInputError("choose another editor of this tribe's letter to swap with")
    # One request per asker: asking again (or a double click) replaces it, never a
    # second row the unique constraint would refuse.
    now = datetime.now(UTC)
    session.exec(
        dialect_insert(session, TurnSwap)
        .values(tribe_id=tribe.id, asker_id=member.id, partner_id=partner_id, created_at=now)
        .on_conflict_do_update(
            index_elements=["tribe_id", "asker_id"],
            set_={"partner_id": partner_id, "created_at": now},
        )
    )


def swaps_for(session: Session, tribe: Tribe, member_id: int) -> list[TurnSwap]:
    """Swaps asked of this member, or by them."""
    return list(
        session.exec(
            select(TurnSwap).where(
                col(TurnSwap.tribe_id) == tribe.id,
                or_(col(TurnSwap.partner_id) == member_id, col(TurnSwap.asker_id) == member_id),
            )
        )
    )


def answer_swap(
    session: Session, *, member: Member, slug: str, asker_id: int, accept: bool
) -> None:
    """Accepting swaps the two editors' places in the rotation, and the open draft's
    editor when it is one of them; declining forgets the request."""
    tribe, _ = visible_tribe(session, member, slug)
    swap = session.exec(
        select(TurnSwap).where(
            col(TurnSwap.tribe_id) == tribe.id,
            col(TurnSwap.asker_id) == asker_id,
            col(TurnSwap.partner_id) == member.id,
        )
    ).first()
    if swap is None:
        raise NotFoundError("nobody asked you to swap turns (or they took it back)")
    session.delete(swap)
    if not accept:
        session.flush()
        return
    plan = _plan_or_refuse(session, tribe)
    order = [e.member_id for e in editors(session, tribe, plan)]
    if asker_id not in order or member.id not in order:
        raise ConflictError("one of you is no longer an editor: the swap cannot happen")
    a, b = order.index(asker_id), order.index(member.id or 0)
    order[a], order[b] = order[b], order[a]
    plan.editor_order = order
    session.add(plan)
    edition = current_edition(session, tribe)
    if edition is not None and edition.state == EditionState.DRAFT:
        swapped = {asker_id: member.id, member.id: asker_id}
        if edition.editor_id in swapped:
            edition.editor_id = swapped[edition.editor_id]
            touch(session, edition)
    session.flush()


# Editions


def current_edition(session: Session, tribe: Tribe, *, lock: bool = False) -> Edition | None:
    """The edition being written or sent, if any. `lock`: for changing it, so that an
    editor's save and the beat's freeze at the deadline take turns (PostgreSQL; on
    SQLite every writer already does)."""
    query = (
        select(Edition)
        .where(col(Edition.tribe_id) == tribe.id, col(Edition.state).in_(OPEN))
        .order_by(col(Edition.number).desc())
    )
    return session.exec(query.with_for_update() if lock else query).first()


def last_edition(session: Session, tribe: Tribe) -> Edition | None:
    return session.exec(
        select(Edition)
        .where(col(Edition.tribe_id) == tribe.id)
        .order_by(col(Edition.number).desc())
    ).first()


def open_edition(session: Session, tribe: Tribe, plan: LetterPlan, *, now: datetime) -> Edition:
    """The next edition, for the next editor, due at the plan's next send time. Posts
    are proposed from the previous edition on (the first looks back one period)."""
    previous = last_edition(session, tribe)
    schedule = schedule_of(tribe, plan)
    if previous is None:
        span = timedelta(days=7 if plan.cadence == LetterCadence.WEEKLY else 31)
        since, after = now - span, now
    else:
        since = aware(previous.sent_at or previous.deadline_at)
        after = max(now, aware(previous.deadline_at))
    edition = Edition(
        tribe_id=tribe.id or 0,
        number=(previous.number if previous else 0) + 1,
        editor_id=editor_after(
            editors(session, tribe, plan), previous.editor_id if previous else None
        ),
        since=since,
        deadline_at=next_send(schedule, after),
        created_at=now,
        updated_at=now,
    )
    session.add(edition)
    session.flush()
    return edition


def open_draft(session: Session, tribe: Tribe, *, lock: bool = False) -> Edition:
    """The edition being written (a draft, or scheduled), or NotFoundError."""
    edition = current_edition(session, tribe, lock=lock)
    if edition is None or edition.state not in (EditionState.DRAFT, EditionState.SCHEDULED):
        raise NotFoundError(f"{tribe.slug} has no letter being written now")
    return edition


def _plan_or_refuse(session: Session, tribe: Tribe) -> LetterPlan:
    plan = plan_of(session, tribe)
    if plan is None:
        raise NotFoundError(f"{tribe.slug} has no letter; its chief can turn it on")
    return plan


def touch(session: Session, edition: Edition) -> None:
    edition.updated_at = datetime.now(UTC)
    session.add(edition)
    session.flush()


# The archive: what went out, as it went out (the frozen picks, never live posts)


@dataclass(frozen=True)
class Archived:
    """A sent edition as readers got it."""

    number: int
    subject: str
    intro: str
    picks: list[dict[str, object]]  # frozen: title, url, author, summary, shared_by, note
    links: list[dict[str, str]]
    automatic: bool  # the tribe's own selection went out, not an editor's
    editor_name: str  # "" for the automatic selection, or an editor hidden from the public page
    sent_at: datetime


def archive_tribe(session: Session, slug: str) -> Tribe:
    """A public tribe, for its archive; a private one is not found, as a slug nobody
    has, so the archive tells a stranger nothing about it (`public_row`)."""
    return public_row(session, slug)


def _archived(
    session: Session, tribe: Tribe, *, number: int | None = None, limit: int | None = None
) -> list[Archived]:
    # The editor's name is public (the archive, its feed) unless they hid themselves
    # from the tribe's public page.
    hidden = exists().where(
        col(Membership.tribe_id) == tribe.id,
        col(Membership.member_id) == col(Member.id),
        col(Membership.public_hidden),
    )
    query = (
        select(Edition, Member.display_name)
        .outerjoin(Member, and_(col(Member.id) == col(Edition.editor_id), not_(hidden)))
        .where(
            col(Edition.tribe_id) == tribe.id,
            col(Edition.state) == EditionState.SENT,
            col(Edition.sent_at).is_not(None),
        )
        .order_by(col(Edition.number).desc())
        .limit(limit)
    )
    if number is not None:
        query = query.where(col(Edition.number) == number)
    return [
        Archived(
            number=e.number,
            subject=e.subject,
            intro=e.intro,
            picks=list(e.picks),
            links=list(e.links),
            automatic=e.automatic,
            editor_name="" if e.automatic else (name or ""),
            sent_at=aware(e.sent_at or e.updated_at),
        )
        for e, name in session.exec(query).all()
    ]


def sent_editions(session: Session, tribe: Tribe, *, limit: int | None = None) -> list[Archived]:
    """The tribe's sent editions, newest first (skipped and unsent ones never show)."""
    return _archived(session, tribe, limit=limit)


def sent_edition(session: Session, tribe: Tribe, number: int) -> Archived:
    """Sent edition `number`; NotFoundError for one that was skipped or is not out yet."""
    found = _archived(session, tribe, number=number)
    if not found:
        raise NotFoundError(f"{tribe.name} has no letter #{number} in its archive")
    return found[0]
