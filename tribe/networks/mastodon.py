"""Mastodon: post, boost and connect accounts, through Mastodon.py.

Credentials (what the vault stores for a Mastodon account)::

    {"access_token": "..."}

The instance's API address is `AccountContext.base_url` (e.g. "https://mastodon.social");
the account id is `AccountContext.remote_user_id`. Tokens do not expire, so nothing is
ever refreshed: a refused token means the member must connect the account again.

Publishing. POST and ANNOUNCE send `Publication.text` as a public status with
`Idempotency-Key: Publication.key`: Mastodon answers a repeated key from the same account
with the status it already made (for about an hour), so retrying an Unknown outcome cannot
post twice and `idempotent` is True. REPOST boosts `Publication.target_id`; boosting a
status already boosted returns the existing boost, so it is idempotent too.

How each way a call can end is classified:

- 429 -> `RateLimited`, until the `X-RateLimit-Reset` of that answer (ISO 8601; an epoch
  number as GoToSocial sends is accepted too), else `Retry-After`, else in 5 minutes;
  moved onto our clock when the server's `Date` is more than 30 s off, and never less
  than 10 s away. (Mastodon.py's own `ratelimit_reset` is not used: it is shifted by
  the whole-second `Date` header, so it is up to a second off.) A MastodonRatelimitError
  on an answer that was not a 429 (Mastodon.py raises it when it cannot parse the
  header, even on a 200) -> `Unknown`.
- 401 (unknown, revoked or expired token) -> `NeedsReconnect`; 403 about the token or
  the login (missing scope, login disabled, unconfirmed, pending approval) and 422
  "This method requires an authenticated user" -> `NeedsReconnect`.
- Any other 4xx -> `Rejected`, with the server's words ("mastodon.social refused the
  post: Text character limit of 500 exceeded"); 404 on a boost -> the post is gone.
  408 is the exception: the server did not take the request, so `Transient`.
- 5xx -> `Unknown`: the status may have been made before the server failed.
- No connection made (refused, DNS, connect timeout, TLS handshake) -> `Transient`;
  so is an address tribe's guard refused (tribe/feeds/netguard.py), in its plain words.
  Read timeout or a connection broken after the request went out -> `Unknown`.
- A redirect: every request goes through a guarded session that refuses redirects (the
  API never needs one, and following it would send the token elsewhere) -> `Unknown`
  for a post or boost (the server answered oddly after receiving it), else `Transient`.

`find` looks at the account's recent statuses (one or two cheap reads). The dispatcher
seldom needs it here (an Unknown outcome is simply retried with the same key), so it is
careful rather than clever: a boost is found by the boosted status; a post is found by
its text among the account's statuses since `Publication.created_at`. It answers None
("provably absent") only when the account has no status at all since then (or, for a
boost, when Mastodon says the target is not boosted by this account); any other doubt
raises `Unknown`.

Connecting (pure functions, no database; the web/CLI flow stores what they return):
`register_app` -> `authorize_url` (the member visits it) -> `exchange_code` -> the
credentials -> `describe_account` (who it is, and the instance's text limits). A refused
address or a redirect while connecting is the member's to fix: `InvalidInputError`.

Every call takes the `AddressPolicy` the connections are checked against.
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3.exceptions
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
)

from tribe.core.errors import BlockedAddressError, InvalidInputError
from tribe.core.outcomes import (
    AccountContext,
    NeedsReconnect,
    Publication,
    PublishError,
    RateLimited,
    Rejected,
    ReshareKind,
    Sent,
    Transient,
    Unknown,
)
from tribe.core.urls import parse_web_address
from tribe.infra.netguard import AddressPolicy, guard_refusal, guard_session

__all__ = [
    "CLIENT_NAME",
    "DEFAULT_USER_AGENT",
    "SCOPES",
    "MastodonPublisher",
    "authorize_url",
    "classify",
    "describe_account",
    "exchange_code",
    "instance_base_url",
    "register_app",
]

CLIENT_NAME = "tribe"
DEFAULT_USER_AGENT = "tribe (Mastodon.py)"
# The least tribe needs: who the account is, its statuses (for `find`), and to post/boost.
SCOPES = ["read:accounts", "read:statuses", "write:statuses"]
RATE_LIMIT_FALLBACK = timedelta(minutes=5)
# Never wait less than this after a 429 (a reset already past would retry at once).
MIN_RATE_LIMIT_WAIT = timedelta(seconds=10)
# Clock differences below this are the Date header's rounding, not a wrong clock.
CLOCK_NOISE = timedelta(seconds=30)
# Mastodon's defaults, used when an instance does not say.
DEFAULT_MAX_CHARACTERS = 500
DEFAULT_CHARACTERS_RESERVED_PER_URL = 23
# How far apart our clock and the server's may be when `find` compares times.
CLOCK_SLACK = timedelta(minutes=10)
RECENT_STATUSES = 40

# 403/422 answers that are about the token or the login, not about this post.
_ACCOUNT_PROBLEMS = (
    "authorized scopes",
    "access token",
    "your login",
    "your account",
    "requires an authenticated user",
    "two-factor",
)


class MastodonPublisher:
    """The Publisher for Mastodon (and API-compatible servers)."""

    idempotent = True

    def __init__(self, user_agent: str = DEFAULT_USER_AGENT, *, policy: AddressPolicy) -> None:
        self.user_agent = user_agent
        self.policy = policy

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        host = _host(account.base_url or "")
        if item.kind == ReshareKind.REPOST and not item.target_id:
            raise Rejected("there is no Mastodon post to boost (the author's post is unknown)")
        action = "boost" if item.kind == ReshareKind.REPOST else "post"
        with _account_api(account, self.user_agent, self.policy) as (api, seen):
            try:
                if item.kind == ReshareKind.REPOST:
                    status = api.status_reblog(_local_id(api, item.target_id or "", host))
                else:
                    status = api.status_post(
                        item.text, idempotency_key=item.key, visibility="public"
                    )
            except MastodonError as error:
                raise classify(error, host=host, response=seen.response, action=action) from error
        return _sent(status)

    def find(self, account: AccountContext, item: Publication) -> Sent | None:
        host = _host(account.base_url or "")
        with _account_api(account, self.user_agent, self.policy) as (api, seen):
            try:
                if item.kind == ReshareKind.REPOST:
                    return _find_boost(api, account, item)
                return _find_post(api, account, item)
            except MastodonError as error:
                found = classify(error, host=host, response=seen.response, action="look")
                raise Unknown(f"could not look at the account: {found}") from error


def _local_id(api: Mastodon, target: str, host: str) -> str:
    """A status id on this instance: the author's post from another instance is looked up
    by its URL (the instance fetches it: `resolve=true`)."""
    if not target.startswith(("https://", "http://")):
        return target
    found = api.search_v2(target, resolve=True, result_type="statuses")
    statuses = _dig(found, "statuses") or []
    if not statuses:
        raise Rejected(f"{host} cannot find the author's post to boost ({target})")
    return str(statuses[0]["id"])


# Connecting ---------------------------------------------------------------------------


def instance_base_url(instance_url: str) -> str:
    """The API address for what a member typed ("mastodon.social", "https://m.s/")."""
    value = instance_url.strip()
    if "@" in value and "://" not in value:
        value = value.rsplit("@", 1)[1]  # "@alice@mastodon.social" -> "mastodon.social"
    if not value:
        raise InvalidInputError("give the Mastodon server's address, like mastodon.social")
    if "://" not in value:
        value = "https://" + value
    address = parse_web_address(value, what="the Mastodon server's address")
    if address.query or address.fragment:
        raise InvalidInputError(
            f"{instance_url.strip()[:100]!r} is not a Mastodon server address, "
            "like https://mastodon.social"
        )
    return f"{address.origin}{address.path}".rstrip("/")


def register_app(
    instance_url: str,
    *,
    redirect_uri: str,
    timeout: float,
    policy: AddressPolicy,
    user_agent: str = DEFAULT_USER_AGENT,
    website: str | None = None,
) -> dict[str, str]:
    """Register tribe on the instance (once per instance): {"client_id", "client_secret"}."""
    base = instance_base_url(instance_url)
    host = _host(base)
    seen = _Seen()
    session = _session(seen, policy, timeout)
    try:
        client_id, client_secret = Mastodon.create_app(
            CLIENT_NAME,
            scopes=SCOPES,
            redirect_uris=redirect_uri,
            website=website,
            api_base_url=base,
            request_timeout=timeout,
            session=session,
            user_agent=user_agent,
        )
    except (MastodonError, KeyError, TypeError) as error:
        # create_app reads the answer without looking at its status: an error answer
        # shows up as a KeyError, an HTML page as a "network" error.
        raise _connect_error(error, host, seen.response, "register tribe") from error
    finally:
        session.close()
    return {"client_id": str(client_id), "client_secret": str(client_secret)}


def authorize_url(
    instance_url: str, app: dict[str, str], *, redirect_uri: str, state: str | None = None
) -> str:
    """Where to send the member to approve tribe; the instance redirects back with a code.

    Built here rather than by `Mastodon.auth_request_url`, which fetches the server's
    OAuth metadata and writes "state=None" into the URL when no state is given.
    """
    params = {
        "client_id": app["client_id"],
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": " ".join(SCOPES),
    }
    if state is not None:
        params["state"] = state
    return f"{instance_base_url(instance_url)}/oauth/authorize?{urlencode(params)}"


def exchange_code(
    instance_url: str,
    app: dict[str, str],
    code: str,
    *,
    redirect_uri: str,
    timeout: float,
    policy: AddressPolicy,
    user_agent: str = DEFAULT_USER_AGENT,
) -> dict[str, str]:
    """Trade the code from the redirect for the account's credentials {"access_token"}."""
    base = instance_base_url(instance_url)
    host = _host(base)
    with _api(
        base,
        policy=policy,
        timeout=timeout,
        user_agent=user_agent,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    ) as (api, seen):
        try:
            token = api.log_in(
                code=code.strip(),
                redirect_uri=redirect_uri,
                scopes=SCOPES,
                # Only a server we were told to reach over http may use http for OAuth.
                allow_http=base.startswith("http://"),
            )
        except MastodonError as error:
            raise _connect_error(error, host, seen.response, "sign in", oauth=True) from error
    return {"access_token": str(token)}


def describe_account(
    instance_url: str,
    access_token: str,
    *,
    timeout: float,
    policy: AddressPolicy,
    user_agent: str = DEFAULT_USER_AGENT,
) -> dict[str, Any]:
    """Who the token belongs to, and the instance's text limits.

    Returns {"remote_user_id", "username", "handle" ("alice@mastodon.social"),
    "display_name", "url", "base_url", "max_characters", "characters_reserved_per_url"}.
    """
    base = instance_base_url(instance_url)
    host = _host(base)
    with _api(
        base, policy=policy, timeout=timeout, user_agent=user_agent, access_token=access_token
    ) as (api, seen):
        try:
            me = api.account_verify_credentials()
            try:
                instance = api.instance_v2()
                domain = _dig(instance, "domain")
            except MastodonNotFoundError:  # before Mastodon 4.0
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    instance = api.instance_v1()
                domain = _dig(instance, "uri")
        except MastodonError as error:
            raise _connect_error(error, host, seen.response, "read the account") from error
    statuses = _dig(instance, "configuration", "statuses") or {}
    max_characters = _int(_dig(statuses, "max_characters")) or _int(
        _dig(instance, "max_toot_chars")  # Pleroma, Akkoma
    )
    reserved = _int(_dig(statuses, "characters_reserved_per_url"))
    username = str(me["username"])
    domain = str(domain or "").removeprefix("https://").removeprefix("http://").strip("/")
    return {
        "remote_user_id": str(me["id"]),
        "username": username,
        "handle": f"{username}@{domain or urlsplit(base).hostname}",
        "display_name": str(me.get("display_name") or ""),
        "url": str(me.get("url") or ""),
        "base_url": base,
        "max_characters": max_characters or DEFAULT_MAX_CHARACTERS,
        "characters_reserved_per_url": (
            DEFAULT_CHARACTERS_RESERVED_PER_URL if reserved is None else reserved
        ),
    }


# Classifying errors -------------------------------------------------------------------


def classify(
    error: MastodonError,
    *,
    host: str,
    response: requests.Response | None = None,
    action: str = "post",
) -> PublishError:
    """Turn what Mastodon.py raised into the dispatcher's outcome.

    `response` is the last HTTP answer seen (Mastodon.py's errors do not carry headers);
    `action` names what was tried, for the message ("post", "boost", ...).
    """
    status = _status_of(error, response)
    if isinstance(error, MastodonRatelimitError):
        return _rate_limited(error, status, response, host=host, action=action)
    if isinstance(error, MastodonNetworkError):
        return _network_outcome(error, host=host, action=action)
    if isinstance(error, MastodonIllegalArgumentError):
        return Rejected(f"tribe could not {action} this on {host}: {error}")
    if not isinstance(error, MastodonAPIError) or status is None or status < 400:
        # Includes a 2xx whose body Mastodon.py could not parse: it may have worked.
        code = f" (HTTP {status})" if status is not None else ""
        return Unknown(
            f"{host} gave an answer tribe does not understand{code}{_maybe_done(action)}"
        )
    return _refused(status, _server_words(error), host=host, action=action)


def _network_outcome(error: MastodonNetworkError, *, host: str, action: str) -> PublishError:
    refused = guard_refusal(error)
    if isinstance(refused, BlockedAddressError):  # no connection was made
        return Transient(str(refused))
    if refused is not None:  # a redirect, refused after the request was sent
        if action in {"post", "boost"}:
            return Unknown(f"{refused}{_maybe_done(action)}")
        return Transient(str(refused))
    reason = _network_reason(error)
    if _nothing_sent(error):
        return Transient(f"could not reach {host}: {reason}")
    return Unknown(f"{host} did not answer ({reason}){_maybe_done(action)}")


def _maybe_done(action: str) -> str:
    return f"; the {action} may have gone out" if action in {"post", "boost"} else ""


def _rate_limited(
    error: MastodonRatelimitError,
    status: int | None,
    response: requests.Response | None,
    *,
    host: str,
    action: str,
) -> PublishError:
    if status is not None and status != 429:
        # Mastodon.py raises this too when it cannot read a rate limit header, even on
        # a 200: the call may well have worked.
        return Unknown(f"{host} answered, but the answer could not be read: {error}")
    until = _reset_time(response)
    return RateLimited(
        f"{host} limits how often tribe may {action}; waiting until {until:%H:%M} UTC", until
    )


def _refused(status: int, message: str, *, host: str, action: str) -> PublishError:
    """An HTTP error answer (4xx, 5xx) as an outcome."""
    if status >= 500:
        return Unknown(f"{host} had a problem (HTTP {status}){_maybe_done(action)}")
    account_problem = status in {403, 422} and any(
        words in message.lower() for words in _ACCOUNT_PROBLEMS
    )
    if status == 401 or account_problem:
        what = "no longer accepts tribe's access" if status == 401 else "refused the account"
        return NeedsReconnect(f"{host} {what}: {message}")
    if status == 404 and action == "boost":
        return Rejected(f"{host} cannot find the post to boost; it may have been deleted")
    if status == 408:
        return Transient(f"{host} did not take the request in time (HTTP 408)")
    return Rejected(f"{host} refused the {action}: {message}")


def _status_of(error: MastodonError, response: requests.Response | None) -> int | None:
    # MastodonAPIError args: ("Mastodon API returned error", status, reason, error message)
    if len(error.args) >= 2 and isinstance(error.args[1], int):
        return error.args[1]
    if response is not None:
        return int(response.status_code)
    return None


def _server_words(error: MastodonError) -> str:
    words = error.args[3] if len(error.args) >= 4 else None
    if not words and len(error.args) >= 3:
        words = error.args[2]  # the HTTP reason phrase
    text = str(words or "no reason given")
    return text.removeprefix("Validation failed: ")


def _reset_time(response: requests.Response | None) -> datetime:
    """When the limit lifts: the server's `X-RateLimit-Reset`, on our clock, not too soon."""
    now = datetime.now(UTC)
    until = now + RATE_LIMIT_FALLBACK
    if response is not None:
        reset = _parse_time(response.headers.get("X-RateLimit-Reset"))
        after = (response.headers.get("Retry-After") or "").strip()
        if reset is not None:
            until = reset + _clock_skew(response, now)
        elif after.isdigit():
            until = now + timedelta(seconds=int(after))
    return max(until, now + MIN_RATE_LIMIT_WAIT)


def _parse_time(value: str | None) -> datetime | None:
    """ISO 8601 as Mastodon sends it, or epoch seconds as GoToSocial does."""
    if not value or not value.strip():
        return None
    try:
        if value.strip().isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        moment = datetime.fromisoformat(value.strip())
    except (ValueError, OverflowError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _clock_skew(response: requests.Response, now: datetime) -> timedelta:
    """How far our clock is ahead of the server's, when that is more than noise.

    The `Date` header only has whole seconds, so small differences are left alone
    (the reset time is then used exactly as the server wrote it).
    """
    try:
        server_now = parsedate_to_datetime(response.headers.get("Date") or "")
    except (TypeError, ValueError):
        return timedelta(0)
    if server_now.tzinfo is None:
        server_now = server_now.replace(tzinfo=UTC)
    skew = now - server_now
    return skew if abs(skew) > CLOCK_NOISE else timedelta(0)


def _nothing_sent(error: MastodonNetworkError) -> bool:
    """True when the request cannot have reached the server (no connection was made)."""
    cause = error.__cause__ or error.__context__
    if isinstance(
        cause,
        requests.exceptions.ConnectTimeout
        | requests.exceptions.SSLError
        | requests.exceptions.ProxyError
        | requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema,
    ):
        return True
    if isinstance(cause, requests.exceptions.ConnectionError) and cause.args:
        inner = cause.args[0]
        if isinstance(inner, urllib3.exceptions.MaxRetryError):
            return isinstance(
                inner.reason,
                urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError,
            )
    return False


def _network_reason(error: MastodonNetworkError) -> str:
    cause = error.__cause__ or error.__context__
    if isinstance(cause, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(cause, requests.exceptions.ConnectionError) and cause.args:
        inner = cause.args[0]
        if isinstance(inner, urllib3.exceptions.MaxRetryError):
            if isinstance(inner.reason, urllib3.exceptions.NameResolutionError):
                return "no such server"
            if isinstance(inner.reason, urllib3.exceptions.NewConnectionError):
                return "connection refused"
            return str(inner.reason)
        if isinstance(inner, urllib3.exceptions.ProtocolError):
            return "the connection was closed"
    return str(cause or error)


def _connect_error(
    error: Exception,
    host: str,
    response: requests.Response | None,
    doing: str,
    *,
    oauth: bool = False,
) -> Exception:
    """A connect-flow failure as InvalidInputError, NeedsReconnect or Transient.

    `oauth`: the call was the token request, where 400/401 mean a bad code or app.
    """
    refused = guard_refusal(error)
    if refused is not None:  # an address or a redirect the member must fix
        return InvalidInputError(str(refused))
    if isinstance(error, MastodonIllegalArgumentError) and isinstance(
        error.__context__, MastodonError
    ):
        # log_in wraps every failure of the token request in this one error.
        return _connect_error(error.__context__, host, response, doing, oauth=oauth)
    odd = _odd_answer(error, host, response, doing)
    if odd is not None:
        return odd
    assert isinstance(error, MastodonError)
    status = _status_of(error, response)
    if oauth and isinstance(error, MastodonAPIError) and status in {400, 401}:
        words = _error_text(response) if response is not None else None
        return InvalidInputError(
            f"{host} did not accept the sign-in ({words or _server_words(error)}); "
            "start connecting again"
        )
    return _connect_outcome(classify(error, host=host, response=response, action=doing))


def _connect_outcome(outcome: PublishError) -> Exception:
    """What a publishing outcome means while connecting (nothing is queued to retry)."""
    if isinstance(outcome, NeedsReconnect):
        return outcome
    if isinstance(outcome, Transient):
        return Transient(f"{outcome}; check the address, or try again later")
    if isinstance(outcome, Unknown | RateLimited):
        return Transient(f"{outcome}; try again later")
    return InvalidInputError(str(outcome))


def _odd_answer(
    error: Exception, host: str, response: requests.Response | None, doing: str
) -> Exception | None:
    """Failures `classify` does not know: Mastodon.py's own complaints, non-Mastodon answers."""
    if isinstance(error, MastodonIllegalArgumentError):
        return InvalidInputError(f"could not {doing} on {host}: {error}")
    if isinstance(error, MastodonAPIError) and "Granted scopes" in str(error.args[0]):
        return InvalidInputError(
            f"{host} did not grant all the permissions tribe needs; connect again and "
            "approve them all"
        )
    not_mastodon = isinstance(error, KeyError | TypeError) or (
        isinstance(error, MastodonNetworkError)
        and isinstance(error.__context__, requests.exceptions.JSONDecodeError)
    )
    if not_mastodon and response is not None:
        # create_app reads whatever comes back as JSON holding a client_id.
        code = response.status_code
        if code == 429 or code >= 500:
            return Transient(f"{host} is not answering properly (HTTP {code}); try again later")
        detail = _error_text(response) or f"it answered HTTP {code}; is it a Mastodon server?"
        return InvalidInputError(f"could not {doing} on {host}: {detail}")
    if not isinstance(error, MastodonError):
        return InvalidInputError(f"could not {doing} on {host}: {error!r}")
    return None


def _error_text(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("error"):
        return str(body.get("error_description") or body["error"])
    return None


# Finding ------------------------------------------------------------------------------


def _find_boost(api: Mastodon, account: AccountContext, item: Publication) -> Sent | None:
    try:
        target = api.status(item.target_id)
    except MastodonNotFoundError:
        return None  # the boosted post is gone, and its boosts with it
    if not target.get("reblogged"):
        return None  # Mastodon says this account has not boosted it
    for status in api.account_statuses(_account_id(api, account), limit=RECENT_STATUSES):
        boosted = status.get("reblog")
        if boosted is not None and str(boosted["id"]) == str(item.target_id):
            return _sent(status)
    raise Unknown("the post is boosted, but the boost is not among the account's recent posts")


def _find_post(api: Mastodon, account: AccountContext, item: Publication) -> Sent | None:
    since = item.created_at - CLOCK_SLACK
    statuses = api.account_statuses(
        _account_id(api, account), limit=RECENT_STATUSES, exclude_reblogs=True
    )
    recent = [s for s in statuses if _when(s.get("created_at")) >= since]
    wanted = _words(item.text)
    for status in recent:
        if _words(_plain(str(status.get("content") or ""))) == wanted:
            return _sent(status)
    if not recent:
        return None
    raise Unknown(f"{len(recent)} recent posts on the account, none with this text")


def _account_id(api: Mastodon, account: AccountContext) -> str:
    if account.remote_user_id:
        return account.remote_user_id
    return str(api.account_verify_credentials()["id"])


def _when(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plain(content: str) -> str:
    """A status's HTML back to its text (Mastodon keeps whole URLs in hidden spans)."""
    text = re.sub(r"<br\s*/?>", "\n", content)
    text = re.sub(r"</p>\s*<p>", "\n\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _words(text: str) -> str:
    return " ".join(text.split())


# Plumbing -----------------------------------------------------------------------------


@dataclass
class _Seen:
    """The last HTTP answer: Mastodon.py's exceptions do not carry its headers."""

    response: requests.Response | None = None


def _session(seen: _Seen, policy: AddressPolicy, timeout: float) -> requests.Session:
    """A session whose connections go through tribe's guard, redirects refused."""
    session = guard_session(requests.Session(), policy, timeout=timeout)

    def remember(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        seen.response = response
        return response

    session.hooks["response"].append(remember)
    return session


@contextmanager
def _api(
    base_url: str,
    *,
    policy: AddressPolicy,
    timeout: float,
    user_agent: str,
    access_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> Iterator[tuple[Mastodon, _Seen]]:
    """A client of its own per call (Mastodon.py's clients keep per-call state)."""
    seen = _Seen()
    session = _session(seen, policy, timeout)
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
def _account_api(
    account: AccountContext, user_agent: str, policy: AddressPolicy
) -> Iterator[tuple[Mastodon, _Seen]]:
    token = account.credentials.get("access_token")
    if not account.base_url:
        raise NeedsReconnect("the Mastodon server of this account is not known; connect it again")
    if not isinstance(token, str) or not token:
        raise NeedsReconnect("tribe holds no Mastodon access for this account; connect it again")
    with _api(
        account.base_url,
        policy=policy,
        timeout=account.timeout,
        user_agent=user_agent,
        access_token=token,
    ) as pair:
        yield pair


def _host(base_url: str) -> str:
    """The server's name for messages: "mastodon.social" (with a port if one is given)."""
    value = base_url if "://" in base_url else "https://" + base_url
    parts = urlsplit(value)
    name = parts.hostname or base_url or "the Mastodon server"
    return name if parts.port is None else f"{name}:{parts.port}"


def _sent(status: Any) -> Sent:
    """A status (or a boost: then the boosted post is where a person sees it) as Sent."""
    boosted = status.get("reblog")
    url = (boosted.get("url") if boosted else None) or status.get("url") or status.get("uri")
    return Sent(remote_id=str(status["id"]), remote_url=str(url or ""))


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
