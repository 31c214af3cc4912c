"""The operator's page: every tribe and every feed with its errors, and "Check now"."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tribe.infra.db import read_scope
from tribe.ingest.check import CheckRefusedError, check_now
from tribe.ingest.feeds import list_feeds
from tribe.members import tribes
from tribe.web.config import WebConfigDep
from tribe.web.deps import OperatorViewer, OutboundDep, inplace, me, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()


@router.get("/admin")
def admin_page(request: Request, viewer: OperatorViewer) -> Response:
    with read_scope() as session:
        all_tribes = tribes.my_tribes(session, member=me(session, viewer))
        feeds = list_feeds(session)
    failing = [f for f in feeds if f.error]
    return render(request, "admin.html", tribes=all_tribes, feeds=feeds, failing=failing)


@router.post("/admin/feeds/{feed_id}/check")
def check(
    request: Request,
    viewer: OperatorViewer,
    config: WebConfigDep,
    out: OutboundDep,
    feed_id: PathId,
) -> Response:
    """Poll anyone's feed now, by the same rules as its owner's "Check now"; in place,
    the answer is the outcome in a line (X-Tribe-Outcome: ok, not_modified, error, gone)."""
    try:
        with out.calls.slot(viewer.id):
            result = check_now(
                feed_id=feed_id,
                member_id=viewer.id,
                any_owner=True,
                fetcher=out.fetcher,
                config=config.polling,
            )
    except CheckRefusedError as exc:
        if inplace(request):
            raise
        return redirect("/admin", error=f"feed #{feed_id}: {exc}")
    if inplace(request):
        return Response(
            result.message,
            media_type="text/plain",
            headers={"X-Tribe-Outcome": result.outcome.value},
        )
    said = f"feed #{feed_id} ({result.title}): {result.message}"
    return redirect("/admin", error=said) if result.error else redirect("/admin", done=said)
