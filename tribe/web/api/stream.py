"""The member's stream: list, approve, skip, undo a skip."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tribe.core.kinds import Network
from tribe.infra.db import read_scope, session_scope
from tribe.stream.approvals import (
    approval_config,
    approve,
    previews,
    skip,
    unskip,
)
from tribe.stream.items import count_pending, pending_stream
from tribe.web.api.common import ERROR_RESPONSES, Limit, Offset, Page, fields_of
from tribe.web.deps import ApiViewer
from tribe.web.params import PathId

router = APIRouter()


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
            shares=[SharePreview(**fields_of(p, SharePreview)) for p in shares[e.item_id]],
        )
        for e in entries
    ]
    return Page(data=data, count=count)


def _decision(decision: Any) -> DecisionOut:
    return DecisionOut(
        item_id=decision.item_id,
        state=decision.state.value,
        queued=[QueuedOut(**fields_of(q, QueuedOut)) for q in decision.queued],
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
