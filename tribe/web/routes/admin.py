"""The operator's page: every tribe and every feed with its errors."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tribe import tribes
from tribe.db import read_scope
from tribe.feeds.registry import list_feeds
from tribe.web.deps import OperatorViewer, render

router = APIRouter()


@router.get("/admin")
def admin_page(request: Request, viewer: OperatorViewer) -> Response:
    with read_scope() as session:
        all_tribes = tribes.my_tribes(session, email=viewer.email)
        feeds = list_feeds(session)
    failing = [f for f in feeds if f.error]
    return render(request, "admin.html", tribes=all_tribes, feeds=feeds, failing=failing)
