"""The member's own settings: personal API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from tribe.infra.db import read_scope, session_scope
from tribe.members import auth
from tribe.web.deps import PageViewer, me, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()


@router.get("/settings")
def settings_page(request: Request, viewer: PageViewer) -> Response:
    with read_scope() as session:
        tokens = auth.list_tokens(session, member=me(session, viewer))
    return render(request, "settings.html", tokens=tokens)


@router.post("/settings/tokens")
def new_token(
    request: Request, viewer: PageViewer, name: Annotated[str, Form(max_length=200)]
) -> Response:
    with session_scope() as session:
        member = me(session, viewer)
        info, secret = auth.create_token(session, member=member, name=name)
        tokens = auth.list_tokens(session, member=member)
    # Shown once, on this response only; never stored, never shown again.
    return render(request, "settings.html", tokens=tokens, new_token=secret, new_name=info.name)


@router.post("/settings/tokens/{token_id}/revoke")
def revoke(viewer: PageViewer, token_id: PathId) -> Response:
    with session_scope() as session:
        auth.revoke_token(session, member=me(session, viewer), token_id=token_id)
    return redirect("/settings", done="token revoked: scripts using it are refused from now on")
