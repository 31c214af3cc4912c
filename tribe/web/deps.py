"""What every route needs: settings, the signed-in member, CSRF checks, templates.

A browser signs in with a session cookie; a script with `Authorization: Bearer <token>`.
Both give the route a `Viewer`: a small frozen copy of the member, because the database
session that found them is closed before the route runs. A route that calls services
opens its own unit of work and takes the member's row there, once, with `me`:

    with read_scope() as session:
        member = me(session, viewer)
        entries = pending_stream(session, member=member)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, Signer
from sqlmodel import Session

from config import Settings, get_settings
from tribe.core import timefmt
from tribe.core.errors import NotFoundError, NotSignedInError
from tribe.delivery.queue import count_upcoming, member_notices
from tribe.infra.db import read_scope, session_scope
from tribe.infra.keys import Keyring, keyring_for
from tribe.infra.models import Member
from tribe.ingest import fetch_config
from tribe.ingest.fetch import Fetcher
from tribe.members.auth import record_token_use, session_member, token_member
from tribe.stream.items import count_pending
from tribe.web.config import web_config
from tribe.web.limits import CallLimiter

SESSION_COOKIE = "tribe_session"
DEVICE_COOKIE = "tribe_device"
CSRF_COOKIE = "tribe_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def inplace(request: Request) -> bool:
    """An in-place action from the page's script: it wants a fragment or a line, not a page."""
    return request.headers.get("x-tribe-inplace") == "1"


def _local(moment: datetime | None, zone: str) -> str:
    """A time as the member reads it: in their own time zone, the one format of
    `tribe.timefmt` ("Mon 30 Nov, 14:05 CET")."""
    if moment is None:
        return ""
    return timefmt.moment(moment, zone)


templates.env.filters["local"] = _local


@dataclass(frozen=True)
class Viewer:
    """The member a request acts for (what the pages show of them, and their id)."""

    id: int
    email: str
    display_name: str
    timezone: str
    is_operator: bool

    @classmethod
    def of(cls, member: Member) -> Viewer:
        assert member.id is not None
        return cls(
            member.id, member.email, member.display_name, member.timezone, member.is_operator
        )


def me(session: Session, viewer: Viewer) -> Member:
    """The viewer's row in this unit of work: what the route hands the services."""
    member = session.get(Member, viewer.id)
    if member is None:  # the account went while the request was on its way
        raise NotSignedInError("this account no longer exists")
    return member


class SignInRequired(Exception):
    """A page needs a signed-in member; the handler sends the browser to /login."""


def keyring() -> Keyring:
    """The instance's keys (TRIBE_SECRET_KEYS, or the local key file on `make run`)."""
    return keyring_for(get_settings())


def _cookie_signer() -> Signer:
    return Signer(keyring().derived("cookies"), salt="tribe.session")


def sign_cookie(token: str) -> str:
    return _cookie_signer().sign(token).decode()


def unsign_cookie(value: str) -> str | None:
    try:
        return _cookie_signer().unsign(value).decode()
    except BadSignature:
        return None


def _csrf_mac(key: bytes, request: Request, cookie_value: str) -> str:
    session = request.cookies.get(SESSION_COOKIE, "")
    return hmac.new(key, f"{cookie_value}|{session}".encode(), hashlib.sha256).hexdigest()


def csrf_token_for(request: Request, cookie_value: str) -> str:
    """The token forms carry: bound by the instance's key to the browser's CSRF cookie and
    to its session, so a token seen before signing in (or by someone who planted the
    CSRF cookie) is worth nothing once the member is signed in."""
    return _csrf_mac(keyring().current("csrf"), request, cookie_value)


def csrf_token_valid(request: Request, cookie_value: str, sent: str) -> bool:
    """Made with any configured key: a key rotation does not void the forms on screen."""
    return any(
        hmac.compare_digest(_csrf_mac(key, request, cookie_value), sent)
        for key in keyring().derived("csrf")
    )


def new_csrf_cookie() -> str:
    return secrets.token_urlsafe(24)


def settings_dep() -> Settings:
    return get_settings()


@dataclass(frozen=True)
class Outbound:
    """How the web app calls other servers while a page waits (a feed added or checked,
    a Mastodon instance or Bluesky PDS connected): few at once, with a short deadline."""

    calls: CallLimiter
    fetcher: Fetcher

    @classmethod
    def from_settings(cls, settings: Settings) -> Outbound:
        deadline = settings.TRIBE_WEB_CALL_DEADLINE.total_seconds()
        config = fetch_config(settings)
        quick = replace(
            config, deadline=min(config.deadline, deadline), timeout=min(config.timeout, deadline)
        )
        limiter = CallLimiter(
            total=settings.TRIBE_WEB_CALLS,
            per_member=settings.TRIBE_WEB_CALLS_PER_MEMBER,
            retry_after=max(1, round(deadline)),
        )
        return cls(calls=limiter, fetcher=Fetcher(quick))


def outbound(request: Request) -> Outbound:
    found: Outbound = request.app.state.outbound
    return found


SettingsDep = Annotated[Settings, Depends(settings_dep)]
OutboundDep = Annotated[Outbound, Depends(outbound)]


def optional_viewer(request: Request) -> Viewer | None:
    """The member signed in with this browser's session cookie, if any."""
    cached: Viewer | None = getattr(request.state, "viewer", None)
    if cached is not None:
        return cached
    raw = request.cookies.get(SESSION_COOKIE)
    token = unsign_cookie(raw) if raw else None
    if token is None:
        return None
    with read_scope() as session:
        member = session_member(session, token)
        viewer = Viewer.of(member) if member else None
    request.state.viewer = viewer
    return viewer


def page_viewer(viewer: Annotated[Viewer | None, Depends(optional_viewer)]) -> Viewer:
    if viewer is None:
        raise SignInRequired
    return viewer


def operator_viewer(viewer: Annotated[Viewer, Depends(page_viewer)]) -> Viewer:
    if not viewer.is_operator:
        raise NotFoundError("there is no such page")
    return viewer


def api_viewer(request: Request) -> Viewer:
    """The member whose personal API token the request carries."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotSignedInError(
            "send a personal API token as 'Authorization: Bearer <token>' "
            "(make one on the Settings page)"
        )
    with read_scope() as session:  # most calls only read: no write lock for them
        use = token_member(session, secret.strip())
        viewer = Viewer.of(use.member) if use else None
    if use is None or viewer is None:
        raise NotSignedInError("this API token is unknown or was revoked")
    if use.record:
        with session_scope() as session:
            record_token_use(session, use.token_id)
    return viewer


PageViewer = Annotated[Viewer, Depends(page_viewer)]
OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]
OperatorViewer = Annotated[Viewer, Depends(operator_viewer)]
ApiViewer = Annotated[Viewer, Depends(api_viewer)]


class CsrfError(Exception):
    """A form or in-place action came without the token of this browser."""


async def check_csrf(request: Request) -> None:
    """Every state-changing page request must carry the token its page was served with."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not cookie or not sent or not csrf_token_valid(request, cookie, sent):
        raise CsrfError


@dataclass(frozen=True)
class Counts:
    """The numbers in the navigation, and what needs the member's attention."""

    stream: int
    queue: int
    notices: tuple[str, ...]


def nav_counts(viewer: Viewer) -> Counts:
    config = web_config()
    with read_scope() as session:
        member = me(session, viewer)
        return Counts(
            stream=count_pending(session, member=member),
            queue=count_upcoming(session, member=member),
            notices=tuple(member_notices(session, member=member, config=config.approvals)),
        )


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A page, with what every page needs: the viewer, the CSRF token, the flash message."""
    viewer = getattr(request.state, "viewer", None)
    return templates.TemplateResponse(
        request,
        template,
        {
            "viewer": viewer,
            "csrf_token": csrf_token_for(request, request.state.csrf_cookie),
            "flash": request.state.flash,
            "counts": nav_counts(viewer) if viewer else None,
            "dry_run": web_config().dry_run,
            **context,
        },
        status_code=status_code,
    )
