"""Who shares whom: a tribe's reciprocity, and who shared my posts. Counts only: no
route here shows anyone's queue texts, nor a tribemate's email."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from tribe.alliance import reciprocity, shared
from tribe.alliance.counting import DEFAULT_DAYS, MAX_DAYS
from tribe.infra.db import read_scope
from tribe.web.api.common import ERROR_RESPONSES, Limit, Offset, Page, Public, Slug
from tribe.web.deps import ApiViewer, me

router = APIRouter()

Days = Annotated[
    int,
    Query(ge=1, le=MAX_DAYS, description="the window: the days before now (7, 30, 90, 365 …)"),
]


class TallyPublic(Public):
    # From `counting.Tally`.
    sent: int = Field(description="reshares that went out for real")
    dry_run: int = Field(description="reshares a dry run logged, never posted (no reach)")
    pending: int = Field(description="items waiting for the sharer's decision")
    skipped: int
    expired: int
    reach: int = Field(description="followers reached by the sent reshares whose reach is known")
    reach_unknown: int = Field(description="sent reshares whose account's followers are unknown")


class ReachPublic(Public):
    # From `reach.Reach`.
    followers: int = Field(description="summed over the accounts whose count is known")
    accounts: int
    unknown: int = Field(description="accounts counted with no follower count")
    complete: bool


class PairPublic(TallyPublic):
    # From `reciprocity.PairRow`: one ordered pair, sharer → author.
    sharer_id: int
    sharer: str = Field(description="the sharer's name")
    sharer_left: bool
    author_id: int
    author: str = Field(description="the author's name")
    author_left: bool


class MemberTotalsPublic(Public):
    # From `reciprocity.MemberTotals`.
    member_id: int
    name: str
    left: bool = Field(description="no longer in the tribe; their history stays")
    given: TallyPublic
    received: TallyPublic


class TrendPointPublic(Public):
    # From `reciprocity.TrendPoint`: whole UTC days.
    start: date
    days: int
    sent: int
    reach: int


class ReciprocityPublic(Public):
    # From `reciprocity.TribeReciprocity`.
    slug: str
    name: str
    days: int
    since: datetime
    until: datetime
    reach: ReachPublic = Field(description="the tribe's reach now")
    total: TallyPublic
    members: list[MemberTotalsPublic]
    pairs: list[PairPublic] = Field(
        validation_alias="rows", description="every ordered pair with a number, sharer → author"
    )
    trend: list[TrendPointPublic]


class SharedByPublic(Public):
    # From `shared.SharedBy`.
    delivery_id: int
    sharer_id: int
    sharer_name: str
    network: str
    handle: str
    kind: Literal["post", "repost"]
    sent_at: datetime
    sent_local: str = Field(examples=["Mon 30 Nov, 14:05 CET"])
    dry_run: bool
    remote_url: str | None = Field(description="the reshare on its network (none for a dry run)")
    followers: int | None = Field(description="the account's followers then; null: unknown")


class SharedPostPublic(Public):
    # From `shared.SharedPost`.
    post_id: int
    title: str
    url: str
    published_at: datetime | None
    discovered_at: datetime
    sent: int
    dry_run: int
    reach: int = Field(description="followers reached through the tribe, in total")
    reach_unknown: int
    reshares: list[SharedByPublic]


SharedPostsPublic = Page[SharedPostPublic]


@router.get("/tribes/{slug}/reciprocity", responses=ERROR_RESPONSES)
def tribe_reciprocity(
    viewer: ApiViewer, slug: Slug, days: Days = DEFAULT_DAYS
) -> ReciprocityPublic:
    """Who shares whom in one of your tribes over the last `days`: every ordered pair's
    reshares sent (and pending, skipped, expired), the reach they gave, each member's
    given and received, the trend, and the tribe's reach."""
    with read_scope() as session:
        numbers = reciprocity.reciprocity_for(
            session, member=me(session, viewer), slug=slug, days=days
        )
    return ReciprocityPublic.model_validate(numbers)


@router.get("/me/shared", responses=ERROR_RESPONSES)
def my_shared_posts(
    viewer: ApiViewer, days: Days = DEFAULT_DAYS, limit: Limit = 50, offset: Offset = 0
) -> SharedPostsPublic:
    """Your posts that reached tribemates in the last `days`, newest first, each with who
    shared it, where and when, and the reach it got."""
    now = datetime.now(UTC)  # one window for the page and its count
    with read_scope() as session:
        member = me(session, viewer)
        posts = shared.shared_posts(
            session, author=member, days=days, now=now, limit=limit, offset=offset
        )
        count = shared.count_shared_posts(session, author=member, days=days, now=now)
    return SharedPostsPublic(data=[SharedPostPublic.model_validate(p) for p in posts], count=count)
