"""Getting started: the loop a newcomer walks, each step ticked when it is done."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tribe.infra.db import read_scope
from tribe.members import tribes
from tribe.members.onboarding import first_steps
from tribe.members.people import get_member
from tribe.web.deps import PageViewer, SettingsDep, keyring, render

router = APIRouter()


@router.get("/welcome")
def welcome_page(request: Request, viewer: PageViewer, settings: SettingsDep) -> Response:
    with read_scope() as session:
        steps = first_steps(session, get_member(session, viewer.email))
        invite = (
            tribes.invite(
                session,
                email=viewer.email,
                slug=steps.tribe_slug,
                keys=keyring(),
                ttl=settings.TRIBE_INVITE_TTL,
            )
            if steps.tribe_slug
            else None
        )
    link = f"{settings.TRIBE_BASE_URL}/join/{invite.token}" if invite else None
    return render(request, "welcome.html", steps=steps, invite_link=link)
