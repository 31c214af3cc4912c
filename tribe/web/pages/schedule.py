"""Schedules per account, with a preview of the next times (saving one re-times the queued
reshares that no longer fit it); share templates, with a live preview on a real post from
the member's stream."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import PlainTextResponse
from sqlmodel import Session

from tribe.core.errors import InvalidInputError, TribeError
from tribe.core.kinds import Network
from tribe.core.schedule import parse_gap
from tribe.delivery.changes import save_schedule
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Member
from tribe.members.accounts import (
    ScheduleChange,
    UpcomingTime,
    list_accounts,
    schedule_preview,
    schedule_view,
    set_template,
    templates_of,
)
from tribe.stream.texts import template_preview
from tribe.web.config import WebConfigDep
from tribe.web.deps import PageViewer, Viewer, me, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()
Short = Annotated[str, Form(max_length=500)]
TEMPLATE_MAX = 1000
Times = dict[int, list[UpcomingTime]]  # the next times, by account


def _change(mode: str, slots: str, every: str, start: str, end: str, cap: str) -> ScheduleChange:
    """The form's fields as a schedule change; a malformed field is named in the error."""
    try:
        daily_cap = int(cap) if cap.strip() else None
    except ValueError:  # int() of a long digit string is fine; the range is checked later
        raise InvalidInputError("the daily cap must be a whole number") from None
    if mode == "slots":
        return ScheduleChange(slots=slots, daily_cap=daily_cap)
    try:
        gap = parse_gap(every)
    except InvalidInputError as exc:
        raise InvalidInputError(f"the gap: {exc}") from None
    return ScheduleChange(every=gap, between=(start, end), daily_cap=daily_cap)


def _page(
    request: Request,
    viewer: Viewer,
    *,
    proposed: Times | None = None,
    values: dict[int, dict[str, str]] | None = None,
    errors: dict[int, str] | None = None,
    status: int = 200,
) -> Response:
    with read_scope() as session:
        member = me(session, viewer)
        accounts = list_accounts(session, member=member)
        previews = {
            a.id: schedule_preview(session, member=member, account_id=a.id)
            for a in accounts
            if a.active
        }
        forms = {a.id: _form_values(session, member, a.id) for a in accounts}
    return render(
        request,
        "schedule.html",
        status,
        accounts=accounts,
        previews=previews,
        proposed=proposed or {},
        forms={**forms, **(values or {})},
        errors=errors or {},
    )


def _form_values(session: Session, member: Member, account_id: int) -> dict[str, str]:
    view = schedule_view(session, member=member, account_id=account_id)
    return {
        "mode": view.mode.value,
        "slots": view.slots,
        "every": str(view.every_minutes),
        "start": view.between[0],
        "end": view.between[1],
        "cap": str(view.daily_cap),
    }


@router.get("/schedule")
def schedule_page(request: Request, viewer: PageViewer) -> Response:
    return _page(request, viewer)


@router.post("/schedule/timezone")
def timezone(
    viewer: PageViewer, config: WebConfigDep, timezone: Annotated[str, Form(max_length=64)]
) -> Response:
    with session_scope() as session:
        saved = save_schedule(
            session,
            member=me(session, viewer),
            change=ScheduleChange(timezone=timezone),
            config=config.approvals,
        )
    done = f"your time zone is now {timezone}"
    moved = saved.retimed.message()
    return redirect("/schedule", done=f"{done}; {moved}" if moved else done)


@router.post("/schedule/{account_id}")
def save_or_preview(
    request: Request,
    viewer: PageViewer,
    config: WebConfigDep,
    account_id: PathId,
    mode: Annotated[Literal["slots", "interval"], Form()],
    action: Annotated[Literal["save", "preview"], Form()] = "save",
    slots: Short = "",
    every: Short = "90",
    start: Short = "08:00",
    end: Short = "21:00",
    cap: Short = "6",
) -> Response:
    values = {"mode": mode, "slots": slots, "every": every, "start": start, "end": end, "cap": cap}
    try:
        change = _change(mode, slots, every, start, end, cap)
        if action == "preview":
            with read_scope() as session:
                times = schedule_preview(
                    session, member=me(session, viewer), account_id=account_id, change=change
                )
            return _page(request, viewer, proposed={account_id: times}, values={account_id: values})
        with session_scope() as session:
            saved = save_schedule(
                session,
                member=me(session, viewer),
                change=change,
                account_id=account_id,
                config=config.approvals,
            )
    except InvalidInputError as exc:
        return _page(
            request, viewer, values={account_id: values}, errors={account_id: str(exc)}, status=422
        )
    (info,) = saved.accounts
    done = f"{info.network.value} {info.handle}: {info.schedule}"
    moved = saved.retimed.message()
    return redirect(f"/schedule#schedule-{account_id}", done=f"{done}. {moved}" if moved else done)


@router.get("/templates")
def templates_page(request: Request, viewer: PageViewer) -> Response:
    with read_scope() as session:
        member = me(session, viewer)
        current = templates_of(member)
        previews = {
            network: template_preview(session, member=member, network=network, template=template)
            for network, template in current.items()
        }
    rows = {network: _rows(template) for network, template in current.items()}
    return render(
        request,
        "templates.html",
        templates=current,
        previews=previews,
        rows=rows,
        networks=[n.value for n in Network],
    )


def _rows(text: str, width: int = 60) -> int:
    """Enough rows to show the whole template at about `width` characters a line (the
    page's script then fits the box to the text exactly)."""
    lines = text.split("\n")
    return max(3, sum(max(1, -(-len(line) // width)) for line in lines) + 1)


@router.post("/templates/{network}/preview")
def preview_template(
    viewer: PageViewer,
    network: Network,
    template: Annotated[str, Form(max_length=TEMPLATE_MAX)],
) -> Response:
    """For the live preview: the text, or why the template cannot be used (422)."""
    try:
        with read_scope() as session:
            text = template_preview(
                session, member=me(session, viewer), network=network.value, template=template
            )
    except TribeError as exc:
        return PlainTextResponse(str(exc), status_code=422)
    return PlainTextResponse(text)


@router.post("/templates/{network}")
def save_template(
    viewer: PageViewer,
    network: Network,
    template: Annotated[str, Form(max_length=TEMPLATE_MAX)],
) -> Response:
    with session_scope() as session:
        set_template(session, member=me(session, viewer), network=network.value, template=template)
    return redirect("/templates", done=f"your {network.value} template is saved")
