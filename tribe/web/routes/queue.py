"""The queue and the history: what will go out where and when, and what went out."""

from __future__ import annotations

from itertools import groupby
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request, Response

from tribe import queue
from tribe.accounts import list_accounts
from tribe.approvals import approval_config
from tribe.db import MAX_ID, read_scope, session_scope
from tribe.web.deps import PageViewer, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()
PAGE = 50


@router.get("/queue")
def queue_page(request: Request, viewer: PageViewer) -> Response:
    with read_scope() as session:
        entries = queue.list_queue(session, email=viewer.email)
        accounts = list_accounts(session, email=viewer.email)
        paused = any(a.paused for a in accounts) and all(a.paused for a in accounts)
    by_account = {key: list(group) for key, group in groupby(entries, key=lambda e: e.account_id)}
    return render(
        request, "queue.html", accounts=accounts, by_account=by_account, all_paused=paused
    )


@router.post("/queue/{delivery_id}/move")
def move(
    viewer: PageViewer, delivery_id: PathId, direction: Annotated[Literal["up", "down"], Form()]
) -> Response:
    with session_scope() as session:
        queue.move(session, email=viewer.email, delivery_id=delivery_id, direction=direction)
    return redirect("/queue")


@router.post("/queue/{delivery_id}/cancel")
def cancel(viewer: PageViewer, delivery_id: PathId) -> Response:
    with session_scope() as session:
        queue.cancel(session, email=viewer.email, delivery_id=delivery_id)
    return redirect("/queue", done=f"cancelled #{delivery_id}")


@router.post("/queue/pause")
def pause(
    viewer: PageViewer, account_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None
) -> Response:
    with session_scope() as session:
        queue.pause(session, email=viewer.email, account_id=account_id)
    return redirect("/queue", done="paused: nothing is sent until you resume")


@router.post("/queue/resume")
def resume(
    viewer: PageViewer, account_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None
) -> Response:
    with session_scope() as session:
        moved, dropped = queue.resume(
            session, email=viewer.email, account_id=account_id, config=approval_config()
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
        entries = queue.history(session, email=viewer.email, limit=PAGE, offset=(page - 1) * PAGE)
    return render(request, "history.html", entries=entries, page=page, more=len(entries) == PAGE)


@router.post("/history/{delivery_id}/confirm")
def confirm(viewer: PageViewer, delivery_id: PathId) -> Response:
    with session_scope() as session:
        queue.confirm(session, email=viewer.email, delivery_id=delivery_id)
    return redirect("/history", done=f"#{delivery_id} recorded as sent")


@router.post("/history/{delivery_id}/retry")
def retry(viewer: PageViewer, delivery_id: PathId) -> Response:
    with session_scope() as session:
        entry = queue.retry(
            session, email=viewer.email, delivery_id=delivery_id, config=approval_config()
        )
    return redirect("/queue", done=f"#{delivery_id} queued again for {entry.due_local}")
