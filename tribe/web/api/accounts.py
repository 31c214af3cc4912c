"""The member's accounts, their schedules, and the share templates."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from tribe.core.kinds import Network
from tribe.delivery import queue
from tribe.infra.db import read_scope, session_scope
from tribe.members.accounts import (
    ScheduleChange,
    list_accounts,
    schedule_preview,
    schedule_view,
    set_template,
    templates_of,
)
from tribe.stream.approvals import (
    approval_config,
    template_preview,
)
from tribe.web.api.common import ERROR_RESPONSES, Limit, Offset, Page, fields_of
from tribe.web.deps import ApiViewer
from tribe.web.params import PathId

router = APIRouter()


class AccountOut(BaseModel):
    id: int
    network: Network
    handle: str
    state: str
    reshare: str
    schedule: str
    paused: bool
    note: str


class ScheduleOut(BaseModel):
    """When an account posts: fixed `slots`, or every `every_minutes` `between` two times,
    at most `daily_cap` a day, in the member's `timezone`; `next` previews the coming
    times (before what is already queued)."""

    account_id: int
    mode: Literal["slots", "interval"]
    slots: str = Field(examples=["mon 09:00,12:30; tue 09:00,12:30; sat 10:00"])
    every_minutes: int
    between: tuple[str, str] = Field(examples=[("08:00", "21:00")])
    daily_cap: int
    timezone: str
    summary: str
    next: list[str] = Field(
        description="the next times, as you read them, each with why",
        examples=[["Mon 30 Nov, 09:00 CET — slot mon 09:00"]],
    )
    next_at: list[datetime] = Field(description="the same times, ISO 8601 (UTC)")


class ScheduleSavedOut(ScheduleOut):
    """The schedule as saved, and what it did to the reshares already queued."""

    moved: int = Field(description="queued reshares that no longer fit and got new times")
    message: str = Field(examples=["3 deliveries moved to the new times"])


ClockTime = Annotated[str, Field(min_length=4, max_length=5, examples=["08:00"])]
SlotSpec = Annotated[
    str, Field(min_length=1, max_length=500, examples=["mon-fri 09:00,12:30; sat 10:00"])
]


class ScheduleChangeIn(BaseModel):
    """Either `slots`, or `every_minutes` and/or `between`; `daily_cap` with either.
    What is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")
    slots: SlotSpec | None = None
    every_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None
    between: tuple[ClockTime, ClockTime] | None = None
    daily_cap: Annotated[int, Field(ge=1, le=100)] | None = None


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(min_length=1, max_length=1000, examples=["{title} {url} via {author}"])


class TemplateOut(BaseModel):
    network: Network
    template: str
    preview: str = Field(description="the template applied to a post from your stream")


@router.get("/accounts", responses=ERROR_RESPONSES)
def accounts(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> Page[AccountOut]:
    with read_scope() as session:
        found = list_accounts(session, email=viewer.email)
    return Page(
        data=[AccountOut(**fields_of(a, AccountOut)) for a in found[offset : offset + limit]],
        count=len(found),
    )


def _schedule(session: Session, email: str, account_id: int) -> ScheduleOut:
    view = schedule_view(session, email=email, account_id=account_id)
    times = schedule_preview(session, email=email, account_id=account_id)
    values = {**asdict(view), "mode": view.mode.value}
    return ScheduleOut(**values, next=[str(t) for t in times], next_at=[t.at for t in times])


@router.get("/accounts/{account_id}/schedule", responses=ERROR_RESPONSES)
def schedule(viewer: ApiViewer, account_id: PathId) -> ScheduleOut:
    with read_scope() as session:
        return _schedule(session, viewer.email, account_id)


@router.put("/accounts/{account_id}/schedule", responses=ERROR_RESPONSES)
def change_schedule(
    viewer: ApiViewer, account_id: PathId, body: ScheduleChangeIn
) -> ScheduleSavedOut:
    """Change one account's schedule (slots are kept as you write them). Reshares already
    queued that no longer fit it get the next times it allows: `moved` says how many."""
    change = ScheduleChange(
        slots=body.slots,
        every=timedelta(minutes=body.every_minutes) if body.every_minutes else None,
        between=body.between,
        daily_cap=body.daily_cap,
    )
    with session_scope() as session:
        saved = queue.save_schedule(
            session, email=viewer.email, change=change, account_id=account_id,
            config=approval_config(),
        )  # fmt: skip
        schedule = _schedule(session, viewer.email, account_id)
    return ScheduleSavedOut(
        **schedule.model_dump(), moved=saved.retimed.moved, message=saved.retimed.message()
    )


def _template(session: Session, email: str, network: Network, template: str) -> TemplateOut:
    preview = template_preview(session, email=email, network=network.value, template=template)
    return TemplateOut(network=network, template=template, preview=preview)


@router.get("/templates", responses=ERROR_RESPONSES)
def template_list(viewer: ApiViewer) -> list[TemplateOut]:
    """Your share template per network (the default where you set none)."""
    with read_scope() as session:
        return [
            _template(session, viewer.email, Network(network), template)
            for network, template in templates_of(session, email=viewer.email).items()
        ]


@router.put("/templates/{network}", responses=ERROR_RESPONSES)
def change_template(viewer: ApiViewer, network: Network, body: TemplateIn) -> TemplateOut:
    """Set your template for a network: {title}, {url}, {author}, {tags} are filled in."""
    with session_scope() as session:
        set_template(session, email=viewer.email, network=network.value, template=body.template)
        return _template(session, viewer.email, network, body.template)
