"""The member's tribes and who is in them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from tribe.infra.db import read_scope
from tribe.members import tribes
from tribe.web.api.common import ERROR_RESPONSES, Limit, Offset, Page, Slug, fields_of
from tribe.web.deps import ApiViewer

router = APIRouter()


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


def _tribe(info: Any) -> TribeOut:
    values = fields_of(info, TribeOut)
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
