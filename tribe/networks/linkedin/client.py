"""LinkedIn's REST contract through httpx: the operator's app, guarded clients, tokens.

- Every request goes through an httpx client on tribe's `GuardedTransport`: each
  connection is checked against `LinkedInApp.policy`, a redirect is refused instead of
  followed, and the account's timeout bounds every connect, read and write.
- Two hosts, both settings: TRIBE_LINKEDIN_AUTH_URL (www.linkedin.com: the member's
  authorize page and the token endpoint) and TRIBE_LINKEDIN_API_URL (api.linkedin.com:
  /v2/userinfo and the versioned /rest/posts).
- The versioned REST API wants `LinkedIn-Version: YYYYMM` and `X-Restli-Protocol-Version:
  2.0.0` on every call (Posts API, "All APIs require the request header ...").
- Tokens (Authorization Code flow, "Refresh tokens"): access tokens last about 60 days;
  only apps LinkedIn enabled for programmatic refresh also get a refresh token (about a
  year, not extended by using it). The stored credentials::

      {"access_token": "...", "expires_at": 1767225600, "scope": "openid profile ...",
       "refresh_token": "...", "refresh_token_expires_at": 1798761600}   # when given
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from config import Settings
from tribe.core.errors import InvalidInputError
from tribe.core.outcomes import AccountContext, Credentials, NeedsReconnect, Transient, runs_out
from tribe.infra.netguard import AddressPolicy
from tribe.infra.transports import guarded_client
from tribe.networks.base import address_policy, httpx_no_answer

# The Posts API version tribe speaks (LinkedIn serves each version for about a year).
LINKEDIN_VERSION = "202605"
REST_HEADERS = {"LinkedIn-Version": LINKEDIN_VERSION, "X-Restli-Protocol-Version": "2.0.0"}
APP_SETTINGS = (
    "TRIBE_LINKEDIN_CLIENT_ID, TRIBE_LINKEDIN_CLIENT_SECRET and TRIBE_LINKEDIN_REDIRECT_URL"
)
DEFAULT_LIFETIME = 60 * 24 * 3600  # seconds: what LinkedIn gives when it does not say
REFRESH_MARGIN = 120  # seconds: renew an access token this long before it runs out


@dataclass(frozen=True)
class LinkedInApp:
    """The operator's LinkedIn app, built from settings (TRIBE_LINKEDIN_*)."""

    auth_url: str = "https://www.linkedin.com"
    api_url: str = "https://api.linkedin.com"
    client_id: str = ""
    client_secret: str = ""
    redirect_url: str = ""
    policy: AddressPolicy = field(default_factory=AddressPolicy)  # where it may connect

    @classmethod
    def from_settings(cls, settings: Settings) -> LinkedInApp:
        return cls(
            auth_url=settings.TRIBE_LINKEDIN_AUTH_URL.rstrip("/"),
            api_url=settings.TRIBE_LINKEDIN_API_URL.rstrip("/"),
            client_id=settings.TRIBE_LINKEDIN_CLIENT_ID,
            client_secret=settings.TRIBE_LINKEDIN_CLIENT_SECRET,
            redirect_url=settings.TRIBE_LINKEDIN_REDIRECT_URL,
            policy=address_policy(settings),
        )

    def api(self, path: str) -> str:
        return self.api_url.rstrip("/") + path

    def auth(self, path: str) -> str:
        return self.auth_url.rstrip("/") + path


def http(app: LinkedInApp, timeout: float) -> httpx.Client:
    """A client whose every connection goes through the guard, redirects refused."""
    return guarded_client(app.policy, timeout)


def bearer(creds: Credentials) -> dict[str, str]:
    """The Authorization header for the stored access token; NeedsReconnect without one."""
    token = creds.get("access_token")
    if not isinstance(token, str) or not token:
        raise NeedsReconnect("tribe holds no LinkedIn sign-in for this account: connect it again")
    return {"Authorization": f"Bearer {token}"}


def expiring(creds: Credentials, margin: float = REFRESH_MARGIN) -> bool:
    """The credentials run out within `margin` seconds (or have)."""
    until = runs_out(creds)
    return until is not None and until.timestamp() - margin <= time.time()


# The token endpoint ----------------------------------------------------------------------


class TokenRefused(Exception):
    """POST /oauth/v2/accessToken answered with an error (or without a token)."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        self.status = status
        said = body.get("error_description") or body.get("error") or "no reason given"
        super().__init__(f"{status}: {said}")

    @property
    def refused(self) -> bool:
        """LinkedIn said no to this grant (a 4xx other than a rate limit): asking again
        with the same code or refresh token cannot work."""
        return 400 <= self.status < 500 and self.status != 429


def token_request(app: LinkedInApp, form: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """POST {AUTH_URL}/oauth/v2/accessToken (form-encoded, the app's id and secret in the
    form, as LinkedIn documents): the answer; TokenRefused on an error, httpx's errors
    when no answer came."""
    if not (app.client_id and app.client_secret):
        raise InvalidInputError(f"LinkedIn needs {APP_SETTINGS} to be set")
    with http(app, timeout) as client:
        response = client.post(
            app.auth("/oauth/v2/accessToken"),
            data={**form, "client_id": app.client_id, "client_secret": app.client_secret},
            headers={"Accept": "application/json"},
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code != 200 or not body.get("access_token"):
        raise TokenRefused(response.status_code, body)
    return body


def token_credentials(answer: Mapping[str, Any], previous: Mapping[str, Any]) -> Credentials:
    """What to store from a token answer; a refresh that names no new refresh token keeps
    the old one (and when it runs out)."""
    now = int(time.time())
    creds: Credentials = {
        **previous,
        "access_token": str(answer["access_token"]),
        "expires_at": now + _seconds(answer.get("expires_in"), DEFAULT_LIFETIME),
    }
    if answer.get("scope"):
        creds["scope"] = str(answer["scope"])
    if answer.get("refresh_token"):
        creds["refresh_token"] = str(answer["refresh_token"])
        lifetime = _seconds(answer.get("refresh_token_expires_in"), 0)
        if lifetime:
            creds["refresh_token_expires_at"] = now + lifetime
        else:
            creds.pop("refresh_token_expires_at", None)
    return creds


def _seconds(value: object, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return default
    try:
        return max(int(value), 0)
    except ValueError:
        return default


def renew_sign_in(app: LinkedInApp, account: AccountContext, stale: Credentials) -> Credentials:
    """New credentials from the refresh token, stored under the account's lock before they
    are used. Another worker (or a reconnect) that replaced `stale` meanwhile wins: its
    credentials are returned and nothing is asked. NeedsReconnect when LinkedIn gives no
    refresh token for this app, or refuses it; Transient when it could not be asked now."""
    stale_token = stale.get("access_token")

    def update(current: Credentials) -> Credentials | None:
        if current.get("access_token") != stale_token:
            return None
        refresh_token = current.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            raise NeedsReconnect(_cannot_renew(current))
        if expiring({"expires_at": current.get("refresh_token_expires_at")}, margin=0):
            raise NeedsReconnect(
                "LinkedIn's sign-in for this account ran out and can no longer be renewed: "
                "connect it again"
            )
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        try:
            answer = token_request(app, form, account.timeout)
        except InvalidInputError as missing:  # the operator's settings: fixable, retry later
            raise Transient(str(missing)) from None
        except TokenRefused as error:
            if error.refused:
                raise NeedsReconnect(
                    f"LinkedIn no longer renews this account's sign-in ({error}): connect it again"
                ) from error
            raise Transient(f"LinkedIn could not renew the sign-in now ({error})") from error
        except httpx.HTTPError as error:
            reason = httpx_no_answer(error).reason
            raise Transient(f"could not renew the sign-in with LinkedIn: {reason}") from error
        return token_credentials(answer, current)

    creds = account.refresh(update)
    bearer(creds)
    return creds


def _cannot_renew(creds: Credentials) -> str:
    """Why there is no renewing, and until when the member has to sign in again."""
    if expiring(creds, margin=0):
        return "LinkedIn's sign-in for this account ran out and cannot be renewed: connect it again"
    expires_at = creds.get("expires_at")
    when = ""
    if isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
        when = " before " + time.strftime("%Y-%m-%d", time.gmtime(expires_at))
    return "LinkedIn does not let tribe renew this sign-in: connect the account again" + when
