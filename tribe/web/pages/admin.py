"""The operator's page: every tribe and every feed with its errors, and "Check now";
the outbox: the emails tribe sent or would send."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse

from tribe.core.errors import NotFoundError
from tribe.infra.db import read_scope
from tribe.infra.mail import FileTransport, outbox_files, read_outbox_email
from tribe.infra.outbox import recent_mail
from tribe.ingest.check import CheckRefusedError, check_now
from tribe.ingest.feeds import list_feeds
from tribe.members import tribes
from tribe.web.config import WebConfig, WebConfigDep
from tribe.web.deps import OperatorViewer, OutboundDep, inplace, me, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()
MAILS_LISTED = 50  # the outbox's newest files and rows the page lists


@router.get("/admin")
def admin_page(request: Request, viewer: OperatorViewer, config: WebConfigDep) -> Response:
    folder = _outbox(config)
    with read_scope() as session:
        all_tribes = tribes.my_tribes(session, member=me(session, viewer))
        feeds = list_feeds(session)
        mails = recent_mail(session, limit=MAILS_LISTED)
    failing = [f for f in feeds if f.error]
    files, filed = outbox_files(folder, limit=MAILS_LISTED) if folder else ([], 0)
    return render(
        request,
        "admin.html",
        tribes=all_tribes,
        feeds=feeds,
        failing=failing,
        outbox=folder,
        files=files,
        filed=filed,
        mails=mails,
    )


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


# The outbox. Without SMTP (the `make run` default) each email is a file in the outbox
# folder (tribe.infra.mail.FileTransport): the page lists the newest and shows one as
# plain text, so a newcomer sees what tribe would send.


def _outbox(config: WebConfig) -> Path | None:
    """The folder emails are written to, or None when they go to an SMTP server."""
    return config.transport.folder if isinstance(config.transport, FileTransport) else None


EmailName = Annotated[str, PathParam(max_length=255)]


@router.get("/admin/outbox/{name}")
def outbox_email(viewer: OperatorViewer, config: WebConfigDep, name: EmailName) -> Response:
    """One email of the outbox folder, as plain text (never as a page: its HTML is only
    shown, as source)."""
    folder = _outbox(config)
    text = read_outbox_email(folder, name) if folder else None
    if text is None:
        raise NotFoundError(f"there is no email {name!r} in the outbox")
    return PlainTextResponse(text)
