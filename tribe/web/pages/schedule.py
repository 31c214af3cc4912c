"""Schedules per account, with a preview of the next times (saving one re-times the queued
reshares that no longer fit it); share templates, with a live preview on a real post from
the member's stream."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import PlainTextResponse
from sqlmodel import Session

from config.settings import parse_duration
from tribe.core.errors import InvalidInputError, TribeError
from tribe.core.kinds import Network
from tribe.delivery.queue import save_schedule
from tribe.infra.db import read_scope, session_scope
from tribe.members.accounts import (
    ScheduleChange,
    UpcomingTime,
    list_accounts,
    schedule_preview,
    schedule_view,
    set_template,
    templates_of,
)
from tribe.stream.approvals import approval_config, template_preview
from tribe.web.deps import PageViewer, Viewer, render
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
        gap = parse_duration(f"{every.strip()}m" if every.strip().isdigit() else every)
    except (ValueError, OverflowError) as exc:
        raise InvalidInputError(f"the gap: {exc}") from None
    return ScheduleChange(every=gap, between=(start, end), daily_cap=daily_cap)


def _page(request: Request, viewer: Viewer, *, proposed: Times | None = None,
          values: dict[int, dict[str, str]] | None = None,
          errors: dict[int, str] | None = None, status: int = 200) -> Response:  # fmt: skip
    with read_scope() as session:
        accounts = list_accounts(session, email=viewer.email)
        previews = {
            a.id: schedule_preview(session, email=viewer.email, account_id=a.id)
            for a in accounts
            if a.active
        }
        forms = {a.id: _form_values(session, viewer, a.id) for a in accounts}
    return render(
        request, "schedule.html", status, accounts=accounts, previews=previews,
        proposed=proposed or {}, forms={**forms, **(values or {})}, errors=errors or {},
    )  # fmt: skip


def _form_values(session: Session, viewer: Viewer, account_id: int) -> dict[str, str]:
    view = schedule_view(session, email=viewer.email, account_id=account_id)
    return {
        "mode": view.mode.value, "slots": view.slots, "every": str(view.every_minutes),
        "start": view.between[0], "end": view.between[1], "cap": str(view.daily_cap),
    }  # fmt: skip


@router.get("/schedule")
def schedule_page(request: Request, viewer: PageViewer) -> Response:
    return _page(request, viewer)


@router.post("/schedule/timezone")
def timezone(viewer: PageViewer, timezone: Annotated[str, Form(max_length=64)]) -> Response:
    with session_scope() as session:
        saved = save_schedule(
            session, email=viewer.email, change=ScheduleChange(timezone=timezone),
            config=approval_config(),
        )  # fmt: skip
    done = f"your time zone is now {timezone}"
    moved = saved.retimed.message()
    return redirect("/schedule", done=f"{done}; {moved}" if moved else done)


@router.post("/schedule/{account_id}")
def save_or_preview(
    request: Request, viewer: PageViewer, account_id: PathId,
    mode: Annotated[Literal["slots", "interval"], Form()],
    action: Annotated[Literal["save", "preview"], Form()] = "save",
    slots: Short = "", every: Short = "90", start: Short = "08:00", end: Short = "21:00",
    cap: Short = "6",
) -> Response:  # fmt: skip
    values = {"mode": mode, "slots": slots, "every": every, "start": start, "end": end, "cap": cap}
    try:
        change = _change(mode, slots, every, start, end, cap)
        if action == "preview":
            with read_scope() as session:
                times = schedule_preview(
                    session, email=viewer.email, account_id=account_id, change=change
                )
            return _page(request, viewer, proposed={account_id: times},
                         values={account_id: values})  # fmt: skip
        with session_scope() as session:
            saved = save_schedule(
                session, email=viewer.email, change=change, account_id=account_id,
                config=approval_config(),
            )  # fmt: skip
    except InvalidInputError as exc:
        return _page(request, viewer, values={account_id: values},
                     errors={account_id: str(exc)}, status=422)  # fmt: skip
    (info,) = saved.accounts
    done = f"{info.network.value} {info.handle}: {info.schedule}"
    moved = saved.retimed.message()
    return redirect(f"/schedule#schedule-{account_id}", done=f"{done}. {moved}" if moved else done)


@router.get("/templates")
def templates_page(request: Request, viewer: PageViewer) -> Response:
    with read_scope() as session:
        current = templates_of(session, email=viewer.email)
        previews = {
            network: template_preview(
                session, email=viewer.email, network=network, template=template
            )
            for network, template in current.items()
        }
    rows = {network: _rows(template) for network, template in current.items()}
    return render(request, "templates.html", templates=current, previews=previews, rows=rows,
                  networks=[n.value for n in Network])  # fmt: skip


def _rows(text: str, width: int = 60) -> int:
    """Enough rows to show the whole template at about `width` characters a line (the
    page's script then fits the box to the text exactly)."""
    lines = text.split("\n")
    return max(3, sum(max(1, -(-len(line) // width)) for line in lines) + 1)


@router.post("/templates/{network}/preview")
def preview_template(
    viewer: PageViewer, network: Network,
    template: Annotated[str, Form(max_length=TEMPLATE_MAX)],
) -> Response:  # fmt: skip
    """For the live preview: the text, or why the template cannot be used (422)."""
    try:
        with read_scope() as session:
            text = template_preview(
                session, email=viewer.email, network=network.value, template=template
            )
    except TribeError as exc:
        return PlainTextResponse(str(exc), status_code=422)
    return PlainTextResponse(text)


@router.post("/templates/{network}")
def save_template(
    viewer: PageViewer, network: Network,
    template: Annotated[str, Form(max_length=TEMPLATE_MAX)],
) -> Response:  # fmt: skip
    with session_scope() as session:
        set_template(session, email=viewer.email, network=network.value, template=template)
    return redirect("/templates", done=f"your {network.value} template is saved")
