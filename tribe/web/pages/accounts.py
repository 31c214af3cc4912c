"""The member's social accounts: their state, how they reshare, disconnecting."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response

from tribe.core.errors import NotFoundError
from tribe.core.kinds import Network
from tribe.infra.db import read_scope, session_scope
from tribe.members.accounts import add_account, list_accounts, set_sharing
from tribe.networks.connect import disconnect
from tribe.web.config import WebConfigDep
from tribe.web.deps import PageViewer, me, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()


@router.get("/accounts")
def accounts_page(request: Request, viewer: PageViewer) -> Response:
    with read_scope() as session:
        accounts = list_accounts(session, member=me(session, viewer))
    return render(request, "accounts.html", accounts=accounts)


@router.post("/accounts/practice")
def practice(
    viewer: PageViewer,
    config: WebConfigDep,
    network: Annotated[Network, Form()],
    handle: Annotated[str, Form(max_length=253)],
) -> Response:
    """In dry run, an account by its handle alone (what `tribe account add` does): the
    whole loop can be practised before any app is registered. Nothing is ever posted
    for it; connecting it for real later keeps its queue."""
    if not config.dry_run:
        raise NotFoundError("practice accounts exist only in dry run")
    with session_scope() as session:
        info = add_account(
            session, member=me(session, viewer), network=network.value, handle=handle
        )
    return redirect("/accounts", done=f"practice account {info.network.value} {info.handle} added")


@router.post("/accounts/{account_id}/sharing")
def sharing(
    viewer: PageViewer,
    account_id: PathId,
    reshare: Annotated[Literal["post", "repost"], Form()],
    announce: Annotated[bool, Form()] = False,
) -> Response:
    with session_scope() as session:
        info = set_sharing(
            session,
            member=me(session, viewer),
            account_id=account_id,
            reshare=reshare,
            announce_own=announce,
        )
    return redirect("/accounts", done=f"{info.network.value} {info.handle}: {info.reshare}")


@router.post("/accounts/{account_id}/disconnect")
def disconnect_account(viewer: PageViewer, account_id: PathId) -> Response:
    with session_scope() as session:
        info = disconnect(session, member=me(session, viewer), account_id=account_id)
    return redirect("/accounts", done=f"disconnected {info.handle}; its queued reshares are held")
