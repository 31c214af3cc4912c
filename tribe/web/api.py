"""The JSON API, /api/v1: what scripts need from the stream, queue, schedules, templates,
feeds and tribes.

Every call acts for the member whose personal API token it carries; an id of someone
else's object is answered 404, as if it did not exist. Lists are paginated with
`limit` and `offset` and answer `{"data": [...], "count": N}`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from tribe import queue, tribes
from tribe.accounts import (
    ScheduleChange,
    list_accounts,
    schedule_preview,
    schedule_view,
    set_template,
    templates_of,
)
from tribe.approvals import approval_config, approve, previews, skip, template_preview, unskip
from tribe.db import read_scope, session_scope
from tribe.feeds import poll_config
from tribe.feeds.check import check_now
from tribe.feeds.registry import add_feed, list_feeds, remove_feed
from tribe.models import Network, PollOutcome
from tribe.stream import count_pending, pending_stream
from tribe.web.deps import ApiViewer, OutboundDep
from tribe.web.params import BodyId, PathId

router = APIRouter(tags=["api"])
T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Slug = Annotated[str, Path(max_length=80)]


class Page(BaseModel, Generic[T]):
    """One page of a list, and how many there are in all."""

    data: list[T]
    count: int


class Error(BaseModel):
    code: str = Field(examples=["not_found"])
    detail: str = Field(examples=["no stream item #12 for alice@example.org"])


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Error} for status in (401, 403, 404, 409, 422, 429)
}


class Me(BaseModel):
    id: int
    email: str
    display_name: str
    timezone: str
    is_operator: bool


class SharePreview(BaseModel):
    account_id: int
    network: Network
    handle: str
    text: str
    maximum: int


class StreamItemOut(BaseModel):
    id: int
    post_id: int
    title: str
    url: str
    summary: str
    author_name: str
    tribes: list[str] = Field(description="the tribes you share with the author, by slug")
    tribe_names: list[str] = Field(description="the same tribes, by name")
    published_at: datetime | None
    discovered_at: datetime
    shares: list[SharePreview]


class Approval(BaseModel):
    """Your own words per network; a network left out gets your template's text."""

    model_config = ConfigDict(extra="forbid")
    texts: dict[Network, Annotated[str, Field(min_length=1, max_length=5000)]] = {}


class QueuedOut(BaseModel):
    delivery_id: int
    network: Network
    handle: str
    due_at: datetime
    text: str
    reason: str


class DecisionOut(BaseModel):
    item_id: int
    state: str
    queued: list[QueuedOut]
    not_queued: list[str]
    repeated: bool


class DeliveryOut(BaseModel):
    """A delivery: `due_at`/`sent_at` are ISO 8601 (UTC), `due_local`/`sent_local` the same
    moments as you read them, in your time zone."""

    id: int
    account_id: int
    network: str
    handle: str
    title: str
    url: str
    text: str = Field(
        description="what goes (or went) out; a `repost` posts none of its own, and uses "
        "this text only when the author has no post of the article to repost"
    )
    kind: Literal["post", "repost", "announce"]
    state: str
    due_at: datetime
    due_local: str = Field(examples=["Mon 30 Nov, 14:05 CET"])
    reason: str
    remote_url: str | None = Field(description="the post on the network, when there is one")
    sent_at: datetime | None
    sent_local: str | None
    dry_run: bool = Field(description="logged by a dry run, never posted: 'dry run — not sent'")


class TextIn(BaseModel):
    """Your own words for a queued reshare; the link is added when left out. Never cut: a
    text longer than the account allows is refused (422) with its counted length."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=5000)


class Move(BaseModel):
    model_config = ConfigDict(extra="forbid")
    direction: Literal["up", "down"]


class FeedOut(BaseModel):
    id: int
    url: str
    title: str
    status: str
    last_outcome: str | None
    error: str | None
    warning: str | None
    last_polled_at: datetime | None
    next_poll_at: datetime | None


class NewFeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2048)


class FeedCheckOut(BaseModel):
    """What checking a feed now found; `message` says it in a line."""

    model_config = ConfigDict(from_attributes=True)
    feed_id: int
    outcome: PollOutcome
    new_posts: int
    announced: int
    tribemates: int = Field(description="how many tribemates each announced post reached")
    baseline: bool = Field(
        description="the feed's first successful poll: it records what is there and "
        "announces at most the newest post, if it is recent"
    )
    error: str | None
    message: str = Field(examples=["2 new posts, announced to 3 tribemates"])
    checked_at: datetime | None
    next_poll_at: datetime | None


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


class PauseIn(BaseModel):
    """Leave `account_id` out to pause or resume the whole queue."""

    model_config = ConfigDict(extra="forbid")
    account_id: BodyId | None = None


class TribeOut(BaseModel):
    slug: str
    name: str
    description: str
    is_open: bool
    chief_name: str
    members: int
    my_role: str | None


class MateOut(BaseModel):
    member_id: int
    name: str
    role: str
    muted: bool


def _fields(value: Any, model: type[BaseModel]) -> dict[str, Any]:
    return {name: getattr(value, name) for name in model.model_fields if hasattr(value, name)}


@router.get("/me", responses=ERROR_RESPONSES)
@router.get("/members/me", responses=ERROR_RESPONSES)
def me(viewer: ApiViewer) -> Me:
    """The member this token belongs to (at /me, or /members/me beside a tribe's members)."""
    return Me(**_fields(viewer, Me))


@router.get("/stream", responses=ERROR_RESPONSES)
def stream(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> Page[StreamItemOut]:
    """Pending stream items, newest first, with the text each account would post."""
    with read_scope() as session:
        entries = pending_stream(session, email=viewer.email, limit=limit, offset=offset)
        count = count_pending(session, email=viewer.email)
        shares = previews(session, email=viewer.email, item_ids=[e.item_id for e in entries])
    data = [
        StreamItemOut(
            id=e.item_id,
            post_id=e.post_id,
            title=e.title,
            url=e.url,
            summary=e.summary,
            author_name=e.author_name,
            tribes=list(e.tribes),
            tribe_names=list(e.tribe_names),
            published_at=e.published_at,
            discovered_at=e.discovered_at,
            shares=[SharePreview(**_fields(p, SharePreview)) for p in shares[e.item_id]],
        )
        for e in entries
    ]
    return Page(data=data, count=count)


def _decision(decision: Any) -> DecisionOut:
    return DecisionOut(
        item_id=decision.item_id,
        state=decision.state.value,
        queued=[QueuedOut(**_fields(q, QueuedOut)) for q in decision.queued],
        not_queued=list(decision.full),
        repeated=decision.repeated,
    )


@router.post("/stream/{item_id}/approve", responses=ERROR_RESPONSES)
def approve_item(viewer: ApiViewer, item_id: PathId, body: Approval | None = None) -> DecisionOut:
    """Approve an item: one delivery per active account at its next free time."""
    own = body.texts if body else {}
    with session_scope() as session:
        decision = approve(
            session, email=viewer.email, item_id=item_id, own=own, config=approval_config()
        )
    return _decision(decision)


@router.post("/stream/{item_id}/skip", responses=ERROR_RESPONSES)
def skip_item(viewer: ApiViewer, item_id: PathId) -> DecisionOut:
    with session_scope() as session:
        return _decision(skip(session, email=viewer.email, item_id=item_id))


@router.post("/stream/{item_id}/unskip", responses=ERROR_RESPONSES)
def unskip_item(viewer: ApiViewer, item_id: PathId) -> DecisionOut:
    """Undo a skip: the item is pending in your stream again. 409 when it was approved,
    is too old to come back or its author no longer shares a tribe with you; an item
    already pending answers `repeated`."""
    with session_scope() as session:
        decision = unskip(session, email=viewer.email, item_id=item_id, config=approval_config())
    return _decision(decision)


@router.get("/queue", responses=ERROR_RESPONSES)
def queue_list(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> Page[DeliveryOut]:
    """Upcoming deliveries by account, then due time."""
    with read_scope() as session:
        entries = queue.list_queue(session, email=viewer.email)
    data = [DeliveryOut(**_fields(e, DeliveryOut)) for e in entries[offset : offset + limit]]
    return Page(data=data, count=len(entries))


@router.get("/history", responses=ERROR_RESPONSES)
def history(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> Page[DeliveryOut]:
    """Sent, failed, unconfirmed and cancelled deliveries, newest first."""
    with read_scope() as session:
        entries = queue.history(session, email=viewer.email, limit=limit, offset=offset)
        count = queue.count_upcoming(session, email=viewer.email, states=queue.PAST)
    return Page(data=[DeliveryOut(**_fields(e, DeliveryOut)) for e in entries], count=count)


@router.post("/queue/{delivery_id}/move", responses=ERROR_RESPONSES)
def move(viewer: ApiViewer, delivery_id: PathId, body: Move) -> DeliveryOut:
    """Swap times with the previous (up) or next (down) delivery of the same account."""
    with session_scope() as session:
        entry = queue.move(
            session, email=viewer.email, delivery_id=delivery_id, direction=body.direction
        )
    return DeliveryOut(**_fields(entry, DeliveryOut))


@router.post("/queue/{delivery_id}/text", responses=ERROR_RESPONSES)
def edit_text(viewer: ApiViewer, delivery_id: PathId, body: TextIn) -> DeliveryOut:
    """Change a queued (or held) reshare's text; 409 for a repost (it has no text of its
    own) or a delivery no longer waiting."""
    with session_scope() as session:
        entry = queue.edit_text(
            session, email=viewer.email, delivery_id=delivery_id, text=body.text
        )
    return DeliveryOut(**_fields(entry, DeliveryOut))


@router.post("/queue/{delivery_id}/next", responses=ERROR_RESPONSES)
def send_next(viewer: ApiViewer, delivery_id: PathId) -> DeliveryOut:
    """Move a queued reshare to its account's next allowed time (daily cap, gaps and the
    stagger from tribemates sharing the same post still hold); 409, saying why, when it
    cannot go earlier."""
    with session_scope() as session:
        entry = queue.send_next(
            session, email=viewer.email, delivery_id=delivery_id, config=approval_config()
        )
    return DeliveryOut(**_fields(entry, DeliveryOut))


@router.post("/queue/{delivery_id}/cancel", status_code=204, responses=ERROR_RESPONSES)
def cancel(viewer: ApiViewer, delivery_id: PathId) -> Response:
    with session_scope() as session:
        queue.cancel(session, email=viewer.email, delivery_id=delivery_id)
    return Response(status_code=204)


def _feed(info: Any) -> FeedOut:
    values = _fields(info, FeedOut)
    values["status"] = info.status.value
    values["last_outcome"] = info.last_outcome.value if info.last_outcome else None
    return FeedOut(**values)


@router.get("/feeds", responses=ERROR_RESPONSES)
def feeds(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> Page[FeedOut]:
    """Your feeds with how polling goes."""
    with read_scope() as session:
        found = list_feeds(session, owner_email=viewer.email)
    return Page(data=[_feed(f) for f in found[offset : offset + limit]], count=len(found))


@router.post("/feeds", status_code=201, responses=ERROR_RESPONSES)
def add(viewer: ApiViewer, out: OutboundDep, body: NewFeed) -> FeedOut:
    """Add a feed; it is fetched once first, and refused with the reason if it is not a feed.

    At most `TRIBE_WEB_CALLS_PER_MEMBER` such checks of yours run at once (429 beyond)."""
    with out.calls.slot(viewer.id):
        added = add_feed(
            email=viewer.email, url=body.url, fetcher=out.fetcher, config=poll_config()
        )
    return _feed(added.info)


@router.delete("/feeds/{feed_id}", status_code=204, responses=ERROR_RESPONSES)
def remove(viewer: ApiViewer, feed_id: PathId) -> Response:
    """Stop polling a feed; what it brought in stays."""
    with session_scope() as session:
        remove_feed(session, email=viewer.email, feed_id=feed_id)
    return Response(status_code=204)


@router.post("/feeds/{feed_id}/check", responses=ERROR_RESPONSES)
def check_feed(viewer: ApiViewer, out: OutboundDep, feed_id: PathId) -> FeedCheckOut:
    """Poll one of your feeds now, as the workers would (conditional GET, new posts
    announced to your tribemates). A feed is fetched at most once a minute: sooner, or
    while it is being polled, or while tribe reads its server as much as it politely may,
    the answer is 429 with Retry-After and nothing is fetched."""
    with out.calls.slot(viewer.id):
        result = check_now(
            feed_id=feed_id, member_id=viewer.id, any_owner=False, fetcher=out.fetcher,
            config=poll_config(),
        )  # fmt: skip
    return FeedCheckOut.model_validate(result)


@router.get("/accounts", responses=ERROR_RESPONSES)
def accounts(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> Page[AccountOut]:
    with read_scope() as session:
        found = list_accounts(session, email=viewer.email)
    return Page(
        data=[AccountOut(**_fields(a, AccountOut)) for a in found[offset : offset + limit]],
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


@router.post("/queue/pause", status_code=204, responses=ERROR_RESPONSES)
def pause(viewer: ApiViewer, body: PauseIn | None = None) -> Response:
    """Send nothing until resumed: the whole queue, or one account."""
    with session_scope() as session:
        queue.pause(session, email=viewer.email, account_id=body.account_id if body else None)
    return Response(status_code=204)


@router.post("/queue/resume", status_code=204, responses=ERROR_RESPONSES)
def resume(viewer: ApiViewer, body: PauseIn | None = None) -> Response:
    """Send again; what fell due meanwhile gets new times, so nothing goes out in a burst."""
    with session_scope() as session:
        queue.resume(
            session, email=viewer.email, config=approval_config(),
            account_id=body.account_id if body else None,
        )  # fmt: skip
    return Response(status_code=204)


def _tribe(info: Any) -> TribeOut:
    values = _fields(info, TribeOut)
    values["my_role"] = info.my_role.value if info.my_role else None
    return TribeOut(**values)


@router.get("/tribes", responses=ERROR_RESPONSES)
def tribe_list(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> Page[TribeOut]:
    """Your tribes (the operator: every tribe)."""
    with read_scope() as session:
        found = tribes.my_tribes(session, email=viewer.email)
    return Page(data=[_tribe(t) for t in found[offset : offset + limit]], count=len(found))


@router.get("/tribes/{slug}", responses=ERROR_RESPONSES)
def tribe(viewer: ApiViewer, slug: Slug) -> TribeOut:
    with read_scope() as session:
        return _tribe(tribes.tribe_info(session, email=viewer.email, slug=slug))


@router.get("/tribes/{slug}/members", responses=ERROR_RESPONSES)
def tribe_members(
    viewer: ApiViewer, slug: Slug, limit: Limit = 50, offset: Offset = 0
) -> Page[MateOut]:
    with read_scope() as session:
        found = tribes.mates(session, email=viewer.email, slug=slug)
    data = [
        MateOut(member_id=m.member_id, name=m.name, role=m.role.value, muted=m.muted)
        for m in found[offset : offset + limit]
    ]
    return Page(data=data, count=len(found))
