"""Mastodon.py, tamed: one client per call, on a guarded session that remembers the answer.

- `api_base_url` is the member's instance (or a local fake); `ratelimit_method="throw"`
  (never sleep in a worker); `version_check_mode="none"` (no extra request per client).
- Mastodon.py's own `requests` session would follow redirects: every client gets one
  from `guard_session` (tribe/infra/netguard.py), whose connections are checked against
  the `AddressPolicy` and which refuses a redirect instead of following it (a 307 would
  carry the token elsewhere).
- Mastodon.py's exceptions do not carry the answer's headers (its rate limit reset, its
  error body): the session's response hook keeps the last answer in `Seen`.
- A client of its own per call: Mastodon.py's clients keep per-call state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from mastodon import Mastodon

from tribe.core.outcomes import AccountContext, NeedsReconnect
from tribe.infra.guarded_requests import guard_session
from tribe.infra.netguard import AddressPolicy

CLIENT_NAME = "tribe"
DEFAULT_USER_AGENT = "tribe (Mastodon.py)"
# The least tribe needs: who the account is, its statuses (for `find`), and to post/boost.
SCOPES = ["read:accounts", "read:statuses", "write:statuses"]


@dataclass
class Seen:
    """The last HTTP answer: Mastodon.py's exceptions do not carry its headers."""

    response: requests.Response | None = None


def guarded_session(seen: Seen, policy: AddressPolicy, timeout: float) -> requests.Session:
    """A session whose connections go through tribe's guard, redirects refused."""
    session = guard_session(requests.Session(), policy, timeout=timeout)

    def remember(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        seen.response = response
        return response

    session.hooks["response"].append(remember)
    return session


@contextmanager
def api(
    base_url: str,
    *,
    policy: AddressPolicy,
    timeout: float,
    user_agent: str,
    access_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> Iterator[tuple[Mastodon, Seen]]:
    """A client for one call, and what it last heard."""
    seen = Seen()
    session = guarded_session(seen, policy, timeout)
    try:
        yield (
            Mastodon(
                client_id=client_id,
                client_secret=client_secret,
                access_token=access_token,
                api_base_url=base_url,
                ratelimit_method="throw",
                request_timeout=timeout,
                version_check_mode="none",
                session=session,
                user_agent=user_agent,
            ),
            seen,
        )
    finally:
        session.close()


@contextmanager
def account_api(
    account: AccountContext, user_agent: str, policy: AddressPolicy
) -> Iterator[tuple[Mastodon, Seen]]:
    """A client signed in as the account (its instance and token as stored)."""
    token = account.credentials.get("access_token")
    if not account.base_url:
        raise NeedsReconnect("the Mastodon server of this account is not known; connect it again")
    if not isinstance(token, str) or not token:
        raise NeedsReconnect("tribe holds no Mastodon access for this account; connect it again")
    with api(
        account.base_url,
        policy=policy,
        timeout=account.timeout,
        user_agent=user_agent,
        access_token=token,
    ) as pair:
        yield pair


def host_of(base_url: str) -> str:
    """The server's name for messages: "mastodon.social" (with a port if one is given)."""
    value = base_url if "://" in base_url else "https://" + base_url
    parts = urlsplit(value)
    name = parts.hostname or base_url or "the Mastodon server"
    return name if parts.port is None else f"{name}:{parts.port}"


def dig(value: Any, *keys: str) -> Any:
    """`value[k1][k2]...` through Mastodon.py's dicts, None where a level is missing."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
