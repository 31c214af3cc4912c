"""The member's accounts, their schedules, and the share templates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import Field
from sqlmodel import Session

from tribe.core.kinds import Network
from tribe.delivery.changes import save_schedule
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Member
from tribe.members.accounts import (
    ScheduleChange,
    ScheduleView,
    UpcomingTime,
    count_accounts,
    list_accounts,
    schedule_preview,
    schedule_view,
    set_template,
    templates_of,
)
from tribe.stream.texts import template_preview
from tribe.web.api.common import ERROR_RESPONSES, Input, Limit, Offset, Page, Public
from tribe.web.config import WebConfigDep
from tribe.web.deps import ApiViewer, me
from tribe.web.params import PathId

router = APIRouter()


class AccountPublic(Public):
    # From `accounts.AccountInfo`.
    id: int
    network: Network
    handle: str
    state: str
    reshare: str
    schedule: str
    paused: bool
    note: str


class ScheduleBase(Public):
    # From `accounts.ScheduleView`: the schedule field by field.
    account_id: int
    mode: Literal["slots", "interval"]
    slots: str = Field(examples=["mon 09:00,12:30; tue 09:00,12:30; sat 10:00"])
    every_minutes: int
    between: tuple[str, str] = Field(examples=[("08:00", "21:00")])
    daily_cap: int
    timezone: str
    summary: str


class SchedulePublic(ScheduleBase):
    """When an account posts: fixed `slots`, or every `every_minutes` `between` two times,
    at most `daily_cap` a day, in the member's `timezone`; `next` previews the coming
    times (before what is already queued)."""

    next: list[str] = Field(
        description="the next times, as you read them, each with why",
        examples=[["Mon 30 Nov, 09:00 CET — slot mon 09:00"]],
    )
    next_at: list[datetime] = Field(description="the same times, ISO 8601 (UTC)")

    @classmethod
    def of(cls, view: ScheduleView, times: Sequence[UpcomingTime]) -> SchedulePublic:
        """The schedule with the next times it gives."""
        base = ScheduleBase.model_validate(view)
        return cls(**dict(base), next=[str(t) for t in times], next_at=[t.at for t in times])


class ScheduleSavedPublic(SchedulePublic):
    """The schedule as saved, and what it did to the reshares already queued."""

    moved: int = Field(description="queued reshares that no longer fit and got new times")
    message: str = Field(examples=["3 deliveries moved to the new times"])


ClockTime = Annotated[str, Field(min_length=4, max_length=5, examples=["08:00"])]
SlotSpec = Annotated[
    str, Field(min_length=1, max_length=500, examples=["mon-fri 09:00,12:30; sat 10:00"])
]


class ScheduleUpdate(Input):
    """Either `slots`, or `every_minutes` and/or `between`; `daily_cap` with either.
    What is left out stays as it is."""

    slots: SlotSpec | None = None
    every_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None
    between: tuple[ClockTime, ClockTime] | None = None
    daily_cap: Annotated[int, Field(ge=1, le=100)] | None = None

    def change(self) -> ScheduleChange:
        return ScheduleChange(
            slots=self.slots,
            every=timedelta(minutes=self.every_minutes) if self.every_minutes else None,
            between=self.between,
            daily_cap=self.daily_cap,
        )


class TemplateUpdate(Input):
    template: str = Field(min_length=1, max_length=1000, examples=["{title} {url} via {author}"])


class TemplatePublic(Public):
    network: Network
    template: str
    preview: str = Field(description="the template applied to a post from your stream")


AccountsPublic = Page[AccountPublic]


@router.get("/accounts", responses=ERROR_RESPONSES)
def accounts(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> AccountsPublic:
    with read_scope() as session:
        member = me(session, viewer)
        found = list_accounts(session, member=member, limit=limit, offset=offset)
        count = count_accounts(session, member=member)
    return AccountsPublic(data=[AccountPublic.model_validate(a) for a in found], count=count)


def _schedule(session: Session, member: Member, account_id: int) -> SchedulePublic:
    view = schedule_view(session, member=member, account_id=account_id)
    times = schedule_preview(session, member=member, account_id=account_id)
    return SchedulePublic.of(view, times)


@router.get("/accounts/{account_id}/schedule", responses=ERROR_RESPONSES)
def schedule(viewer: ApiViewer, account_id: PathId) -> SchedulePublic:
    with read_scope() as session:
        return _schedule(session, me(session, viewer), account_id)


@router.put("/accounts/{account_id}/schedule", responses=ERROR_RESPONSES)
def change_schedule(
    viewer: ApiViewer, config: WebConfigDep, account_id: PathId, body: ScheduleUpdate
) -> ScheduleSavedPublic:
    """Change one account's schedule (slots are kept as you write them). Reshares already
    queued that no longer fit it get the next times it allows: `moved` says how many."""
    with session_scope() as session:
        member = me(session, viewer)
        saved = save_schedule(
            session,
            member=member,
            change=body.change(),
            account_id=account_id,
            config=config.approvals,
        )
        schedule = _schedule(session, member, account_id)
    return ScheduleSavedPublic(
        **dict(schedule), moved=saved.retimed.moved, message=saved.retimed.message()
    )


def _template(session: Session, member: Member, network: Network, template: str) -> TemplatePublic:
    preview = template_preview(session, member=member, network=network.value, template=template)
    return TemplatePublic(network=network, template=template, preview=preview)


@router.get("/templates", responses=ERROR_RESPONSES)
def template_list(viewer: ApiViewer) -> list[TemplatePublic]:
    """Your share template per network (the default where you set none)."""
    with read_scope() as session:
        member = me(session, viewer)
        return [
            _template(session, member, Network(network), template)
            for network, template in templates_of(member).items()
        ]


@router.put("/templates/{network}", responses=ERROR_RESPONSES)
def change_template(viewer: ApiViewer, network: Network, body: TemplateUpdate) -> TemplatePublic:
    """Set your template for a network: {title}, {url}, {author}, {tags} are filled in."""
    with session_scope() as session:
        member = me(session, viewer)
        set_template(session, member=member, network=network.value, template=body.template)
        return _template(session, member, network, body.template)
