"""The member's social accounts: their state, how they reshare, disconnecting."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response

from tribe.accounts import list_accounts, set_sharing
from tribe.connect import disconnect
from tribe.db import read_scope, session_scope
from tribe.web.deps import PageViewer, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()


@router.get("/accounts")
def accounts_page(request: Request, viewer: PageViewer) -> Response:
    with read_scope() as session:
        accounts = list_accounts(session, email=viewer.email)
    return render(request, "accounts.html", accounts=accounts)


@router.post("/accounts/{account_id}/sharing")
def sharing(
    viewer: PageViewer, account_id: PathId,
    reshare: Annotated[Literal["post", "repost"], Form()],
    announce: Annotated[bool, Form()] = False,
) -> Response:  # fmt: skip
    with session_scope() as session:
        info = set_sharing(
            session, email=viewer.email, account_id=account_id, reshare=reshare,
            announce_own=announce,
        )  # fmt: skip
    return redirect("/accounts", done=f"{info.network.value} {info.handle}: {info.reshare}")


@router.post("/accounts/{account_id}/disconnect")
def disconnect_account(viewer: PageViewer, account_id: PathId) -> Response:
    with session_scope() as session:
        info = disconnect(session, email=viewer.email, account_id=account_id)
    return redirect("/accounts", done=f"disconnected {info.handle}; its queued reshares are held")
