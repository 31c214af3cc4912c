"""tweepy, tamed: the operator's app, sessions on the guard, and the OAuth 2.0 token endpoint.

- `BaseClient.request` hard-codes https://api.twitter.com and sets no timeout: every
  client gets an `XSession` that rewrites that prefix to `XApp.api_url` (a setting; a
  fake server in tests) and puts `timeout` on every request. `wait_on_rate_limit` stays
  off (it would sleep in a worker).
- Every request, tweepy's and requests_oauthlib's, goes through tribe's guarded adapter
  (tribe/infra/netguard.py): connections checked against `XApp.policy`, redirects
  refused. The API URL is the operator's, but one way out is simpler to trust than two.
- `Client.retweet` finds the user id itself (the token's prefix for OAuth 1.0a, a
  GET /2/users/me for OAuth 2.0); here it is the account's stored `remote_user_id`.
- OAuth 1.0a: `tweepy.OAuth1UserHandler` with its URLs moved to `api_url` and the guard
  and a timeout on each of its requests_oauthlib sessions.
- OAuth 2.0: the code exchange and the refresh are plain form POSTs through `XSession`
  (requests_oauthlib/oauthlib refuse http:// token URLs and set no timeout).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import tweepy  # type: ignore[import-untyped]

from config import Settings
from tribe.core.errors import InvalidInputError
from tribe.core.outcomes import Credentials, NeedsReconnect
from tribe.infra.guarded_requests import guard_session
from tribe.infra.netguard import AddressPolicy
from tribe.networks.base import address_policy

X_API_URL = "https://api.twitter.com"  # what tweepy hard-codes
OAUTH1_KEYS = "TRIBE_X_API_KEY and TRIBE_X_API_SECRET"
OAUTH2_KEYS = "TRIBE_X_CLIENT_ID (and TRIBE_X_CLIENT_SECRET for a confidential client)"


@dataclass(frozen=True)
class XApp:
    """The operator's X app, built from settings (TRIBE_X_*)."""

    api_url: str = X_API_URL
    consumer_key: str | None = None  # OAuth 1.0a
    consumer_secret: str | None = None
    client_id: str | None = None  # OAuth 2.0
    client_secret: str | None = None
    policy: AddressPolicy = field(default_factory=AddressPolicy)  # where it may connect

    @classmethod
    def from_settings(cls, settings: Settings) -> XApp:
        return cls(
            api_url=settings.TRIBE_X_API_URL,
            consumer_key=settings.TRIBE_X_API_KEY or None,
            consumer_secret=settings.TRIBE_X_API_SECRET or None,
            client_id=settings.TRIBE_X_CLIENT_ID or None,
            client_secret=settings.TRIBE_X_CLIENT_SECRET or None,
            policy=address_policy(settings),
        )

    @property
    def base(self) -> str:
        return self.api_url.rstrip("/")

    def oauth1_keys(self) -> tuple[str, str] | None:
        if self.consumer_key and self.consumer_secret:
            return self.consumer_key, self.consumer_secret
        return None


class XSession(requests.Session):
    """A requests session that sends tweepy's https://api.twitter.com calls to `api_url`,
    never waits longer than `timeout` seconds for a connection or for the next bytes of an
    answer, and connects only through the guard."""

    def __init__(self, api_url: str, timeout: float, *, policy: AddressPolicy) -> None:
        super().__init__()
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        guard_session(self, policy, timeout=timeout)

    def request(
        self, method: str, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if isinstance(url, str) and (url == X_API_URL or url.startswith(X_API_URL + "/")):
            url = self.api_url + url[len(X_API_URL) :]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


class XClient(tweepy.Client):  # type: ignore[misc]
    """tweepy's v2 client on an `XSession`, answering dicts, knowing the user id."""

    def __init__(self, session: XSession, user_id: str | None, **auth: Any) -> None:
        super().__init__(return_type=dict, wait_on_rate_limit=False, **auth)
        self.session = session
        self.known_user_id = user_id

    def _get_authenticating_user_id(self, *, oauth_1: bool = False) -> str:
        if self.known_user_id:
            return self.known_user_id
        return str(super()._get_authenticating_user_id(oauth_1=oauth_1))


def auth_kind(creds: Credentials) -> str:
    """The kind of usable credentials, "oauth1" or "oauth2"; else NeedsReconnect."""
    kind = creds.get("auth")
    if kind == "oauth1" and creds.get("access_token") and creds.get("access_token_secret"):
        return "oauth1"
    if kind == "oauth2" and creds.get("access_token"):
        return "oauth2"
    raise NeedsReconnect("the account holds no usable X sign-in: connect it again")


def user_client(
    app: XApp, session: XSession, creds: Credentials, user_id: str | None
) -> tuple[XClient, bool]:
    """(a client signed in as the account, whether calls need `user_auth`): OAuth 1.0a
    signs with the app's keys and the account's token pair; an OAuth 2.0 user token is a
    bearer token (tweepy then wants `user_auth=False`). InvalidInputError when the app's
    OAuth 1.0a keys are not set."""
    if auth_kind(creds) == "oauth2":
        return XClient(session, user_id, bearer_token=creds["access_token"]), False
    keys = app.oauth1_keys()
    if keys is None:
        raise InvalidInputError(f"X OAuth 1.0a accounts need {OAUTH1_KEYS} to be set")
    client = XClient(
        session,
        user_id,
        consumer_key=keys[0],
        consumer_secret=keys[1],
        access_token=creds["access_token"],
        access_token_secret=creds["access_token_secret"],
    )
    return client, True


class OAuth1Handler(tweepy.OAuth1UserHandler):  # type: ignore[misc]
    """tweepy's OAuth 1.0a handler on `api_url`, with the guard and a timeout on every
    request."""

    def __init__(self, app: XApp, keys: tuple[str, str], callback: str, timeout: float) -> None:
        self._base = app.base
        self._timeout = timeout
        self._policy = app.policy
        super().__init__(keys[0], keys[1], callback=callback)

    @property
    def oauth(self) -> requests.Session:
        return self._oauth

    @oauth.setter
    def oauth(self, session: requests.Session) -> None:
        # tweepy makes a new requests_oauthlib session per step: each gets the guard.
        self._oauth = guard_session(session, self._policy, timeout=self._timeout)

    def _get_oauth_url(self, endpoint: str) -> str:
        return f"{self._base}/oauth/{endpoint}"


# The OAuth 2.0 token endpoint ------------------------------------------------------------


class TokenRefused(Exception):
    """POST /2/oauth2/token answered with an error."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        said = body.get("error_description") or body.get("error") or "no reason given"
        super().__init__(f"{status}: {said}")


def token_request(app: XApp, form: dict[str, str], timeout: float) -> dict[str, Any]:
    """POST /2/oauth2/token: the token answer as X sends it; `TokenRefused` on an error."""
    if not app.client_id:
        raise InvalidInputError(f"X OAuth 2.0 needs {OAUTH2_KEYS} to be set")
    auth = (app.client_id, app.client_secret) if app.client_secret else None
    with XSession(app.api_url, timeout, policy=app.policy) as session:
        response = session.post(
            f"{app.base}/2/oauth2/token",
            data={**form, "client_id": app.client_id},
            auth=auth,
            headers={"Accept": "application/json"},
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        raise TokenRefused(response.status_code, body)
    return body


def oauth2_credentials(answer: Mapping[str, Any], previous: Mapping[str, Any]) -> Credentials:
    """What to store from a token answer (`expires_at` in epoch seconds)."""
    creds: Credentials = {
        **previous,
        "auth": "oauth2",
        "access_token": str(answer["access_token"]),
        "refresh_token": str(answer.get("refresh_token") or previous.get("refresh_token") or ""),
        "expires_at": int(time.time()) + int(answer.get("expires_in") or 7200),
    }
    if answer.get("scope"):
        creds["scope"] = str(answer["scope"])
    return creds
