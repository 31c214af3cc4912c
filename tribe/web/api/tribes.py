"""The member's tribes and who is in them."""

from __future__ import annotations

from fastapi import APIRouter

from tribe.infra.db import read_scope
from tribe.members import tribes
from tribe.web.api.common import ERROR_RESPONSES, Limit, Offset, Page, Public, Slug
from tribe.web.deps import ApiViewer, me

router = APIRouter()


class TribePublic(Public):
    # From `tribes.TribeInfo`.
    slug: str
    name: str
    description: str
    is_open: bool
    chief_name: str
    members: int
    my_role: str | None


class MatePublic(Public):
    # From `tribes.Mate`: a member of a tribe, as a tribemate sees them.
    member_id: int
    name: str
    role: str
    muted: bool


TribesPublic = Page[TribePublic]
MatesPublic = Page[MatePublic]


@router.get("/tribes", responses=ERROR_RESPONSES)
def tribe_list(viewer: ApiViewer, limit: Limit = 50, offset: Offset = 0) -> TribesPublic:
    """Your tribes (the operator: every tribe)."""
    with read_scope() as session:
        member = me(session, viewer)
        found = tribes.my_tribes(session, member=member, limit=limit, offset=offset)
        count = tribes.count_my_tribes(session, member=member)
    return TribesPublic(data=[TribePublic.model_validate(t) for t in found], count=count)


@router.get("/tribes/{slug}", responses=ERROR_RESPONSES)
def tribe(viewer: ApiViewer, slug: Slug) -> TribePublic:
    with read_scope() as session:
        info = tribes.tribe_info(session, member=me(session, viewer), slug=slug)
    return TribePublic.model_validate(info)


@router.get("/tribes/{slug}/members", responses=ERROR_RESPONSES)
def tribe_members(
    viewer: ApiViewer, slug: Slug, limit: Limit = 50, offset: Offset = 0
) -> MatesPublic:
    with read_scope() as session:
        member = me(session, viewer)
        found = tribes.mates(session, member=member, slug=slug, limit=limit, offset=offset)
        count = tribes.count_mates(session, member=member, slug=slug)
    return MatesPublic(data=[MatePublic.model_validate(m) for m in found], count=count)
