"""Connecting a LinkedIn profile ("Sign In with LinkedIn using OpenID Connect"), and keeping
its sign-in alive.

`begin` sends the member to LinkedIn's authorize page (scopes `openid profile` to know
who they are, `w_member_social` to post for them) with a random `state`; LinkedIn sends
the browser back to TRIBE_LINKEDIN_REDIRECT_URL with `code` and `state` (or `error`,
when the member declined). `finish` checks the state, exchanges the code at the token
endpoint, and asks GET /v2/userinfo who signed in: the OpenID `sub` is the member's
person id (author URN urn:li:person:{sub}), `name` the account's handle.

Access tokens last about 60 days. `LinkedInRenewer` renews one before it runs out where
LinkedIn gave the app a refresh token; elsewhere the member is told to connect again in
time.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import Network
from tribe.core.outcomes import AccountContext, Credentials, PublishError
from tribe.networks.base import (
    AppStore,
    Connected,
    Field,
    Returns,
    Step,
    callback_code,
    httpx_no_answer,
)
from tribe.networks.linkedin.client import (
    APP_SETTINGS,
    LinkedInApp,
    TokenRefused,
    bearer,
    http,
    renew_sign_in,
    token_credentials,
    token_request,
)
from tribe.networks.linkedin.errors import LinkedInConnectError, LinkedInLadder, json_of, send

SCOPES = ("openid", "profile", "w_member_social")
HANDLE_LENGTH = 100  # what tribe keeps of a profile's name (tribe/members/accounts.py)


class LinkedInConnector:
    """The Connector for LinkedIn: the authorize page, then LinkedIn's callback."""

    network = Network.LINKEDIN
    title = "LinkedIn"
    fields: tuple[Field, ...] = ()

    def __init__(self, app: LinkedInApp, *, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    def begin(self, given: Mapping[str, str], apps: AppStore) -> Step:
        app = self.app
        if not (app.client_id and app.client_secret and app.redirect_url):
            raise InvalidInputError(f"connecting LinkedIn needs {APP_SETTINGS} to be set")
        state = {"state": secrets.token_urlsafe(24), "redirect_uri": app.redirect_url}
        query = urlencode(
            {
                "response_type": "code",
                "client_id": app.client_id,
                "redirect_uri": app.redirect_url,
                "state": state["state"],
                "scope": " ".join(SCOPES),
            }
        )
        return Step(
            app.auth(f"/oauth/v2/authorization?{query}"), state, Returns.CALLBACK, "address",
            "Paste the whole address LinkedIn sent you back to",
        )  # fmt: skip

    def finish(self, state: Mapping[str, str], answer: str, apps: AppStore) -> Connected:
        credentials = self.exchange(state, callback_code("LinkedIn", state, answer))
        who = self.who(credentials)
        return Connected(
            network=Network.LINKEDIN,
            handle=who["name"],
            credentials=credentials,
            remote_user_id=who["sub"],
        )

    def exchange(self, state: Mapping[str, str], code: str) -> Credentials:
        """The authorization code for the credentials to store."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": state.get("redirect_uri") or self.app.redirect_url,
        }
        try:
            answer = token_request(self.app, form, self.timeout)
        except TokenRefused as error:
            if error.refused:
                raise InvalidInputError(
                    f"LinkedIn refused the sign-in ({error}): start again"
                ) from error
            raise LinkedInConnectError(
                f"LinkedIn could not finish the sign-in now ({error}); try again"
            ) from error
        except httpx.HTTPError as error:
            reason = httpx_no_answer(error).reason
            raise LinkedInConnectError(
                f"could not reach LinkedIn to finish the sign-in ({reason}); try again"
            ) from error
        return token_credentials(answer, {})

    def who(self, credentials: Credentials) -> dict[str, str]:
        """{"sub", "name"} of the member the credentials belong to (GET /v2/userinfo)."""
        ladder = LinkedInLadder(acts=False)
        try:
            with http(self.app, self.timeout) as client:
                response = send(
                    client, ladder, "GET", self.app.api("/v2/userinfo"), headers=bearer(credentials)
                )
                about = json_of(response, ladder)
        except PublishError as error:
            raise LinkedInConnectError(
                f"LinkedIn could not say who signed in ({error}); try again"
            ) from error
        sub, name = about.get("sub"), " ".join(str(about.get("name") or "").split())
        if not isinstance(sub, str) or not sub:
            raise LinkedInConnectError("LinkedIn did not say who signed in; try again")
        return {"sub": sub, "name": name[:HANDLE_LENGTH].rstrip() or sub}


class LinkedInRenewer:
    """The Renewer for LinkedIn: the refresh token where LinkedIn gave one."""

    def __init__(self, app: LinkedInApp) -> None:
        self.app = app

    def renew(self, account: AccountContext) -> Credentials:
        return renew_sign_in(self.app, account, account.credentials)
