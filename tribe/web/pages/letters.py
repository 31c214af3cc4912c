"""A tribe's letter in the browser: the members' page (`/tribes/{slug}/letter`), where
the editor of the turn writes the edition, members choose to write and read it, and the
chief sets the plan; and the public archive of what went out (`/t/{slug}/letters`).

The rules are `tribe.alliance.editions`' and `tribe.alliance.sending`'s; these routes
read the forms and render. A draft that fails its checks is shown again as the editor
typed it, with the reason: an introduction is not lost to a mistyped link.

The email preview is the HTML readers get, served as its own document under a policy of
its own (inline styles, no script, sandboxed) inside a frame of the preview page: the
app's policy forbids inline styles, and an email is made of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from tribe.alliance import drafts
from tribe.alliance import editions as ed
from tribe.alliance.counting import aware
from tribe.alliance.sending import LetterConfig, preview, queue_swap_request
from tribe.alliance.subscribers import subscriber_counts
from tribe.core import timefmt
from tribe.core.digest import day_name
from tribe.core.errors import ForbiddenError, InvalidInputError, NotFoundError
from tribe.core.kinds import EditionState, IfUnsent, LetterCadence
from tribe.core.letter import LAST_MONTH_DAY, parse_cadence, parse_day, parse_if_unsent
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import LetterPlan, Member, Tribe
from tribe.members.tribes import chief_tribe, mates, visible_tribe
from tribe.web.config import WebConfigDep
from tribe.web.deps import PageViewer, Viewer, me, render
from tribe.web.flash import redirect
from tribe.web.letter_views import Submitted, draft_form, draft_letter, submitted
from tribe.web.letter_views import position as place_of
from tribe.web.params import BodyId, FormId, PathId

router = APIRouter()
DAYS = tuple(day_name(n) for n in range(7))
# The email preview's own policy: its inline styles, its links, no script, no form.
EMAIL_PREVIEW_HEADERS = {
    "Content-Security-Policy": (
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
        "frame-ancestors 'self'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
}
Text = Annotated[str, Form(max_length=drafts.MAX_INTRO * 2)]  # the domain says what is too long
Short = Annotated[str, Form(max_length=100)]
Texts = Annotated[list[str], Form(max_length=drafts.CANDIDATE_CAP)]
LinkTexts = Annotated[list[str], Form(max_length=drafts.MAX_LINKS * 3)]


# The members' page


@dataclass(frozen=True)
class PlanForm:
    enabled: bool
    described: str
    cadence: str
    weekday: int
    monthday: int
    hour: str
    zone: str
    if_unsent: str


def plan_form(tribe: Tribe, plan: LetterPlan | None) -> PlanForm:
    if plan is None:
        return PlanForm(False, "", "weekly", 4, 1, "09:00", tribe.timezone, IfUnsent.SEND.value)
    weekly = plan.cadence == LetterCadence.WEEKLY
    return PlanForm(
        enabled=plan.enabled,
        described=ed.schedule_of(tribe, plan).describe(),
        cadence=plan.cadence.value,
        weekday=plan.day if weekly else 4,
        monthday=1 if weekly else plan.day,
        hour=plan.hour,
        zone=tribe.timezone,
        if_unsent=plan.if_unsent.value,
    )


@dataclass(frozen=True)
class Swap:
    member_id: int  # the other member
    name: str


@dataclass(frozen=True)
class Roles:
    """The member's own switches."""

    editor: bool
    reader: bool


@dataclass(frozen=True)
class EditionInfo:
    number: int
    editor_name: str  # "" when nobody writes it: the tribe's own selection goes
    state: EditionState
    deadline: datetime
    send_at: datetime | None


@dataclass(frozen=True)
class LetterView:
    """Everything the letter page shows a member; the chief's parts only to the chief."""

    slug: str
    name: str
    is_public: bool
    plan: PlanForm
    current: EditionInfo | None
    last_sent: ed.Archived | None
    rotation: list[ed.Editor]
    roles: Roles | None  # None: the operator, looking at a tribe they are not in
    swaps_asked_of_me: list[Swap]
    swaps_i_asked: list[Swap]
    chief: bool
    counts: dict[str, int] = field(default_factory=dict)  # subscribers by state (chief)


def _edition_info(session: Session, tribe: Tribe) -> EditionInfo | None:
    edition = ed.current_edition(session, tribe)
    if edition is None:
        return None
    editor = session.get(Member, edition.editor_id) if edition.editor_id else None
    return EditionInfo(
        number=edition.number,
        editor_name=editor.display_name if editor else "",
        state=edition.state,
        deadline=aware(edition.deadline_at),
        send_at=aware(edition.send_at) if edition.send_at else None,
    )


def letter_view(session: Session, member: Member, slug: str) -> LetterView:
    tribe, membership = visible_tribe(session, member, slug)
    plan = ed.plan_of(session, tribe)
    names = {m.member_id: m.name for m in mates(session, member=member, slug=slug)}
    swaps = ed.swaps_for(session, tribe, member.id or 0)
    chief = tribe.chief_id == member.id
    sent = ed.sent_editions(session, tribe, limit=1)
    return LetterView(
        slug=tribe.slug,
        name=tribe.name,
        is_public=tribe.is_public,
        plan=plan_form(tribe, plan),
        current=_edition_info(session, tribe),
        last_sent=sent[0] if sent else None,
        rotation=ed.editors(session, tribe, plan),
        roles=Roles(membership.letter_editor, membership.letter_reader) if membership else None,
        swaps_asked_of_me=[
            Swap(s.asker_id, names.get(s.asker_id, "a former member"))
            for s in swaps
            if s.partner_id == member.id
        ],
        swaps_i_asked=[
            Swap(s.partner_id, names.get(s.partner_id, "a former member"))
            for s in swaps
            if s.asker_id == member.id
        ],
        chief=chief,
        counts=subscriber_counts(session, tribe_id=tribe.id or 0) if chief else {},
    )


def _editable(session: Session, member: Member, slug: str) -> drafts.Draft | None:
    """The open draft when this member may write it (its editor, the chief)."""
    try:
        return drafts.editable(session, member=member, slug=slug)
    except (ForbiddenError, NotFoundError):
        return None


def _page(
    request: Request,
    viewer: Viewer,
    slug: str,
    *,
    values: Submitted | None = None,
    error: str | None = None,
    typed: PlanForm | None = None,
    plan_error: str | None = None,
    status: int = 200,
) -> Response:
    """The letter page; a refused draft or plan is shown again as it was typed, with
    the reason beside it."""
    with read_scope() as session:
        member = me(session, viewer)
        view = letter_view(session, member, slug)
        if typed is not None:
            saved = view.plan
            view = replace(
                view, plan=replace(typed, enabled=saved.enabled, described=saved.described)
            )
        draft = _editable(session, member, slug)
        form = (
            draft_form(draft, values or Submitted.of_draft(draft), zone=member.timezone)
            if draft
            else None
        )
    return render(
        request,
        "letter.html",
        status,
        letter=view,
        draft=form,
        draft_error=error,
        plan_error=plan_error,
        days=DAYS,
        last_month_day=LAST_MONTH_DAY,
    )


@router.get("/tribes/{slug}/letter")
def letter_page(request: Request, viewer: PageViewer, slug: str) -> Response:
    return _page(request, viewer, slug)


# The member's own choices, and swapping turns


@router.post("/tribes/{slug}/letter/roles")
def roles(
    viewer: PageViewer,
    slug: str,
    editor: Annotated[bool, Form()] = False,
    reader: Annotated[bool, Form()] = False,
) -> Response:
    """Both switches at once: an unticked box is not sent, so it means off."""
    with session_scope() as session:
        ed.set_roles(session, member=me(session, viewer), slug=slug, editor=editor, reader=reader)
    writes = "you take turns writing the letter" if editor else "you do not write the letter"
    reads = "you receive it" if reader else "you do not receive it"
    return redirect(f"/tribes/{slug}/letter", done=f"{writes}; {reads}")


@router.post("/tribes/{slug}/letter/swaps")
def ask_swap(viewer: PageViewer, config: WebConfigDep, slug: str, partner_id: FormId) -> Response:
    with session_scope() as session:
        member = me(session, viewer)
        ed.ask_swap(session, member=member, slug=slug, partner_id=partner_id)
        queue_swap_request(
            session,
            slug=slug,
            asker=member,
            partner_id=partner_id,
            now=datetime.now(UTC),
            config=LetterConfig(base_url=config.base_url, sender=config.outbox.sender),
        )
        partner = session.get(Member, partner_id)
        name = partner.display_name if partner else "they"
    return redirect(
        f"/tribes/{slug}/letter",
        done=f"asked {name} by email to swap turns; the swap happens when they accept",
    )


@router.post("/tribes/{slug}/letter/swaps/{asker_id}")
def answer_swap(
    viewer: PageViewer, slug: str, asker_id: PathId, accept: Annotated[bool, Form()] = False
) -> Response:
    with session_scope() as session:
        ed.answer_swap(
            session, member=me(session, viewer), slug=slug, asker_id=asker_id, accept=accept
        )
    done = "you swapped turns" if accept else "you declined the swap; your turns stay as they were"
    return redirect(f"/tribes/{slug}/letter", done=done)


# The editor's draft


@router.post("/tribes/{slug}/letter/draft")
def save_draft(
    request: Request,
    viewer: PageViewer,
    slug: str,
    action: Annotated[Literal["save", "preview", "schedule", "send"], Form()] = "save",
    subject: Annotated[str, Form(max_length=1000)] = "",
    intro: Text = "",
    post: Annotated[list[BodyId], Form(max_length=drafts.CANDIDATE_CAP)] = [],  # noqa: B006
    pick: Annotated[list[BodyId], Form(max_length=drafts.CANDIDATE_CAP)] = [],  # noqa: B006
    order: Texts = [],  # noqa: B006
    note: Texts = [],  # noqa: B006
    link_url: LinkTexts = [],  # noqa: B006
    link_title: LinkTexts = [],  # noqa: B006
    link_note: LinkTexts = [],  # noqa: B006
    send_at: Short = "",
) -> Response:
    """Save the draft, then preview, schedule or send it. Saved first in a transaction of
    its own: a refused send time never costs the editor their selection."""
    values: Submitted | None = None
    try:
        values = submitted(
            subject, intro, post, pick, order, note, (link_url, link_title, link_note)
        )
        with session_scope() as session:
            drafts.save_draft(
                session,
                member=me(session, viewer),
                slug=slug,
                subject=values.subject,
                intro=values.intro,
                picks=values.picks(),
                links=values.links,
            )
    except InvalidInputError as exc:
        return _page(request, viewer, slug, values=values, error=str(exc), status=422)
    if action == "preview":
        return redirect(f"/tribes/{slug}/letter/preview?as=email")
    if action == "save":
        return redirect(f"/tribes/{slug}/letter#draft", done="draft saved")
    try:
        done = _schedule(viewer, slug, send_at if action == "schedule" else None)
    except InvalidInputError as exc:
        error = f"the draft is saved, but it was not scheduled: {exc}"
        return _page(request, viewer, slug, error=error, status=422)
    return redirect(f"/tribes/{slug}/letter", done=done)


def _schedule(viewer: Viewer, slug: str, send_at: str | None) -> str:
    now = datetime.now(UTC)
    with session_scope() as session:
        member = me(session, viewer)
        when = None if send_at is None else _send_time(send_at, member.timezone)
        edition = drafts.schedule_send(session, member=member, slug=slug, send_at=when, now=now)
        going = aware(edition.send_at or now)
    if when is None:
        return f"letter #{edition.number} goes out within a minute"
    return f"letter #{edition.number} goes out {timefmt.moment(going, viewer.timezone)}"


def _send_time(text: str, zone: str) -> datetime:
    """The datetime-local field, read in the editor's own zone (every time on the page
    is in it)."""
    refused = InvalidInputError(f"choose the day and time to send it, in your time zone ({zone})")
    try:
        local = datetime.fromisoformat(text.strip())
        if local.tzinfo is not None:
            raise refused
        return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except (ValueError, OverflowError):  # not a date; or year 1 or 9999 moved to UTC
        raise refused from None


@router.get("/tribes/{slug}/letter/preview")
def preview_page(
    request: Request,
    viewer: PageViewer,
    config: WebConfigDep,
    slug: str,
    shown_as: Annotated[Literal["email", "web"], Query(alias="as")] = "email",
) -> Response:
    """The draft as readers would get it now: the email (framed), or the web version."""
    with read_scope() as session:
        draft = drafts.editable(session, member=me(session, viewer), slug=slug)
        shown = preview(draft, base_url=config.base_url)
        letter = draft_letter(draft, shown)
    if shown_as == "web":
        return render(
            request, "letter_edition.html", letter=letter, preview=True, shown_as=shown_as
        )
    return render(request, "letter_preview.html", letter=letter, email=shown, shown_as=shown_as)


@router.get("/tribes/{slug}/letter/preview/email")
def preview_email(viewer: PageViewer, config: WebConfigDep, slug: str) -> Response:
    """The email's HTML part alone, for the preview page's frame."""
    with read_scope() as session:
        draft = drafts.editable(session, member=me(session, viewer), slug=slug)
        html = preview(draft, base_url=config.base_url).html
    return HTMLResponse(html, headers=EMAIL_PREVIEW_HEADERS)


# The chief's part


@router.post("/tribes/{slug}/letter/plan")
def plan(
    request: Request,
    viewer: PageViewer,
    slug: str,
    enabled: Annotated[bool, Form()] = False,
    cadence: Short = "weekly",
    weekday: Short = "4",
    monthday: Short = "1",
    hour: Short = "09:00",
    zone: Short = "",
    if_unsent: Short = "send",
) -> Response:
    with session_scope() as session:
        tribe = chief_tribe(session, me(session, viewer), slug)
        if not enabled:
            ed.disable(session, tribe)
            return redirect(f"/tribes/{slug}/letter", done="the letter is off")
        try:
            chosen = parse_cadence(cadence)
            saved = ed.configure(
                session,
                tribe,
                cadence=chosen,
                day=parse_day(chosen, weekday if chosen == LetterCadence.WEEKLY else monthday),
                hour=hour,
                if_unsent=parse_if_unsent(if_unsent),
                zone=zone.strip() or None,
            )
        except InvalidInputError as exc:
            typed = PlanForm(True, "", cadence, _number(weekday, 4), _number(monthday, 1),
                             hour, zone, if_unsent)  # fmt: skip
            refused = str(exc)
        else:
            described = ed.schedule_of(tribe, saved).describe()
            return redirect(f"/tribes/{slug}/letter", done=f"the letter goes {described}")
    return _page(request, viewer, slug, typed=typed, plan_error=refused, status=422)


def _number(text: str, default: int) -> int:
    """A number field as typed, for showing the form again (the rules are the plan's)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 6 else default


@router.post("/tribes/{slug}/letter/order")
def order_editors(
    viewer: PageViewer,
    slug: str,
    editor: Annotated[list[BodyId], Form(max_length=1000)] = [],  # noqa: B006
    position: Annotated[list[str], Form(max_length=1000)] = [],  # noqa: B006
) -> Response:
    """The editors by the numbers the chief gave them (equal numbers keep their order)."""
    if len(editor) != len(position):
        raise InvalidInputError("the form came incomplete: reload the page and try again")
    places = [
        (place_of(p), n, member_id)
        for n, (member_id, p) in enumerate(zip(editor, position, strict=True))
    ]
    with session_scope() as session:
        ed.reorder(
            session,
            member=me(session, viewer),
            slug=slug,
            member_ids=[m for *_, m in sorted(places)],
        )
    return redirect(f"/tribes/{slug}/letter", done="the editors' order is saved")


@router.post("/tribes/{slug}/letter/pass")
def pass_over(viewer: PageViewer, slug: str) -> Response:
    with session_scope() as session:
        editor_id = ed.pass_over(session, member=me(session, viewer), slug=slug)
        editor = session.get(Member, editor_id) if editor_id else None
        name = editor.display_name if editor else None
    done = (
        f"{name} writes this edition now"
        if name
        else "nobody else takes turns: the tribe's own selection goes at the deadline"
    )
    return redirect(f"/tribes/{slug}/letter", done=done)
