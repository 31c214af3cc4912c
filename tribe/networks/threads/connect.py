"""Connecting a Threads account: OAuth 2.0 with a callback, then a long-lived token.

https://developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions
and .../long-lived-tokens:

1. The member's browser opens {AUTH_URL}/oauth/authorize with the app's client_id, the
   redirect_uri, the scopes and a random `state`; Threads sends it back to
   redirect_uri?code=...&state=... (with "#_" appended).
2. POST {API_URL}/oauth/access_token (the code) -> a short-lived token (one hour) and the
   user id.
3. GET {API_URL}/access_token?grant_type=th_exchange_token -> a long-lived token (about
   60 days), which is what tribe keeps; `renew` keeps it alive.
4. GET /v1.0/me?fields=id,username,name: the account's handle is its username.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from urllib.parse import urlencode

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import Network
from tribe.core.outcomes import Credentials
from tribe.networks.base import AppStore, Connected, Field, Returns, Step, callback_code
from tribe.networks.graph import connect_call, graph_client
from tribe.networks.threads.client import APP_SETTINGS, SCOPES, ThreadsApp, token_credentials
from tribe.networks.threads.errors import ThreadsConnectError


class ThreadsConnector:
    """The Connector for Threads (see the module docstring)."""

    network = Network.THREADS
    title = "Threads"
    fields: tuple[Field, ...] = ()

    def __init__(self, app: ThreadsApp, *, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    def begin(self, given: Mapping[str, str], apps: AppStore) -> Step:
        app = self._configured()
        state = secrets.token_urlsafe(24)
        query = {
            "client_id": app.client_id,
            "redirect_uri": app.redirect_url,
            "scope": ",".join(SCOPES),
            "response_type": "code",
            "state": state,
        }
        url = f"{app.auth_url.rstrip('/')}/oauth/authorize?{urlencode(query)}"
        return Step(
            url,
            {"state": state, "redirect_uri": app.redirect_url},
            Returns.CALLBACK,
            "address",
            "Paste the whole address Threads sent you back to",
        )

    def finish(self, state: Mapping[str, str], answer: str, apps: AppStore) -> Connected:
        app = self._configured()
        code = callback_code("Threads", state, answer)
        with graph_client(app.policy, self.timeout) as client:
            short = connect_call(
                client, "POST", app.api("/oauth/access_token"),
                network="Threads", step="finish the sign-in", unreachable=ThreadsConnectError,
                data={
                    "client_id": app.client_id,
                    "client_secret": app.client_secret,
                    "grant_type": "authorization_code",
                    "redirect_uri": state.get("redirect_uri") or app.redirect_url,
                    "code": code,
                },
            )  # fmt: skip
            long = connect_call(
                client, "GET", app.api("/access_token"),
                network="Threads", step="give tribe a lasting sign-in",
                unreachable=ThreadsConnectError,
                params={
                    "grant_type": "th_exchange_token",
                    "client_secret": app.client_secret,
                    "access_token": str(short.get("access_token") or ""),
                },
            )  # fmt: skip
            if not long.get("access_token"):
                raise ThreadsConnectError("Threads gave no lasting sign-in; try again")
            me = connect_call(
                client, "GET", app.api("me"),
                network="Threads", step="tell who the account is", unreachable=ThreadsConnectError,
                params={"fields": "id,username,name", "access_token": str(long["access_token"])},
            )  # fmt: skip
        if not me.get("id") or not me.get("username"):
            raise ThreadsConnectError("Threads did not say who the account is; try again")
        user_id = str(me["id"])
        credentials: Credentials = token_credentials(long, {"user_id": user_id})
        return Connected(
            network=Network.THREADS,
            handle=str(me["username"]),
            credentials=credentials,
            remote_user_id=user_id,
        )

    def _configured(self) -> ThreadsApp:
        app = self.app
        if not (app.client_id and app.client_secret and app.redirect_url):
            raise InvalidInputError(f"connecting Threads needs {APP_SETTINGS} to be set")
        return app
