"""The member's feeds: list, add, check now, remove."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from tribe.core.kinds import PollOutcome
from tribe.infra.db import read_scope, session_scope
from tribe.ingest import poll_config
from tribe.ingest.check import check_now
from tribe.ingest.feeds import add_feed, list_feeds, remove_feed
from tribe.web.api.common import ERROR_RESPONSES, Limit, Offset, Page, fields_of
from tribe.web.deps import ApiViewer, OutboundDep
from tribe.web.params import PathId

router = APIRouter()


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


def _feed(info: Any) -> FeedOut:
    values = fields_of(info, FeedOut)
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
