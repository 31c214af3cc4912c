"""A public tribe's face, for anyone: its page (`/t/{slug}`, the members and their latest
posts), its Atom feed, the OPML of its members' feeds, and their blogs' icons.

No sign-in: a signed-in member sees the same page (with their navigation). A private
tribe answers 404, the page a slug nobody has gets. The feed, the OPML and the icons
are published like a polite host publishes: validators, 304s, public cache headers
(`tribe.web.conditional`); their addresses are built from TRIBE_BASE_URL, never from
the request's Host header, so no shared cache can be fed another host's links.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from tribe.alliance.icons import public_icon
from tribe.alliance.public import (
    MAX_PAGE,
    feed_url,
    is_member,
    members_opml,
    planet,
    planet_feed,
    public_tribe,
)
from tribe.core.atom import ATOM_TYPE
from tribe.core.opml import OPML_TYPE
from tribe.infra.db import read_scope
from tribe.web.conditional import conditional_response
from tribe.web.config import WebConfigDep
from tribe.web.deps import OptionalViewer, render
from tribe.web.params import PathId

router = APIRouter()

FEED_MAX_AGE = 600  # seconds a reader or a cache may keep the feed without asking
OPML_MAX_AGE = 3600
ICON_MAX_AGE = 7 * 24 * 3600  # an icon is fetched again once a week at most

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="the planet's page")]


@router.get("/t/{slug}")
def public_page(
    request: Request,
    viewer: OptionalViewer,
    config: WebConfigDep,
    slug: str,
    page: PageNumber = 1,
) -> Response:
    with read_scope() as session:
        tribe = public_tribe(session, slug)
        posts = planet(session, tribe, page)
        member = viewer is not None and is_member(session, tribe, viewer.id)
    return render(
        request,
        "public.html",
        tribe=tribe,
        planet=posts,
        is_member=member,
        feed_url=feed_url(config.base_url, tribe),
    )


@router.api_route("/t/{slug}/feed.xml", methods=["GET", "HEAD"])  # feed readers ask HEAD too
def public_feed(request: Request, config: WebConfigDep, slug: str) -> Response:
    with read_scope() as session:
        document = planet_feed(session, public_tribe(session, slug), base_url=config.base_url)
    return conditional_response(
        request,
        document.body,
        media_type=f"{ATOM_TYPE}; charset=utf-8",
        max_age=FEED_MAX_AGE,
        last_modified=document.updated,
    )


@router.api_route("/t/{slug}/members.opml", methods=["GET", "HEAD"])  # feed readers ask HEAD too
def public_opml(request: Request, slug: str) -> Response:
    with read_scope() as session:
        body = members_opml(public_tribe(session, slug))
    return conditional_response(
        request,
        body,
        media_type=f"{OPML_TYPE}; charset=utf-8",
        max_age=OPML_MAX_AGE,
    )


@router.api_route("/t/{slug}/icons/{feed_id}", methods=["GET", "HEAD"])  # feed readers ask HEAD too
def public_blog_icon(request: Request, slug: str, feed_id: PathId) -> Response:
    """A blog's stored icon: its type was checked by its bytes when it was fetched, and
    browsers are told not to guess another."""
    with read_scope() as session:
        icon = public_icon(session, slug=slug, feed_id=feed_id)
    return conditional_response(
        request,
        icon.data,
        media_type=icon.content_type,
        max_age=ICON_MAX_AGE,
        etag=icon.etag,
        headers={"X-Content-Type-Options": "nosniff"},
    )
