"""Who the token belongs to."""

from __future__ import annotations

from fastapi import APIRouter

from tribe.web.api.common import ERROR_RESPONSES, Public
from tribe.web.deps import ApiViewer

router = APIRouter()


class MemberPublic(Public):
    # A member as they see themselves.
    id: int
    email: str
    display_name: str
    timezone: str
    is_operator: bool


@router.get("/me", responses=ERROR_RESPONSES)
@router.get("/members/me", responses=ERROR_RESPONSES)
def me(viewer: ApiViewer) -> MemberPublic:
    """The member this token belongs to (at /me, or /members/me beside a tribe's members)."""
    return MemberPublic.model_validate(viewer)
