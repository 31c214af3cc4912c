"""Tribes: create one, see its members, invite, take join requests, leave; the chief's
powers (edit, remove a member, hand over the role)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from tribe.alliance.public import public_switches, set_hidden, set_public, set_public_counts
from tribe.core.kinds import Role
from tribe.infra.db import read_scope, session_scope
from tribe.members import tribes
from tribe.members.people import create_tribe
from tribe.stream.preferences import preferences, set_auto_approve, set_muted
from tribe.web.config import WebConfigDep
from tribe.web.deps import PageViewer, keyring, me, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()


@router.get("/tribes")
def tribes_page(request: Request, viewer: PageViewer) -> Response:
    with read_scope() as session:
        member = me(session, viewer)
        mine = tribes.my_tribes(session, member=member)
        others = tribes.open_tribes(session, member=member)
    return render(request, "tribes.html", tribes=mine, open_tribes=others)


@router.post("/tribes")
def create(
    viewer: PageViewer,
    name: Annotated[str, Form(max_length=200)],
    description: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    with session_scope() as session:
        tribe = create_tribe(session, name=name, chief=me(session, viewer), description=description)
        slug = tribe.slug
    return redirect(f"/tribes/{slug}", done="your tribe is ready: invite your fellow bloggers")


@router.get("/tribes/{slug}")
def tribe_page(request: Request, viewer: PageViewer, config: WebConfigDep, slug: str) -> Response:
    with read_scope() as session:
        member = me(session, viewer)
        info = tribes.tribe_info(session, member=member, slug=slug)
        mates = tribes.mates(session, member=member, slug=slug)
        chief = info.my_role == Role.CHIEF
        invite = (
            tribes.invite(session, member=member, slug=slug, keys=keyring(), ttl=config.invite_ttl)
            if chief
            else None
        )
        requests = tribes.join_requests(session, member=member, slug=slug) if chief else []
        prefs = preferences(session, member=member)
        public = public_switches(session, member=member, slug=slug)
    link = f"{config.base_url}/join/{invite.token}" if invite else None
    expired = invite is not None and invite.expires_at <= datetime.now(UTC)
    return render(
        request,
        "tribe.html",
        tribe=info,
        mates=mates,
        invite_link=link,
        requests=requests,
        invite=invite,
        invite_expired=expired,
        prefs=prefs,
        public=public,
        public_url=f"{config.base_url}/t/{public.slug}",
    )


@router.post("/tribes/{slug}")
def edit(
    viewer: PageViewer,
    slug: str,
    description: Annotated[str, Form(max_length=2000)] = "",
    is_open: Annotated[bool, Form()] = False,
) -> Response:
    with session_scope() as session:
        tribes.update_tribe(
            session,
            member=me(session, viewer),
            slug=slug,
            description=description,
            is_open=is_open,
        )
    return redirect(f"/tribes/{slug}", done="saved")


@router.post("/tribes/{slug}/invite")
def renew_invite(viewer: PageViewer, slug: str) -> Response:
    with session_scope() as session:
        tribes.invite_token(
            session, member=me(session, viewer), slug=slug, keys=keyring(), renew=True
        )
    return redirect(f"/tribes/{slug}", done="new invite link: the old links no longer work")


@router.post("/tribes/{slug}/join")
def ask_to_join(
    viewer: PageViewer, slug: str, message: Annotated[str, Form(max_length=500)] = ""
) -> Response:
    with session_scope() as session:
        tribes.request_to_join(session, member=me(session, viewer), slug=slug, message=message)
    return redirect("/tribes", done="asked; the chief will answer")


@router.post("/tribes/{slug}/requests/{request_id}")
def answer_request(
    viewer: PageViewer, slug: str, request_id: PathId, accept: Annotated[bool, Form()] = False
) -> Response:
    with session_scope() as session:
        tribes.decide_request(
            session, member=me(session, viewer), slug=slug, request_id=request_id, accept=accept
        )
    return redirect(f"/tribes/{slug}", done="accepted" if accept else "refused")


@router.post("/tribes/{slug}/leave")
def leave(viewer: PageViewer, slug: str) -> Response:
    with session_scope() as session:
        tribes.leave(session, member=me(session, viewer), slug=slug)
    return redirect("/tribes", done=f"you left {slug}")


@router.post("/tribes/{slug}/members/{member_id}/remove")
def remove(viewer: PageViewer, slug: str, member_id: PathId) -> Response:
    with session_scope() as session:
        tribes.remove_member(session, member=me(session, viewer), slug=slug, member_id=member_id)
    return redirect(f"/tribes/{slug}", done="removed from the tribe")


@router.post("/tribes/{slug}/members/{member_id}/chief")
def make_chief(viewer: PageViewer, slug: str, member_id: PathId) -> Response:
    with session_scope() as session:
        tribes.hand_over(session, member=me(session, viewer), slug=slug, member_id=member_id)
    return redirect(f"/tribes/{slug}", done="you handed over the chief role")


@router.post("/tribes/{slug}/members/{member_id}/mute")
def mute(
    viewer: PageViewer, slug: str, member_id: PathId, muted: Annotated[bool, Form()] = False
) -> Response:
    with session_scope() as session:
        member = me(session, viewer)
        author = tribes.mate(session, member=member, slug=slug, member_id=member_id)
        set_muted(session, member=member, author=author, muted=muted)
    return redirect(f"/tribes/{slug}", done="muted" if muted else "unmuted")


@router.post("/tribes/{slug}/members/{member_id}/auto-approve")
def auto_approve(
    viewer: PageViewer,
    slug: str,
    member_id: PathId,
    enabled: Annotated[bool, Form()] = False,
    daily_cap: Annotated[int, Form(ge=0, le=1000)] = 3,
) -> Response:
    """Approve this tribemate's new posts without asking, at most `daily_cap` a day."""
    with session_scope() as session:
        member = me(session, viewer)
        author = tribes.mate(session, member=member, slug=slug, member_id=member_id)
        set_auto_approve(
            session, member=member, author=author, enabled=enabled, daily_cap=daily_cap
        )
        name = author.display_name
    if enabled:
        done = f"{name}'s new posts are approved for you, at most {daily_cap} a day"
    else:
        done = f"{name}'s new posts wait for you in your stream"
    return redirect(f"/tribes/{slug}", done=done)


# The public page (tribe.alliance.public): the chief's two switches, each member's own.


@router.post("/tribes/{slug}/public")
def make_public(
    viewer: PageViewer, slug: str, is_public: Annotated[bool, Form()] = False
) -> Response:
    with session_scope() as session:
        set_public(session, member=me(session, viewer), slug=slug, public=is_public)
    if is_public:
        done = "the tribe is public: anyone can read its page, its feed and its member list"
    else:
        done = "the tribe is private: its public page, feed and member list are gone"
    return redirect(f"/tribes/{slug}#public", done=done)


@router.post("/tribes/{slug}/public-counts")
def show_public_counts(
    viewer: PageViewer, slug: str, shown: Annotated[bool, Form()] = False
) -> Response:
    with session_scope() as session:
        set_public_counts(session, member=me(session, viewer), slug=slug, shown=shown)
    if shown:
        done = "the public page shows how many tribemates shared each post"
    else:
        done = "the public page no longer shows how many tribemates shared each post"
    return redirect(f"/tribes/{slug}#public", done=done)


@router.post("/tribes/{slug}/public-hidden")
def hide_me(viewer: PageViewer, slug: str, hidden: Annotated[bool, Form()] = False) -> Response:
    """The member leaves themselves off the tribe's public page, or comes back on it."""
    with session_scope() as session:
        set_hidden(session, member=me(session, viewer), slug=slug, hidden=hidden)
    if hidden:
        done = "you, your blogs and your posts are off the tribe's public page"
    else:
        done = "you, your blogs and your posts show on the tribe's public page"
    return redirect(f"/tribes/{slug}#public", done=done)
