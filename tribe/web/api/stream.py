"""The member's stream: list, approve, skip, undo a skip."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from tribe.core.kinds import Network
from tribe.infra.db import read_scope, session_scope
from tribe.stream.approvals import approve, skip, unskip
from tribe.stream.items import StreamEntry, count_pending, pending_stream
from tribe.stream.texts import Preview, previews
from tribe.web.api.common import ERROR_RESPONSES, Input, Limit, Offset, Page, Public
from tribe.web.config import WebConfigDep
from tribe.web.deps import ApiViewer, me
from tribe.web.params import PathId

router = APIRouter()


class SharePreviewPublic(Public):
    # From `approvals.Preview`: what one account would post for the item.
    account_id: int
    network: Network
    handle: str
    text: str
    maximum: int


class StreamItemBase(Public):
    # From `items.StreamEntry`: the item as the stream lists it.
    id: int = Field(validation_alias="item_id")
    post_id: int
    title: str
    url: str
    summary: str
    author_name: str
    tribes: list[str] = Field(description="the tribes you share with the author, by slug")
    tribe_names: list[str] = Field(description="the same tribes, by name")
    published_at: datetime | None
    discovered_at: datetime


class StreamItemPublic(StreamItemBase):
    shares: list[SharePreviewPublic]

    @classmethod
    def of(cls, entry: StreamEntry, shares: Sequence[Preview]) -> StreamItemPublic:
        """The entry with the text each of the member's accounts would post for it."""
        item = StreamItemBase.model_validate(entry)
        return cls(**dict(item), shares=[SharePreviewPublic.model_validate(p) for p in shares])


class ApprovalCreate(Input):
    """Your own words per network; a network left out gets your template's text."""

    texts: dict[Network, Annotated[str, Field(min_length=1, max_length=5000)]] = {}  # noqa: RUF012


class QueuedPublic(Public):
    # From `approvals.Queued`: a delivery the decision placed (or found there).
    delivery_id: int
    network: Network
    handle: str
    due_at: datetime
    text: str
    reason: str


class DecisionPublic(Public):
    # From `approvals.Decision`.
    item_id: int
    state: str
    queued: list[QueuedPublic]
    not_queued: list[str] = Field(validation_alias="full")
    repeated: bool


StreamItemsPublic = Page[StreamItemPublic]


@router.get("/stream", responses=ERROR_RESPONSES)
def stream(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> StreamItemsPublic:
    """Pending stream items, newest first, with the text each account would post."""
    with read_scope() as session:
        member = me(session, viewer)
        entries = pending_stream(session, member=member, limit=limit, offset=offset)
        count = count_pending(session, member=member)
        shares = previews(session, member=member, item_ids=[e.item_id for e in entries])
    data = [StreamItemPublic.of(e, shares[e.item_id]) for e in entries]
    return StreamItemsPublic(data=data, count=count)


@router.post("/stream/{item_id}/approve", responses=ERROR_RESPONSES)
def approve_item(
    viewer: ApiViewer, config: WebConfigDep, item_id: PathId, body: ApprovalCreate | None = None
) -> DecisionPublic:
    """Approve an item: one delivery per active account at its next free time."""
    own = body.texts if body else {}
    with session_scope() as session:
        decision = approve(
            session, member=me(session, viewer), item_id=item_id, own=own, config=config.approvals
        )
    return DecisionPublic.model_validate(decision)


@router.post("/stream/{item_id}/skip", responses=ERROR_RESPONSES)
def skip_item(viewer: ApiViewer, item_id: PathId) -> DecisionPublic:
    with session_scope() as session:
        decision = skip(session, member=me(session, viewer), item_id=item_id)
    return DecisionPublic.model_validate(decision)


@router.post("/stream/{item_id}/unskip", responses=ERROR_RESPONSES)
def unskip_item(viewer: ApiViewer, config: WebConfigDep, item_id: PathId) -> DecisionPublic:
    """Undo a skip: the item is pending in your stream again. 409 when it was approved,
    is too old to come back or its author no longer shares a tribe with you; an item
    already pending answers `repeated`."""
    with session_scope() as session:
        decision = unskip(
            session, member=me(session, viewer), item_id=item_id, config=config.approvals
        )
    return DecisionPublic.model_validate(decision)
