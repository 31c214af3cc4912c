"""Getting started: the loop a newcomer walks, each step ticked when it is done."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tribe.infra.db import read_scope
from tribe.members import tribes
from tribe.members.onboarding import first_steps
from tribe.web.config import WebConfigDep
from tribe.web.deps import PageViewer, keyring, me, render

router = APIRouter()


@router.get("/welcome")
def welcome_page(request: Request, viewer: PageViewer, config: WebConfigDep) -> Response:
    with read_scope() as session:
        member = me(session, viewer)
        steps = first_steps(session, member)
        invite = (
            tribes.invite(
                session, member=member, slug=steps.tribe_slug, keys=keyring(), ttl=config.invite_ttl
            )
            if steps.tribe_slug
            else None
        )
    link = f"{config.base_url}/join/{invite.token}" if invite else None
    return render(request, "welcome.html", steps=steps, invite_link=link)
