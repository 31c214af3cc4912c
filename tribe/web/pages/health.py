"""The chief's health panel of a tribe, and the nudge it sends (`tribe.alliance.health`,
`tribe.alliance.herding`). Only the tribe's chief has the page: to anyone else it does
not exist (404)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from tribe.alliance.health import RULES, panel_tribe, tribe_health
from tribe.alliance.herding import MESSAGE_MOST, NUDGE_EVERY, nudge, nudge_cards
from tribe.core.errors import NotFoundError
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Member
from tribe.web.config import WebConfigDep
from tribe.web.deps import PageViewer, me, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()


@router.get("/tribes/{slug}/health")
def health_page(request: Request, viewer: PageViewer, slug: str) -> Response:
    now = datetime.now(UTC)
    with read_scope() as session:
        chief = me(session, viewer)
        tribe = panel_tribe(session, member=chief, slug=slug)
        health = tribe_health(session, tribe, now=now)
        cards = nudge_cards(session, health, chief, now=now)
    return render(
        request,
        "health.html",
        health=health,
        cards=cards,
        rules=RULES,
        message_most=MESSAGE_MOST,
        nudge_days=NUDGE_EVERY.days,
    )


@router.post("/tribes/{slug}/health/nudge/{member_id}")
def send_nudge(
    viewer: PageViewer,
    config: WebConfigDep,
    slug: str,
    member_id: PathId,
    message: Annotated[str, Form(max_length=MESSAGE_MOST * 2)],
) -> Response:
    with session_scope() as session:
        chief = me(session, viewer)
        tribe = panel_tribe(session, member=chief, slug=slug)
        member = session.get(Member, member_id)
        if member is None:
            raise NotFoundError(f"no member #{member_id} in {slug}")
        nudge(
            session,
            tribe,
            chief,
            member,
            message=message,
            now=datetime.now(UTC),
            sender=config.outbox.sender,
            base_url=config.base_url,
        )
        name = member.display_name
    return redirect(
        f"/tribes/{slug}/health",
        done=f"your note to {name} is on its way; the next nudge to them can go in a week",
    )
