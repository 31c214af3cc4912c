"""The member's blog feeds: add (checked by fetching it once), check now, see how polling
goes and what became of recent posts, remove."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from tribe.core.polling import PollConfig
from tribe.infra.db import read_scope, session_scope
from tribe.ingest.check import (
    CheckRefusedError,
    CheckResult,
    check_now,
    describe,
    duration_words,
    how_often,
)
from tribe.ingest.feeds import add_feed, remove_feed
from tribe.ingest.overview import feed_cards
from tribe.web.config import WebConfigDep
from tribe.web.deps import (
    OutboundDep,
    PageViewer,
    Viewer,
    csrf_token_for,
    inplace,
    me,
    render,
    templates,
)
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()


@router.get("/feeds")
def feeds_page(
    request: Request, viewer: PageViewer, config: WebConfigDep, welcome: str | None = None
) -> Response:
    polling = config.polling
    with read_scope() as session:
        cards = feed_cards(
            session,
            member=me(session, viewer),
            now=datetime.now(UTC),
            max_age=polling.max_entry_age,
        )
    return render(
        request,
        "feeds.html",
        cards=cards,
        welcome=welcome,
        max_age=duration_words(polling.max_entry_age),
        interval=duration_words(polling.interval),
        check_every=how_often(polling.check_every),
    )


@router.post("/feeds")
def add(
    viewer: PageViewer,
    config: WebConfigDep,
    out: OutboundDep,
    url: Annotated[str, Form(max_length=2048)],
) -> Response:
    polling = config.polling
    with out.calls.slot(viewer.id):
        added = add_feed(owner_id=viewer.id, url=url, fetcher=out.fetcher, config=polling)
    found = describe(added.first_poll, baseline=True, max_age=polling.max_entry_age)
    return redirect(
        "/feeds",
        done=f"added {added.info.title or added.info.url}: {found}; "
        "new posts reach your tribemates from now on",
    )


@router.post("/feeds/{feed_id}/check")
def check(
    request: Request, viewer: PageViewer, config: WebConfigDep, out: OutboundDep, feed_id: PathId
) -> Response:
    """Poll one of the member's feeds now. In place, the answer is the feed's card with
    the outcome in it; a refusal (too soon, being polled, host busy) is a 429 line."""
    try:
        with out.calls.slot(viewer.id):
            result = check_now(
                feed_id=feed_id,
                member_id=viewer.id,
                any_owner=False,
                fetcher=out.fetcher,
                config=config.polling,
            )
    except CheckRefusedError as exc:
        if inplace(request):
            raise
        return redirect(f"/feeds#feed-{feed_id}", error=str(exc))
    if inplace(request):
        return _card(request, viewer, config.polling, result)
    said = f"checked {result.title}: {result.message}"
    if result.error:
        return redirect(f"/feeds#feed-{feed_id}", error=said)
    return redirect(f"/feeds#feed-{feed_id}", done=said)


def _card(request: Request, viewer: Viewer, polling: PollConfig, result: CheckResult) -> Response:
    with read_scope() as session:
        (card,) = feed_cards(
            session,
            member=me(session, viewer),
            now=datetime.now(UTC),
            max_age=polling.max_entry_age,
            feed_id=result.feed_id,
        )
    context = {
        "viewer": viewer,
        "card": card,
        "checked": result,
        "check_every": how_often(polling.check_every),
        "csrf_token": csrf_token_for(request, request.state.csrf_cookie),
    }
    return templates.TemplateResponse(request, "_feed.html", context)


@router.post("/feeds/{feed_id}/remove")
def remove(viewer: PageViewer, feed_id: PathId) -> Response:
    with session_scope() as session:
        info = remove_feed(session, member=me(session, viewer), feed_id=feed_id)
    return redirect("/feeds", done=f"removed {info.title or info.url}; it is no longer polled")
