"""Connecting X, Mastodon and Bluesky accounts in the browser.

The flows are the ones `tribe account connect` walks in a terminal (tribe/connect.py);
here the state between the two steps (a request token secret, a PKCE verifier, the
instance) travels in a short-lived cookie encrypted with TRIBE_SECRET_KEYS, so it never
appears in a page, a URL or a log line. Where the operator registered a callback
(TRIBE_X_REDIRECT_URL, TRIBE_MASTODON_REDIRECT_URL pointing here) the network sends the
member straight back; otherwise the member pastes the code or PIN the network shows.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from config import Settings, SettingsError
from tribe.core.errors import InvalidInputError, LinkError
from tribe.infra.vault import Vault
from tribe.networks import connect
from tribe.web.deps import OutboundDep, PageViewer, SettingsDep, Viewer, render
from tribe.web.flash import redirect

router = APIRouter()
STATE_COOKIE = "tribe_connect"
STATE_PATH = "/accounts/connect"
STATE_SECONDS = 15 * 60
Field = Annotated[str, Form(max_length=2048)]


def _vault(settings: Settings) -> Vault:
    try:
        return Vault.from_settings(settings)
    except SettingsError as exc:
        raise InvalidInputError(
            f"this instance cannot store account credentials yet: {exc}"
        ) from None


def _keep(response: Response, settings: Settings, viewer: Viewer, **state: Any) -> Response:
    sealed = _vault(settings).seal(
        {**state, "member": viewer.id, "until": time.time() + STATE_SECONDS}
    )
    response.set_cookie(
        STATE_COOKIE, sealed, max_age=STATE_SECONDS, httponly=True, samesite="lax",
        secure=settings.secure_cookies, path=STATE_PATH,
    )  # fmt: skip
    return response


def _kept(request: Request, settings: Settings, viewer: Viewer, network: str) -> dict[str, Any]:
    raw = request.cookies.get(STATE_COOKIE)
    try:
        state = _vault(settings).open(raw) if raw else None
    except SettingsError:
        state = None
    if (
        not state
        or state.get("member") != viewer.id
        or state.get("network") != network
        or float(state.get("until", 0)) < time.time()
    ):
        raise LinkError("this connection attempt expired; start it again")
    return state


def _go(request: Request, network: str, url: str) -> Response:
    """Send the member on to the network's authorize page.

    A page that follows the link, not a 303: Chrome and Safari apply the form's
    `form-action 'self'` to a redirect answering it and would stop at another site.
    """
    return render(request, "connect_go.html", network=network, url=url)


def _finish(viewer: Viewer, connected: connect.Connected, settings: Settings) -> Response:
    info, released = connect.finish(viewer.email, connected, settings)
    done = f"connected {info.network.value} {info.handle}"
    if released:
        done += f"; {released} held reshare(s) queued again"
    response = redirect("/accounts", done=done)
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH)
    return response


# Bluesky: one login with an app password.


@router.post("/accounts/connect/bluesky")
def bluesky(
    viewer: PageViewer, settings: SettingsDep, out: OutboundDep,
    handle: Annotated[str, Form(max_length=253)], password: Annotated[str, Form(max_length=200)],
    pds: Annotated[str, Form(max_length=300)] = "https://bsky.social",
) -> Response:  # fmt: skip
    _vault(settings)
    with out.calls.slot(viewer.id):
        connected = connect.bluesky_connected(pds, handle, password, settings)
    return _finish(viewer, connected, settings)


# Mastodon: authorize on the member's instance, then the code.


@router.post("/accounts/connect/mastodon")
def mastodon_start(
    request: Request, viewer: PageViewer, settings: SettingsDep, out: OutboundDep, instance: Field
) -> Response:
    from tribe.networks.mastodon import authorize_url

    _vault(settings)
    with out.calls.slot(viewer.id):
        base, app = connect.mastodon_app(instance, settings)
    redirect_uri = settings.TRIBE_MASTODON_REDIRECT_URL
    # The callback must come back with this: a code someone else got cannot be slipped in.
    state = secrets.token_urlsafe(24)
    url = authorize_url(base, app, redirect_uri=redirect_uri, state=state)
    if redirect_uri.startswith(("http://", "https://")):  # the instance sends them back here
        response = _go(request, "Mastodon", url)
    else:
        response = render(request, "connect_step.html", network="Mastodon", url=url,
                          action="/accounts/connect/mastodon/finish", what="code")  # fmt: skip
    return _keep(response, settings, viewer, network="mastodon", base=base, state=state)


def _mastodon_finish(request: Request, viewer: Viewer, settings: Settings, code: str) -> Response:
    state = _kept(request, settings, viewer, "mastodon")
    base, app = connect.mastodon_app(state["base"], settings)  # kept, not registered again
    return _finish(viewer, connect.mastodon_connected(base, app, code, settings), settings)


@router.post("/accounts/connect/mastodon/finish")
def mastodon_code(
    request: Request, viewer: PageViewer, settings: SettingsDep, out: OutboundDep, code: Field
) -> Response:
    with out.calls.slot(viewer.id):
        return _mastodon_finish(request, viewer, settings, code)


@router.get("/accounts/connect/mastodon/callback")
def mastodon_callback(
    request: Request, viewer: PageViewer, settings: SettingsDep, out: OutboundDep,
    code: str = "", state: str = "",
) -> Response:  # fmt: skip
    if not code:
        return redirect("/accounts", error="Mastodon did not authorize tribe; nothing changed")
    kept = _kept(request, settings, viewer, "mastodon")
    if not secrets.compare_digest(state, str(kept.get("state", ""))):
        raise InvalidInputError(
            "this answer from Mastodon does not match your attempt; start again"
        )
    with out.calls.slot(viewer.id):
        return _mastodon_finish(request, viewer, settings, code)


# X: OAuth 2.0 with PKCE when the operator registered a callback, else OAuth 1.0a + PIN.


@router.post("/accounts/connect/x")
def x_start(
    request: Request, viewer: PageViewer, settings: SettingsDep, out: OutboundDep
) -> Response:
    from tribe.networks.registry import x_app
    from tribe.networks.x import oauth1_start, oauth2_start

    _vault(settings)
    app = x_app(settings)
    if settings.TRIBE_X_CLIENT_ID and settings.TRIBE_X_REDIRECT_URL:
        url, state = oauth2_start(app, redirect_uri=settings.TRIBE_X_REDIRECT_URL)
        go = _go(request, "X", url)
        return _keep(go, settings, viewer, network="x", flow="oauth2", state=state)
    timeout = settings.TRIBE_PUBLISH_TIMEOUT.total_seconds()
    with out.calls.slot(viewer.id):
        url, state = oauth1_start(app, callback="oob", timeout=timeout)
    response = render(request, "connect_step.html", network="X", url=url,
                      action="/accounts/connect/x/finish", what="PIN")  # fmt: skip
    return _keep(response, settings, viewer, network="x", flow="oauth1", state=state)


def _x_finish(request: Request, viewer: Viewer, settings: Settings, answer: str) -> Response:
    from tribe.networks.registry import x_app
    from tribe.networks.x import oauth1_finish, oauth2_finish

    kept = _kept(request, settings, viewer, "x")
    timeout = settings.TRIBE_PUBLISH_TIMEOUT.total_seconds()
    finish = oauth2_finish if kept.get("flow") == "oauth2" else oauth1_finish
    credentials = finish(x_app(settings), kept["state"], answer, timeout=timeout)
    return _finish(viewer, connect.x_connected(credentials, settings), settings)


@router.post("/accounts/connect/x/finish")
def x_pin(
    request: Request, viewer: PageViewer, settings: SettingsDep, out: OutboundDep, code: Field
) -> Response:
    with out.calls.slot(viewer.id):
        return _x_finish(request, viewer, settings, code)


@router.get("/accounts/connect/x/callback")
def x_callback(
    request: Request, viewer: PageViewer, settings: SettingsDep, out: OutboundDep
) -> Response:
    if "code" not in request.query_params:
        return redirect("/accounts", error="X did not authorize tribe; nothing changed")
    with out.calls.slot(viewer.id):
        return _x_finish(request, viewer, settings, str(request.url))
