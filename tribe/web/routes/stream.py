"""The stream: the page members use every day to approve, edit or skip tribemates' posts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from tribe.approvals import (
    Decision,
    approval_config,
    approve,
    approve_all,
    edited_texts,
    previews,
    skip,
)
from tribe.db import read_scope, session_scope
from tribe.models import Network
from tribe.stream import count_pending, pending_stream
from tribe.web.deps import PageViewer, Viewer, inplace, render, templates
from tribe.web.flash import redirect
from tribe.web.params import BodyId, PathId

router = APIRouter()
PAGE = 25
MAX_TEXT = 5000


@router.get("/stream")
def stream_page(
    request: Request, viewer: PageViewer, page: Annotated[int, Query(ge=1, le=10_000)] = 1
) -> Response:
    with read_scope() as session:
        entries = pending_stream(session, email=viewer.email, limit=PAGE, offset=(page - 1) * PAGE)
        total = count_pending(session, email=viewer.email)
        texts = previews(session, email=viewer.email, item_ids=[e.item_id for e in entries])
    return render(
        request, "stream.html", entries=entries, previews=texts, page=page,
        pages=max(1, -(-total // PAGE)), total=total, networks=list(Network),
    )  # fmt: skip


def _decided(request: Request, viewer: Viewer, decision: Decision) -> Response:
    return templates.TemplateResponse(
        request, "_decided.html", {"decision": decision, "viewer": viewer}
    )


def _done_text(decision: Decision) -> str:
    if decision.state.value == "skipped":
        return "skipped"
    when = ", ".join(f"{q.network.value} {q.handle}" for q in decision.queued)
    return f"approved: queued for {when}" + (
        f" (no time for {'; '.join(decision.full)})" if decision.full else ""
    )


Own = Annotated[str | None, Form(max_length=MAX_TEXT)]


@router.post("/stream/{item_id}/approve")
def approve_item(
    request: Request, viewer: PageViewer, item_id: PathId,
    text_x: Own = None, text_mastodon: Own = None, text_bluesky: Own = None,
) -> Response:  # fmt: skip
    edited = {Network.X: text_x, Network.MASTODON: text_mastodon, Network.BLUESKY: text_bluesky}
    with read_scope() as session:
        own = edited_texts(session, email=viewer.email, item_id=item_id, given=edited)
    with session_scope() as session:
        decision = approve(
            session, email=viewer.email, item_id=item_id, own=own, config=approval_config()
        )
    if inplace(request):
        return _decided(request, viewer, decision)
    return redirect("/stream", done=_done_text(decision))


@router.post("/stream/{item_id}/skip")
def skip_item(request: Request, viewer: PageViewer, item_id: PathId) -> Response:
    with session_scope() as session:
        decision = skip(session, email=viewer.email, item_id=item_id)
    if inplace(request):
        return _decided(request, viewer, decision)
    return redirect("/stream", done="skipped")


@router.post("/stream/approve-all")
def approve_visible(
    viewer: PageViewer, item_ids: Annotated[list[BodyId], Form(max_length=PAGE)]
) -> Response:
    with session_scope() as session:
        outcome = approve_all(
            session, email=viewer.email, item_ids=item_ids, config=approval_config()
        )
    done = f"approved {len(outcome.decisions)} post{'s' * (len(outcome.decisions) != 1)}"
    if outcome.errors:
        return redirect("/stream", error=f"{done}; not approved: {'; '.join(outcome.errors)}")
    return redirect("/stream", done=done)
