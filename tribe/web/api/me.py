"""Who the token belongs to."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from tribe.web.api.common import ERROR_RESPONSES, fields_of
from tribe.web.deps import ApiViewer

router = APIRouter()


class Me(BaseModel):
    id: int
    email: str
    display_name: str
    timezone: str
    is_operator: bool


@router.get("/me", responses=ERROR_RESPONSES)
@router.get("/members/me", responses=ERROR_RESPONSES)
def me(viewer: ApiViewer) -> Me:
    """The member this token belongs to (at /me, or /members/me beside a tribe's members)."""
    return Me(**fields_of(viewer, Me))
