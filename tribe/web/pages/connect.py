"""Connecting accounts in the browser: the same connectors `tribe account connect` drives.

Three routes serve every network (tribe/networks/registry.py knows which): the form that
starts connecting (`POST /accounts/connect/{network}`, with the fields the network's
connector declares), the code or PIN the member pastes (`.../finish`), and the network
sending the browser back (`GET .../callback`). The state between the two steps (a
request token's secret, a PKCE verifier, the instance) travels in a short-lived cookie
encrypted with TRIBE_SECRET_KEYS, so it never appears in a page, a URL or a log line.
Where the operator registered a callback (TRIBE_X_REDIRECT_URL,
TRIBE_MASTODON_REDIRECT_URL pointing here) the network sends the member straight back;
otherwise the member pastes the code or PIN the network shows.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response

from config import Settings, SettingsError
from tribe.alliance.snapshots import ReachConfig, snapshot_account
from tribe.core.errors import InvalidInputError, LinkError
from tribe.core.kinds import Network
from tribe.delivery.placing import PlacementConfig
from tribe.infra.db import session_scope
from tribe.infra.vault import Vault
from tribe.networks import connect
from tribe.networks.base import Connected, Connector, Returns
from tribe.web.deps import Outbound, OutboundDep, PageViewer, SettingsDep, Viewer, me, render
from tribe.web.flash import redirect

router = APIRouter()
STATE_COOKIE = "tribe_connect"
STATE_PATH = "/accounts/connect"
STATE_SECONDS = 15 * 60
Code = Annotated[str, Form(max_length=2048)]


def _vault(settings: Settings) -> Vault:
    try:
        return Vault.from_settings(settings)
    except SettingsError as exc:
        raise InvalidInputError(
            f"this instance cannot store account credentials yet: {exc}"
        ) from None


def _flow(network: Network, settings: Settings) -> connect.Flow:
    _vault(settings)  # in the member's words when credentials cannot be stored
    return connect.flow(network, settings)


async def _form(request: Request) -> dict[str, str]:
    """The submitted form's text fields (the body is capped by BodyLimit before this)."""
    form = await request.form()
    return {name: value for name, value in form.items() if isinstance(value, str)}


def _given(connector: Connector, form: dict[str, str]) -> dict[str, str]:
    """The fields the network's connector declares, each within its length."""
    given = {}
    for field in connector.fields:
        value = form.get(field.name, field.default)
        if len(value) > field.max_length:
            raise InvalidInputError(f"{field.label}: at most {field.max_length} characters, please")
        given[field.name] = value
    return given


def _keep(response: Response, settings: Settings, viewer: Viewer, **state: Any) -> Response:
    sealed = _vault(settings).seal(
        {**state, "member": viewer.id, "until": time.time() + STATE_SECONDS}
    )
    response.set_cookie(
        STATE_COOKIE, sealed, max_age=STATE_SECONDS, httponly=True, samesite="lax",
        secure=settings.secure_cookies, path=STATE_PATH,
    )  # fmt: skip
    return response


def _kept(request: Request, settings: Settings, viewer: Viewer, network: Network) -> dict[str, str]:
    raw = request.cookies.get(STATE_COOKIE)
    try:
        kept = _vault(settings).open(raw) if raw else None
    except SettingsError:
        kept = None
    if (
        not kept
        or kept.get("member") != viewer.id
        or kept.get("network") != network.value
        or float(kept.get("until", 0)) < time.time()
        or not isinstance(kept.get("state"), dict)
    ):
        raise LinkError("this connection attempt expired; start it again")
    return {str(k): str(v) for k, v in kept["state"].items()}


def _finish(
    viewer: Viewer, flow: connect.Flow, connected: Connected, settings: Settings, out: Outbound
) -> Response:
    with session_scope() as session:
        info, released = connect.store_connection(
            session, member=me(session, viewer), connected=connected, vault=flow.apps.vault,
            config=PlacementConfig.from_settings(settings),
        )  # fmt: skip
    done = f"connected {info.network.value} {info.handle}"
    if released:
        done += f"; {released} held reshare(s) queued again"
    # Connecting is when an account is first read (then daily: tribe/alliance/snapshots.py),
    # within the page's limit on calls out; a reading never fails the connection.
    with out.calls.slot(viewer.id):
        reading = snapshot_account(
            info.id, now=datetime.now(UTC), config=ReachConfig.from_settings(settings),
            vault=flow.apps.vault,
        )  # fmt: skip
    if reading is not None and reading.followers is not None:
        done += f" ({reading.followers:,} followers)"
    response = redirect("/accounts", done=done)
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH)
    return response


@router.post("/accounts/connect/{network}")
def start(
    request: Request, viewer: PageViewer, settings: SettingsDep, out: OutboundDep,
    network: Network, form: Annotated[dict[str, str], Depends(_form)],
) -> Response:  # fmt: skip
    """Bluesky connects at once; X and Mastodon send the member to authorize tribe."""
    flow = _flow(network, settings)
    with out.calls.slot(viewer.id):
        begun = flow.begin(_given(flow.connector, form))
    if isinstance(begun, Connected):
        return _finish(viewer, flow, begun, settings, out)
    title = flow.connector.title
    if begun.returns == Returns.CALLBACK:
        # A page that follows the link, not a 303: Chrome and Safari apply the form's
        # `form-action 'self'` to a redirect answering it and would stop at another site.
        response = render(request, "connect_go.html", network=title, url=begun.url)
    else:
        action = f"/accounts/connect/{network.value}/finish"
        response = render(
            request, "connect_step.html", network=title, url=begun.url, action=action,
            what=begun.what,
        )  # fmt: skip
    return _keep(response, settings, viewer, network=network.value, state=begun.state)


@router.post("/accounts/connect/{network}/finish")
def pasted(
    request: Request, viewer: PageViewer, settings: SettingsDep, out: OutboundDep,
    network: Network, code: Code,
) -> Response:  # fmt: skip
    """The code or PIN the network showed, pasted."""
    state = _kept(request, settings, viewer, network)
    flow = _flow(network, settings)
    with out.calls.slot(viewer.id):
        connected = flow.finish(state, code)
    return _finish(viewer, flow, connected, settings, out)


@router.get("/accounts/connect/{network}/callback")
def callback(
    request: Request, viewer: PageViewer, settings: SettingsDep, out: OutboundDep,
    network: Network,
) -> Response:  # fmt: skip
    """The network sent the browser back; its connector reads the whole address (the
    code, and the state that proves it answers this attempt)."""
    flow = _flow(network, settings)
    if not request.query_params.get("code"):
        title = flow.connector.title
        return redirect("/accounts", error=f"{title} did not authorize tribe; nothing changed")
    state = _kept(request, settings, viewer, network)
    with out.calls.slot(viewer.id):
        connected = flow.finish(state, str(request.url))
    return _finish(viewer, flow, connected, settings, out)
