"""The operator's Threads app, and calls signed in as an account, over guarded httpx.

Every call goes through `tribe.networks.graph` (httpx on tribe's guard, redirects
refused, the account's timeout; Graph errors read by a ladder). The token travels as the
`access_token` parameter, as Meta's Threads reference shows it.

Credentials (what connect.py stores, encrypted)::

    {
        "access_token": "THQV...",   # long-lived: about 60 days
        "token_type": "bearer",
        "expires_at": 1714567890,    # epoch seconds
        "user_id": "26000001",       # the Threads user id (also remote_user_id)
    }

Renewing (https://developers.facebook.com/docs/threads/get-started/long-lived-tokens):
GET /refresh_access_token?grant_type=th_refresh_token answers a new long-lived token
for one that is at least a day old and not yet expired. A token that has run out cannot
be renewed: the member signs in again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from config import Settings
from tribe.core.outcomes import AccountContext, Credentials, NeedsReconnect, Rejected, runs_out
from tribe.infra.netguard import AddressPolicy
from tribe.networks.base import address_policy
from tribe.networks.graph import expires_at, graph_call, graph_client
from tribe.networks.threads.errors import RenewalLadder, ThreadsLadder

API_VERSION = "v1.0"
SCOPES = ("threads_basic", "threads_content_publish", "threads_manage_insights")
APP_SETTINGS = "TRIBE_THREADS_CLIENT_ID, TRIBE_THREADS_CLIENT_SECRET and TRIBE_THREADS_REDIRECT_URL"


@dataclass(frozen=True)
class ThreadsApp:
    """The operator's Threads app, built from settings (TRIBE_THREADS_*)."""

    auth_url: str = "https://threads.net"
    api_url: str = "https://graph.threads.net"
    client_id: str = ""
    client_secret: str = ""
    redirect_url: str = ""
    policy: AddressPolicy = field(default_factory=AddressPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> ThreadsApp:
        return cls(
            auth_url=settings.TRIBE_THREADS_AUTH_URL,
            api_url=settings.TRIBE_THREADS_API_URL,
            client_id=settings.TRIBE_THREADS_CLIENT_ID,
            client_secret=settings.TRIBE_THREADS_CLIENT_SECRET,
            redirect_url=settings.TRIBE_THREADS_REDIRECT_URL,
            policy=address_policy(settings),
        )

    def api(self, path: str) -> str:
        """An address on the Graph host: "/oauth/access_token", or "me" under the version."""
        base = self.api_url.rstrip("/")
        return f"{base}{path}" if path.startswith("/") else f"{base}/{API_VERSION}/{path}"


def access_token(creds: Credentials) -> str:
    token = creds.get("access_token")
    if not isinstance(token, str) or not token:
        raise NeedsReconnect("tribe holds no Threads sign-in for this account: connect it again")
    return token


def user_id(account: AccountContext) -> str:
    found = account.remote_user_id or account.credentials.get("user_id")
    if not found:
        raise NeedsReconnect("tribe does not know this Threads account's id: connect it again")
    return str(found)


def token_credentials(answer: Mapping[str, Any], previous: Mapping[str, Any]) -> Credentials:
    """What to store from a long-lived token answer ({access_token, token_type, expires_in})."""
    creds: Credentials = {
        **previous,
        "access_token": str(answer["access_token"]),
        "token_type": str(answer.get("token_type") or "bearer"),
    }
    runs = expires_at(answer.get("expires_in"))
    if runs is not None:
        creds["expires_at"] = runs
    return creds


class Signed:
    """Calls signed in as one account with one token, on one guarded client."""

    def __init__(self, app: ThreadsApp, token: str, timeout: float) -> None:
        self.app = app
        self.token = token
        self.client = graph_client(app.policy, timeout)

    def __enter__(self) -> Signed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def get(self, path: str, ladder: ThreadsLadder, **params: str) -> dict[str, Any]:
        return graph_call(
            self.client,
            ladder,
            "GET",
            self.app.api(path),
            params={**params, "access_token": self.token},
        )

    def post(self, path: str, ladder: ThreadsLadder, **form: str) -> dict[str, Any]:
        return graph_call(
            self.client,
            ladder,
            "POST",
            self.app.api(path),
            data={**form, "access_token": self.token},
        )


def renew_token(app: ThreadsApp, creds: Credentials, timeout: float) -> Credentials:
    """GET /refresh_access_token: the renewed credentials. NeedsReconnect (with the date
    the token runs out) when Threads refuses; Transient when it could not be asked."""
    ladder = RenewalLadder()
    with Signed(app, access_token(creds), timeout) as signed:
        try:
            answer = signed.get("/refresh_access_token", ladder, grant_type="th_refresh_token")
        except (NeedsReconnect, Rejected) as refused:  # a 4xx: it will not, now or later
            raise NeedsReconnect(renewal_refused(str(refused), creds)) from refused
    if not answer.get("access_token"):
        raise NeedsReconnect(renewal_refused("Threads answered without a new token", creds))
    return token_credentials(answer, creds)


def renewal_refused(why: str, creds: Credentials) -> str:
    until = runs_out(creds)
    if until is None or until.timestamp() <= time.time():
        return f"Threads will not renew this account's sign-in ({why}): connect it again"
    return (
        f"Threads will not renew this account's sign-in ({why}): connect it again before "
        f"{until:%Y-%m-%d %H:%M} UTC"
    )
