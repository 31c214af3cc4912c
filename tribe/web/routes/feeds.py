"""The member's blog feeds: add (checked by fetching it once), see how polling goes, remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from tribe.db import read_scope, session_scope
from tribe.feeds import poll_config
from tribe.feeds.registry import add_feed, list_feeds, remove_feed
from tribe.web.deps import OutboundDep, PageViewer, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()


@router.get("/feeds")
def feeds_page(request: Request, viewer: PageViewer, welcome: str | None = None) -> Response:
    with read_scope() as session:
        feeds = list_feeds(session, owner_email=viewer.email)
    return render(request, "feeds.html", feeds=feeds, welcome=welcome)


@router.post("/feeds")
def add(
    viewer: PageViewer, out: OutboundDep, url: Annotated[str, Form(max_length=2048)]
) -> Response:
    with out.calls.slot(viewer.id):
        added = add_feed(email=viewer.email, url=url, fetcher=out.fetcher, config=poll_config())
    return redirect(
        "/feeds", done=f"added {added.info.title or added.info.url}: "
        f"{added.first_poll.new_posts} posts found; new ones reach your tribemates from now on",
    )  # fmt: skip


@router.post("/feeds/{feed_id}/remove")
def remove(viewer: PageViewer, feed_id: PathId) -> Response:
    with session_scope() as session:
        info = remove_feed(session, email=viewer.email, feed_id=feed_id)
    return redirect("/feeds", done=f"removed {info.title or info.url}; it is no longer polled")
