"""The member's feeds: list, add, check now, remove."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import Field

from tribe.core.kinds import PollOutcome
from tribe.infra.db import read_scope, session_scope
from tribe.ingest.check import check_now
from tribe.ingest.feeds import add_feed, count_feeds, list_feeds, remove_feed
from tribe.web.api.common import ERROR_RESPONSES, Input, Limit, Offset, Page, Public
from tribe.web.config import WebConfigDep
from tribe.web.deps import ApiViewer, OutboundDep, me
from tribe.web.params import PathId

router = APIRouter()


class FeedPublic(Public):
    # From `feeds.FeedInfo`.
    id: int
    url: str
    title: str
    status: str
    last_outcome: str | None
    error: str | None
    warning: str | None
    last_polled_at: datetime | None
    next_poll_at: datetime | None


class FeedCreate(Input):
    url: str = Field(min_length=1, max_length=2048)


class FeedCheckPublic(Public):
    """What checking a feed now found; `message` says it in a line."""

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


FeedsPublic = Page[FeedPublic]


@router.get("/feeds", responses=ERROR_RESPONSES)
def feeds(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> FeedsPublic:
    """Your feeds with how polling goes."""
    with read_scope() as session:
        member = me(session, viewer)
        found = list_feeds(session, owner=member, limit=limit, offset=offset)
        count = count_feeds(session, owner=member)
    return FeedsPublic(data=[FeedPublic.model_validate(f) for f in found], count=count)


@router.post("/feeds", status_code=201, responses=ERROR_RESPONSES)
def add(viewer: ApiViewer, config: WebConfigDep, out: OutboundDep, body: FeedCreate) -> FeedPublic:
    """Add a feed; it is fetched once first, and refused with the reason if it is not a feed.

    At most `TRIBE_WEB_CALLS_PER_MEMBER` such checks of yours run at once (429 beyond)."""
    with out.calls.slot(viewer.id):
        added = add_feed(
            owner_id=viewer.id, url=body.url, fetcher=out.fetcher, config=config.polling
        )
    return FeedPublic.model_validate(added.info)


@router.delete("/feeds/{feed_id}", status_code=204, responses=ERROR_RESPONSES)
def remove(viewer: ApiViewer, feed_id: PathId) -> Response:
    """Stop polling a feed; what it brought in stays."""
    with session_scope() as session:
        remove_feed(session, member=me(session, viewer), feed_id=feed_id)
    return Response(status_code=204)


@router.post("/feeds/{feed_id}/check", responses=ERROR_RESPONSES)
def check_feed(
    viewer: ApiViewer, config: WebConfigDep, out: OutboundDep, feed_id: PathId
) -> FeedCheckPublic:
    """Poll one of your feeds now, as the workers would (conditional GET, new posts
    announced to your tribemates). A feed is fetched at most once a minute: sooner, or
    while it is being polled, or while tribe reads its server as much as it politely may,
    the answer is 429 with Retry-After and nothing is fetched."""
    with out.calls.slot(viewer.id):
        result = check_now(
            feed_id=feed_id,
            member_id=viewer.id,
            any_owner=False,
            fetcher=out.fetcher,
            config=config.polling,
        )
    return FeedCheckPublic.model_validate(result)
