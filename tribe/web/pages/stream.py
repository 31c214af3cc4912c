"""The stream: the page members use every day to approve, edit or skip tribemates' posts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import JSONResponse

from tribe.core.kinds import Network
from tribe.infra.db import MAX_ID, read_scope, session_scope
from tribe.stream.approvals import Decision, approve, approve_all, skip, unskip
from tribe.stream.items import (
    StreamEntry,
    count_new,
    count_pending,
    entries_of,
    new_entries,
    newest_item_id,
    pending_stream,
    recently_skipped,
)
from tribe.stream.texts import edited_texts, previews
from tribe.web.config import WebConfigDep
from tribe.web.deps import PageViewer, Viewer, csrf_token_for, inplace, me, render, templates
from tribe.web.flash import redirect
from tribe.web.params import BodyId, PathId

router = APIRouter()
PAGE = 25
MAX_TEXT = 5000
# New items shown in place add to a page: "Approve all" takes at most this many.
MOST_SHOWN = 100
POLL_SECONDS = 20  # how often an open stream page asks whether new posts arrived
SKIPPED_LISTED = 20
After = Annotated[int, Query(ge=0, le=MAX_ID)]


@router.get("/stream")
def stream_page(
    request: Request,
    viewer: PageViewer,
    config: WebConfigDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    with read_scope() as session:
        member = me(session, viewer)
        entries = pending_stream(session, member=member, limit=PAGE, offset=(page - 1) * PAGE)
        total = count_pending(session, member=member)
        texts = previews(session, member=member, item_ids=[e.item_id for e in entries])
        newest = newest_item_id(session, member=member)
        skipped = recently_skipped(
            session,
            member=member,
            now=datetime.now(UTC),
            expiry=config.approvals.expiry,
            limit=SKIPPED_LISTED,
        )
    return render(
        request,
        "stream.html",
        entries=entries,
        previews=texts,
        page=page,
        pages=max(1, -(-total // PAGE)),
        total=total,
        networks=list(Network),
        newest=newest,
        skipped=skipped,
        poll_seconds=POLL_SECONDS,
        most_shown=MOST_SHOWN,
    )


@router.get("/stream/new")
def new_count(viewer: PageViewer, after: After) -> JSONResponse:
    """How many posts reached the member's stream after item `after` (the page's poll)."""
    with read_scope() as session:
        return JSONResponse({"count": count_new(session, member=me(session, viewer), after=after)})


@router.get("/stream/items")
def new_items(request: Request, viewer: PageViewer, after: After) -> Response:
    """The items that arrived after item `after`, as the page shows them, newest first
    (at most a page of them: the page asks again for the rest)."""
    with read_scope() as session:
        member = me(session, viewer)
        entries = new_entries(session, member=member, after=after, limit=PAGE)[::-1]
        texts = previews(session, member=member, item_ids=[e.item_id for e in entries])
    return _fragment(request, viewer, "_stream_items.html", entries=entries, previews=texts)


def _fragment(request: Request, viewer: Viewer, template: str, **context: Any) -> Response:
    """A piece of the stream page for its script: with the page's CSRF token in its forms."""
    token = csrf_token_for(request, request.state.csrf_cookie)
    return templates.TemplateResponse(
        request, template, {"viewer": viewer, "csrf_token": token, **context}
    )


def _decided(request: Request, viewer: Viewer, decision: Decision) -> Response:
    return _fragment(request, viewer, "_decided.html", decision=decision)


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
    request: Request,
    viewer: PageViewer,
    config: WebConfigDep,
    item_id: PathId,
    text_x: Own = None,
    text_mastodon: Own = None,
    text_bluesky: Own = None,
    text_linkedin: Own = None,
    text_facebook: Own = None,
    text_threads: Own = None,
) -> Response:
    edited = {
        Network.X: text_x,
        Network.MASTODON: text_mastodon,
        Network.BLUESKY: text_bluesky,
        Network.LINKEDIN: text_linkedin,
        Network.FACEBOOK: text_facebook,
        Network.THREADS: text_threads,
    }
    with read_scope() as session:
        own = edited_texts(session, member=me(session, viewer), item_id=item_id, given=edited)
    with session_scope() as session:
        decision = approve(
            session, member=me(session, viewer), item_id=item_id, own=own, config=config.approvals
        )
    if inplace(request):
        return _decided(request, viewer, decision)
    return redirect("/stream", done=_done_text(decision))


@router.post("/stream/{item_id}/skip")
def skip_item(request: Request, viewer: PageViewer, item_id: PathId) -> Response:
    with session_scope() as session:
        decision = skip(session, member=me(session, viewer), item_id=item_id)
    if inplace(request):
        return _decided(request, viewer, decision)
    return redirect("/stream", done="skipped")


@router.post("/stream/{item_id}/unskip")
def unskip_item(
    request: Request, viewer: PageViewer, config: WebConfigDep, item_id: PathId
) -> Response:
    """Undo a skip: the item is back in the stream (in place: the item, to decide again)."""
    with session_scope() as session:
        member = me(session, viewer)
        decision = unskip(session, member=member, item_id=item_id, config=config.approvals)
    if not inplace(request):
        return redirect("/stream", done="back in your stream")
    with read_scope() as session:
        member = me(session, viewer)
        entries: list[StreamEntry] = entries_of(session, member=member, item_ids=[item_id])
        texts = previews(session, member=member, item_ids=[item_id])
    response = _fragment(request, viewer, "_stream_items.html", entries=entries, previews=texts)
    # What the page adds to its counts: nothing when the item was back already.
    response.headers["X-Tribe-Stream"] = "1" if entries and not decision.repeated else "0"
    return response


@router.post("/stream/approve-all")
def approve_visible(
    viewer: PageViewer,
    config: WebConfigDep,
    item_ids: Annotated[list[BodyId], Form(max_length=MOST_SHOWN)],
) -> Response:
    with session_scope() as session:
        outcome = approve_all(
            session, member=me(session, viewer), item_ids=item_ids, config=config.approvals
        )
    done = f"approved {len(outcome.decisions)} post{'s' * (len(outcome.decisions) != 1)}"
    if outcome.errors:
        return redirect("/stream", error=f"{done}; not approved: {'; '.join(outcome.errors)}")
    return redirect("/stream", done=done)
