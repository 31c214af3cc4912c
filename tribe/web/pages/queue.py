"""The queue and the history: what will go out where and when, and what went out.

The queue's actions on one delivery (move, send next, edit its text, cancel) answer a
form with a redirect back to it, and the page's script (queue.js, header
`X-Tribe-Inplace: 1`) with the account's part of the page, re-rendered in place.
"""

from __future__ import annotations

from itertools import groupby
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request, Response

from tribe.delivery import changes, queue
from tribe.infra.db import MAX_ID, read_scope, session_scope
from tribe.members.accounts import list_accounts
from tribe.web.config import WebConfigDep, web_config
from tribe.web.deps import PageViewer, Viewer, csrf_token_for, inplace, me, render, templates
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()
PAGE = 50
MAX_TEXT = 5000


@router.get("/queue")
def queue_page(request: Request, viewer: PageViewer) -> Response:
    with read_scope() as session:
        member = me(session, viewer)
        entries = queue.list_queue(session, member=member)
        accounts = list_accounts(session, member=member)
        paused = any(a.paused for a in accounts) and all(a.paused for a in accounts)
    by_account = {key: list(group) for key, group in groupby(entries, key=lambda e: e.account_id)}
    return render(
        request, "queue.html", accounts=accounts, by_account=by_account, all_paused=paused
    )


def _done(request: Request, viewer: Viewer, entry: queue.QueueEntry, message: str) -> Response:
    """In place: the account's queue as it is now, with `message`; else back to the page."""
    if not inplace(request):
        return redirect(f"/queue#delivery-{entry.id}", done=message)
    with read_scope() as session:
        member = me(session, viewer)
        (account,) = [a for a in list_accounts(session, member=member) if a.id == entry.account_id]
        entries = queue.list_queue(session, member=member, account_id=entry.account_id)
        upcoming = queue.count_upcoming(session, member=member)
    context = {
        "account": account,
        "entries": entries,
        "message": message,
        "upcoming": upcoming,
        "viewer": viewer,
        "csrf_token": csrf_token_for(request, request.state.csrf_cookie),
        "dry_run": web_config().dry_run,
    }
    return templates.TemplateResponse(request, "_queue_account.html", context)


@router.post("/queue/{delivery_id}/move")
def move(
    request: Request,
    viewer: PageViewer,
    delivery_id: PathId,
    direction: Annotated[Literal["up", "down"], Form()],
) -> Response:
    with session_scope() as session:
        entry = changes.move(
            session, member=me(session, viewer), delivery_id=delivery_id, direction=direction
        )
    return _done(request, viewer, entry, f"#{delivery_id} now goes out {entry.due_local}")


@router.post("/queue/{delivery_id}/next")
def send_next(
    request: Request, viewer: PageViewer, config: WebConfigDep, delivery_id: PathId
) -> Response:
    with session_scope() as session:
        entry = changes.send_next(
            session, member=me(session, viewer), delivery_id=delivery_id, config=config.approvals
        )
    return _done(request, viewer, entry, f"#{delivery_id} goes out next: {entry.due_local}")


@router.post("/queue/{delivery_id}/text")
def edit_text(
    request: Request,
    viewer: PageViewer,
    delivery_id: PathId,
    text: Annotated[str, Form(max_length=MAX_TEXT)],
) -> Response:
    with session_scope() as session:
        entry = changes.edit_text(
            session, member=me(session, viewer), delivery_id=delivery_id, text=text
        )
    return _done(request, viewer, entry, f"#{delivery_id}: your text is saved")


@router.post("/queue/{delivery_id}/cancel")
def cancel(request: Request, viewer: PageViewer, delivery_id: PathId) -> Response:
    with session_scope() as session:
        entry = changes.cancel(session, member=me(session, viewer), delivery_id=delivery_id)
    if not inplace(request):
        return redirect("/queue", done=f"cancelled #{delivery_id}")
    return _done(request, viewer, entry, f"cancelled #{delivery_id}")


@router.post("/queue/pause")
def pause(
    viewer: PageViewer, account_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None
) -> Response:
    with session_scope() as session:
        changes.pause(session, member=me(session, viewer), account_id=account_id)
    return redirect("/queue", done="paused: nothing is sent until you resume")


@router.post("/queue/resume")
def resume(
    viewer: PageViewer,
    config: WebConfigDep,
    account_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> Response:
    with session_scope() as session:
        moved, dropped = changes.resume(
            session, member=me(session, viewer), account_id=account_id, config=config.approvals
        )
    done = "resumed"
    if moved or dropped:
        done += f": {moved} overdue got new times" + (f", {dropped} found none" if dropped else "")
    return redirect("/queue", done=done)


@router.get("/history")
def history_page(
    request: Request, viewer: PageViewer, page: Annotated[int, Query(ge=1, le=10_000)] = 1
) -> Response:
    with read_scope() as session:
        entries = queue.history(
            session, member=me(session, viewer), limit=PAGE, offset=(page - 1) * PAGE
        )
    return render(request, "history.html", entries=entries, page=page, more=len(entries) == PAGE)


@router.post("/history/{delivery_id}/confirm")
def confirm(viewer: PageViewer, delivery_id: PathId) -> Response:
    with session_scope() as session:
        changes.confirm(session, member=me(session, viewer), delivery_id=delivery_id)
    return redirect("/history", done=f"#{delivery_id} recorded as sent")


@router.post("/history/{delivery_id}/retry")
def retry(viewer: PageViewer, config: WebConfigDep, delivery_id: PathId) -> Response:
    with session_scope() as session:
        entry = changes.retry(
            session, member=me(session, viewer), delivery_id=delivery_id, config=config.approvals
        )
    return redirect("/queue", done=f"#{delivery_id} queued again for {entry.due_local}")
