"""The operator's Facebook app, the Graph API's addresses, and the per-Page hold on calls.

Every call is plain httpx through `tribe.networks.graph.graph_client` (tribe's guard on
every connection, redirects refused, the account's timeout). The access token travels
as the `access_token` parameter with its `appsecret_proof` (an HMAC of the token keyed
by the app secret: Meta's "Securing Graph API Requests"), so a token copied out of a
log or a database backup is of no use without the operator's app secret.

Holds. Meta counts a Page's calls over a rolling hour and says how much of it is spent
in the usage headers of every answer (`X-Business-Use-Case-Usage` for Page tokens, with
`estimated_time_to_regain_access`). Once an answer says 100%, or a call is throttled,
every further call for that Page would be refused (and counts against the app), so the
process remembers until when (`Holds`) and answers RateLimited without calling. A worker
never sleeps for it: the delivery is due again at that time.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from config import Settings
from tribe.core.outcomes import AccountContext, NeedsReconnect, RateLimited
from tribe.infra.netguard import AddressPolicy
from tribe.networks.base import address_policy
from tribe.networks.graph import graph_client, read_usage

GRAPH_VERSION = "v21.0"
FACEBOOK_API_URL = "https://graph.facebook.com"
FACEBOOK_AUTH_URL = "https://www.facebook.com"
APP_KEYS = "TRIBE_FACEBOOK_CLIENT_ID and TRIBE_FACEBOOK_CLIENT_SECRET"
HOLD_FALLBACK = timedelta(minutes=15)  # usage at 100% without a time it comes back


@dataclass(frozen=True)
class FacebookApp:
    """The operator's Facebook app, built from settings (TRIBE_FACEBOOK_*)."""

    client_id: str = ""
    client_secret: str = ""
    auth_url: str = FACEBOOK_AUTH_URL  # where the member's browser signs in
    api_url: str = FACEBOOK_API_URL  # where tribe calls the Graph API
    policy: AddressPolicy = field(default_factory=AddressPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> FacebookApp:
        return cls(
            client_id=settings.TRIBE_FACEBOOK_CLIENT_ID,
            client_secret=settings.TRIBE_FACEBOOK_CLIENT_SECRET,
            auth_url=settings.TRIBE_FACEBOOK_AUTH_URL,
            api_url=settings.TRIBE_FACEBOOK_API_URL,
            policy=address_policy(settings),
        )

    def graph(self, path: str) -> str:
        """The versioned Graph API address of `path` ("me/accounts", "<page-id>/feed")."""
        return f"{self.api_url.rstrip('/')}/{GRAPH_VERSION}/{path}"

    def dialog(self) -> str:
        """The login dialog the member's browser opens."""
        return f"{self.auth_url.rstrip('/')}/{GRAPH_VERSION}/dialog/oauth"

    def signed(self, token: str) -> dict[str, str]:
        """The parameters that sign a call with `token` (and its appsecret_proof)."""
        params = {"access_token": token}
        if self.client_secret:
            proof = hmac.new(self.client_secret.encode(), token.encode(), hashlib.sha256)
            params["appsecret_proof"] = proof.hexdigest()
        return params


def page_of(account: AccountContext) -> tuple[str, str]:
    """(the Page id, its token) of a connected account; NeedsReconnect when either is
    missing (connected by an older tribe, or the credentials were cleared)."""
    token = account.credentials.get("access_token")
    if not account.remote_user_id or not isinstance(token, str) or not token:
        raise NeedsReconnect(
            f"tribe holds no Facebook Page sign-in for {account.handle}: connect it again"
        )
    return account.remote_user_id, token


class Holds:
    """Until when each Page's calls are held, in this process (see the module docstring).
    Thread-safe: the publisher and the follower counter share one across workers' threads."""

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def check(self, page_id: str, now: datetime | None = None) -> None:
        """Raise RateLimited while the Page's calls are held."""
        now = now or datetime.now(UTC)
        with self._lock:
            until = self._until.get(page_id)
            if until is not None and until <= now:
                del self._until[page_id]
                until = None
        if until is not None:
            raise RateLimited(
                "Facebook says this Page has used its calls for now; trying again after "
                f"{until:%Y-%m-%d %H:%M} UTC",
                until,
            )

    def hold(self, page_id: str, until: datetime) -> None:
        with self._lock:
            current = self._until.get(page_id)
            if current is None or current < until:
                self._until[page_id] = until

    def note(self, page_id: str, response: httpx.Response) -> None:
        """Read an answer's usage headers: hold the Page once they say 100%."""
        now = datetime.now(UTC)
        usage = read_usage(response.headers, now)
        if usage.percent >= 100:
            self.hold(page_id, usage.regain or now + HOLD_FALLBACK)


def page_client(app: FacebookApp, holds: Holds, page_id: str, timeout: float) -> httpx.Client:
    """A guarded client whose every answer's usage headers are noted for the Page."""
    client = graph_client(app.policy, timeout)
    client.event_hooks["response"] = [lambda response: holds.note(page_id, response)]
    return client
