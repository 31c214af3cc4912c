"""Connecting an X account: OAuth 1.0a with a PIN, or OAuth 2.0 with PKCE and a callback.

Which one (`XConnector.begin`, the `oauth2` entry of what the member gave): "yes" or
"no" as asked (the CLI's --oauth2); when nothing is asked (the web app), OAuth 2.0 where
the operator registered a callback (TRIBE_X_CLIENT_ID and TRIBE_X_REDIRECT_URL), else
OAuth 1.0a, whose PIN a member can paste anywhere. Then GET /2/users/me says who the
account is. The step functions are plain (no database) and the tests drive them one by
one against the fake X (tests/fakenet/x.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

import requests
import tweepy  # type: ignore[import-untyped]

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import Network
from tribe.core.outcomes import Credentials, NeedsReconnect
from tribe.networks.base import AppStore, Connected, Field, Returns, Step
from tribe.networks.x.client import (
    OAUTH1_KEYS,
    OAUTH2_KEYS,
    X_API_URL,
    OAuth1Handler,
    TokenRefused,
    XApp,
    XSession,
    oauth2_credentials,
    token_request,
    user_client,
)
from tribe.networks.x.errors import XConnectError, connect_error, why

X_AUTHORIZE_URL = "https://twitter.com/i/oauth2/authorize"  # what OAuth2UserHandler uses
DEFAULT_SCOPES = ("tweet.read", "tweet.write", "users.read", "offline.access")
CONNECT_TIMEOUT = 15.0  # seconds, for the connect flow (a person is waiting)


class XConnector:
    """The Connector for X (see the module docstring for which flow)."""

    network = Network.X
    title = "X"
    fields: tuple[Field, ...] = ()

    def __init__(self, app: XApp, *, redirect_url: str, timeout: float) -> None:
        self.app = app
        self.redirect_url = redirect_url  # TRIBE_X_REDIRECT_URL: the X app's callback
        self.timeout = timeout

    def begin(self, given: Mapping[str, str], apps: AppStore) -> Step:
        asked = given.get("oauth2", "")
        if asked == "yes" or (not asked and self.app.client_id and self.redirect_url):
            if not self.redirect_url:
                raise InvalidInputError(
                    "OAuth 2.0 needs TRIBE_X_REDIRECT_URL (your X app's callback)"
                )
            url, state = oauth2_start(self.app, redirect_uri=self.redirect_url)
            return Step(
                url, {**state, "flow": "oauth2"}, Returns.CALLBACK, "address",
                "Paste the whole address X sent you back to",
            )  # fmt: skip
        url, state = oauth1_start(self.app, callback="oob", timeout=self.timeout)
        return Step(url, {**state, "flow": "oauth1"}, Returns.PASTE, "PIN", "Type the PIN X shows")

    def finish(self, state: Mapping[str, str], answer: str, apps: AppStore) -> Connected:
        finish = oauth2_finish if state.get("flow") == "oauth2" else oauth1_finish
        credentials = finish(self.app, state, answer, timeout=self.timeout)
        about = describe_account(self.app, credentials, timeout=self.timeout)
        return Connected(
            network=Network.X,
            handle=about["handle"],
            credentials=credentials,
            remote_user_id=about["remote_user_id"],
        )


# OAuth 1.0a ------------------------------------------------------------------------------


def oauth1_start(
    app: XApp, *, callback: str = "oob", timeout: float = CONNECT_TIMEOUT
) -> tuple[str, dict[str, str]]:
    """Step 1 of OAuth 1.0a: (the URL the member opens, state to keep server-side).

    `callback="oob"` gives the member a PIN to paste; a URL gets `oauth_verifier` in the
    redirect. The state holds the request token's secret: never show it to anyone."""
    keys = app.oauth1_keys()
    if keys is None:
        raise InvalidInputError(f"connecting X with OAuth 1.0a needs {OAUTH1_KEYS} to be set")
    handler = OAuth1Handler(app, keys, callback, timeout)
    try:
        url = str(handler.get_authorization_url())
    except tweepy.TweepyException as error:
        raise connect_error(error, "start the sign-in") from error
    token = handler.request_token
    return url, {
        "oauth_token": str(token["oauth_token"]),
        "oauth_token_secret": str(token["oauth_token_secret"]),
        "callback": callback,
    }


def oauth1_finish(
    app: XApp, state: Mapping[str, str], verifier: str, *, timeout: float = CONNECT_TIMEOUT
) -> Credentials:
    """Step 2 of OAuth 1.0a: the PIN (or oauth_verifier) -> credentials to store."""
    keys = app.oauth1_keys()
    if keys is None:
        raise InvalidInputError(f"connecting X with OAuth 1.0a needs {OAUTH1_KEYS} to be set")
    verifier = verifier.strip()
    if not verifier:
        raise InvalidInputError("the PIN X showed is needed to finish connecting")
    handler = OAuth1Handler(app, keys, state.get("callback", "oob"), timeout)
    handler.request_token = {
        "oauth_token": state["oauth_token"],
        "oauth_token_secret": state["oauth_token_secret"],
    }
    try:
        token, secret = handler.get_access_token(verifier)
    except tweepy.TweepyException as error:
        raise connect_error(error, "accept the PIN") from error
    return {"auth": "oauth1", "access_token": str(token), "access_token_secret": str(secret)}


# OAuth 2.0 with PKCE ---------------------------------------------------------------------


def _authorize_url(app: XApp, url: str) -> str:
    """OAuth2UserHandler's hard-coded twitter.com page, moved for a non-default api_url."""
    if app.base == X_API_URL or not url.startswith(X_AUTHORIZE_URL):
        return url
    return f"{app.base}/i/oauth2/authorize{url[len(X_AUTHORIZE_URL) :]}"


def oauth2_start(
    app: XApp, *, redirect_uri: str, scopes: Iterable[str] = DEFAULT_SCOPES
) -> tuple[str, dict[str, str]]:
    """Step 1 of OAuth 2.0 with PKCE: (the URL the member opens, state to keep server-side).

    The state holds the PKCE code verifier: never show it to anyone."""
    if not app.client_id:
        raise InvalidInputError(f"connecting X with OAuth 2.0 needs {OAUTH2_KEYS} to be set")
    handler = tweepy.OAuth2UserHandler(
        client_id=app.client_id,
        redirect_uri=redirect_uri,
        scope=list(scopes),
        client_secret=app.client_secret,
    )
    url = str(handler.get_authorization_url())
    query = dict(parse_qsl(urlsplit(url).query))
    return _authorize_url(app, url), {
        "state": query["state"],
        "code_verifier": str(handler._client.code_verifier),
        "redirect_uri": redirect_uri,
    }


def oauth2_finish(
    app: XApp,
    state: Mapping[str, str],
    authorization_response: str,
    *,
    timeout: float = CONNECT_TIMEOUT,
) -> Credentials:
    """Step 2 of OAuth 2.0: the URL X redirected to (or just its `code`) -> credentials."""
    if not app.client_id:
        raise InvalidInputError(f"connecting X with OAuth 2.0 needs {OAUTH2_KEYS} to be set")
    given = authorization_response.strip()
    if "?" in given or "://" in given:
        query = dict(parse_qsl(urlsplit(given).query))
        if "error" in query:
            raise InvalidInputError(f"X did not grant access: {query['error']}")
        if query.get("state") != state["state"]:
            raise InvalidInputError("that sign-in answer belongs to another attempt: start again")
        code = query.get("code", "")
    else:
        code = given
    if not code:
        raise InvalidInputError("the answer from X holds no authorization code")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": state["redirect_uri"],
        "code_verifier": state["code_verifier"],
    }
    try:
        answer = token_request(app, form, timeout)
    except TokenRefused as error:
        if 400 <= error.status < 500 and error.status != 429:
            raise InvalidInputError(f"X refused the sign-in ({error}): start again") from error
        raise XConnectError(f"X could not finish the sign-in now ({error}); try again") from error
    except requests.RequestException as error:
        raise XConnectError(f"could not reach X to finish the sign-in ({why(error)})") from error
    creds = oauth2_credentials(answer, {})
    if not creds["refresh_token"]:
        del creds["refresh_token"]  # no offline.access: the member reconnects every 2 hours
    return creds


# Who the account is ----------------------------------------------------------------------


def describe_account(app: XApp, creds: Credentials, *, timeout: float) -> dict[str, str]:
    """Who the credentials belong to: {"remote_user_id", "handle", "name"} (GET /2/users/me)."""
    with XSession(app.api_url, timeout, policy=app.policy) as session:
        try:
            client, user_auth = user_client(app, session, creds, None)
        except NeedsReconnect as error:
            raise InvalidInputError(str(error)) from None
        try:
            answer = client.get_me(user_auth=user_auth)
        except (tweepy.TweepyException, requests.RequestException) as error:
            raise connect_error(error, "tell who the account is") from error
    data = answer.get("data") or {}
    return {
        "remote_user_id": str(data["id"]),
        "handle": str(data["username"]),
        "name": str(data.get("name") or data["username"]),
    }
