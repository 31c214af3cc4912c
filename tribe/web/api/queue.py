"""The member's queue and history: move, edit, send next, cancel, pause and resume."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import Field

from tribe.delivery import changes, queue
from tribe.infra.db import read_scope, session_scope
from tribe.web.api.common import ERROR_RESPONSES, Input, Limit, Offset, Page, Public
from tribe.web.config import WebConfigDep
from tribe.web.deps import ApiViewer, me
from tribe.web.params import BodyId, PathId

router = APIRouter()


class DeliveryPublic(Public):
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


class DeliveryTextUpdate(Input):
    """Your own words for a queued reshare; the link is added when left out. Never cut: a
    text longer than the account allows is refused (422) with its counted length."""

    text: str = Field(min_length=1, max_length=5000)


class DeliveryMove(Input):
    direction: Literal["up", "down"]


class QueuePause(Input):
    """Leave `account_id` out to pause or resume the whole queue."""

    account_id: BodyId | None = None


DeliveriesPublic = Page[DeliveryPublic]


@router.get("/queue", responses=ERROR_RESPONSES)
def queue_list(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> DeliveriesPublic:
    """Upcoming deliveries by account, then due time."""
    with read_scope() as session:
        member = me(session, viewer)
        entries = queue.list_queue(session, member=member, limit=limit, offset=offset)
        count = queue.count_upcoming(session, member=member)
    data = [DeliveryPublic.model_validate(e) for e in entries]
    return DeliveriesPublic(data=data, count=count)


@router.get("/history", responses=ERROR_RESPONSES)
def history(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> DeliveriesPublic:
    """Sent, failed, unconfirmed and cancelled deliveries, newest first."""
    with read_scope() as session:
        member = me(session, viewer)
        entries = queue.history(session, member=member, limit=limit, offset=offset)
        count = queue.count_upcoming(session, member=member, states=queue.PAST)
    return DeliveriesPublic(data=[DeliveryPublic.model_validate(e) for e in entries], count=count)


@router.post("/queue/{delivery_id}/move", responses=ERROR_RESPONSES)
def move(viewer: ApiViewer, delivery_id: PathId, body: DeliveryMove) -> DeliveryPublic:
    """Swap times with the previous (up) or next (down) delivery of the same account."""
    with session_scope() as session:
        entry = changes.move(
            session, member=me(session, viewer), delivery_id=delivery_id, direction=body.direction
        )
    return DeliveryPublic.model_validate(entry)


@router.post("/queue/{delivery_id}/text", responses=ERROR_RESPONSES)
def edit_text(viewer: ApiViewer, delivery_id: PathId, body: DeliveryTextUpdate) -> DeliveryPublic:
    """Change a queued (or held) reshare's text; 409 for a repost (it has no text of its
    own) or a delivery no longer waiting."""
    with session_scope() as session:
        entry = changes.edit_text(
            session, member=me(session, viewer), delivery_id=delivery_id, text=body.text
        )
    return DeliveryPublic.model_validate(entry)


@router.post("/queue/{delivery_id}/next", responses=ERROR_RESPONSES)
def send_next(viewer: ApiViewer, config: WebConfigDep, delivery_id: PathId) -> DeliveryPublic:
    """Move a queued reshare to its account's next allowed time (daily cap, gaps and the
    stagger from tribemates sharing the same post still hold); 409, saying why, when it
    cannot go earlier."""
    with session_scope() as session:
        entry = changes.send_next(
            session, member=me(session, viewer), delivery_id=delivery_id, config=config.approvals
        )
    return DeliveryPublic.model_validate(entry)


@router.post("/queue/{delivery_id}/cancel", status_code=204, responses=ERROR_RESPONSES)
def cancel(viewer: ApiViewer, delivery_id: PathId) -> Response:
    with session_scope() as session:
        changes.cancel(session, member=me(session, viewer), delivery_id=delivery_id)
    return Response(status_code=204)


@router.post("/queue/pause", status_code=204, responses=ERROR_RESPONSES)
def pause(viewer: ApiViewer, body: QueuePause | None = None) -> Response:
    """Send nothing until resumed: the whole queue, or one account."""
    with session_scope() as session:
        changes.pause(
            session, member=me(session, viewer), account_id=body.account_id if body else None
        )
    return Response(status_code=204)


@router.post("/queue/resume", status_code=204, responses=ERROR_RESPONSES)
def resume(viewer: ApiViewer, config: WebConfigDep, body: QueuePause | None = None) -> Response:
    """Send again; what fell due meanwhile gets new times, so nothing goes out in a burst."""
    with session_scope() as session:
        changes.resume(
            session,
            member=me(session, viewer),
            config=config.approvals,
            account_id=body.account_id if body else None,
        )
    return Response(status_code=204)
