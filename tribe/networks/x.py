"""X (Twitter) through tweepy's API v2 client: post, retweet, look for a post, connect.

Credentials (decrypted, as stored on the account), one of:

    {"auth": "oauth1", "access_token": "...", "access_token_secret": "..."}
        OAuth 1.0a user context; needs the app's TRIBE_X_API_KEY / TRIBE_X_API_SECRET.
    {"auth": "oauth2", "access_token": "...", "refresh_token": "...", "expires_at": 1714567890}
        OAuth 2.0 user token (Authorization Code with PKCE, scope offline.access);
        `expires_at` is epoch seconds. Refreshing needs TRIBE_X_CLIENT_ID (and
        TRIBE_X_CLIENT_SECRET for a confidential client). X rotates the refresh token on
        every refresh: the new pair is stored (through `AccountContext.refresh`, under the
        account's lock) before the new access token is used.

How tweepy is tamed:
- `BaseClient.request` hard-codes https://api.twitter.com and sets no timeout: every
  client gets an `XSession` that rewrites that prefix to `XApp.api_url` and puts
  `timeout` on every request. `wait_on_rate_limit` stays off (it would sleep in a worker).
- Every request, tweepy's and requests_oauthlib's, goes through tribe's guarded adapter
  (tribe/feeds/netguard.py): connections checked against `XApp.policy`, redirects refused.
  The API URL is the operator's, but one way out is simpler to trust than two.
- tweepy does not wrap requests' exceptions in `Client`: they are classified here
  (refused connection / connect timeout: nothing was sent -> Transient; read timeout or a
  dropped connection -> Unknown).
- `Client.retweet` finds the user id itself (the token's prefix for OAuth 1.0a, a
  GET /2/users/me for OAuth 2.0); here it is the account's stored `remote_user_id`.
- OAuth 1.0a connect: `tweepy.OAuth1UserHandler` with the URLs moved to `api_url` and a
  timeout on its requests_oauthlib sessions.
- OAuth 2.0 connect: `tweepy.OAuth2UserHandler` makes the PKCE pair and the authorize
  URL; the code exchange and the refresh are plain form POSTs through `XSession`
  (requests_oauthlib/oauthlib refuse http:// token URLs and set no timeout).

X has no idempotency key, so `XPublisher.idempotent` is False: after an Unknown outcome
the dispatcher calls `find`, which reads the account's recent timeline.
"""

from __future__ import annotations

import html
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import requests
import tweepy  # type: ignore[import-untyped]
from urllib3.exceptions import MaxRetryError, NewConnectionError

from tribe.core.errors import InvalidInputError, TribeError
from tribe.core.outcomes import (
    AccountContext,
    Credentials,
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
from tribe.core.sharetext import extract_urls_with_indices
from tribe.infra.netguard import AddressPolicy, guard_refusal, guard_session

__all__ = [
    "DEFAULT_SCOPES",
    "X_API_URL",
    "XApp",
    "XConnectError",
    "XPublisher",
    "XSession",
    "describe_account",
    "oauth1_finish",
    "oauth1_start",
    "oauth2_finish",
    "oauth2_start",
]

X_API_URL = "https://api.twitter.com"  # what tweepy hard-codes
X_AUTHORIZE_URL = "https://twitter.com/i/oauth2/authorize"  # what OAuth2UserHandler uses
DEFAULT_SCOPES = ("tweet.read", "tweet.write", "users.read", "offline.access")
CONNECT_TIMEOUT = 15.0  # seconds, for the connect flow (a person is waiting)
REFRESH_MARGIN = 120  # seconds: refresh an OAuth 2.0 token this long before it expires
RATE_LIMIT_FALLBACK = timedelta(minutes=15)
TIMELINE_PAGES = 3  # up to 300 recent tweets are read to find a post
TIMELINE_FIELDS = ["created_at", "entities", "referenced_tweets"]
CLOCK_SLACK = timedelta(minutes=5)  # our clock against X's, for "the timeline reaches back"

_OAUTH1_KEYS = "TRIBE_X_API_KEY and TRIBE_X_API_SECRET"
_OAUTH2_KEYS = "TRIBE_X_CLIENT_ID (and TRIBE_X_CLIENT_SECRET for a confidential client)"
_T = TypeVar("_T")


@dataclass(frozen=True)
class XApp:
    """The operator's X app, built from settings (TRIBE_X_*)."""

    api_url: str = X_API_URL
    consumer_key: str | None = None  # OAuth 1.0a
    consumer_secret: str | None = None
    client_id: str | None = None  # OAuth 2.0
    client_secret: str | None = None
    policy: AddressPolicy = field(default_factory=AddressPolicy)  # where it may connect

    @property
    def base(self) -> str:
        return self.api_url.rstrip("/")

    def oauth1_keys(self) -> tuple[str, str] | None:
        if self.consumer_key and self.consumer_secret:
            return self.consumer_key, self.consumer_secret
        return None


class XConnectError(TribeError):
    """X could not be reached, or answered the connect flow with an error: try again."""


# HTTP plumbing ----------------------------------------------------------------------


class XSession(requests.Session):
    """A requests session that sends tweepy's https://api.twitter.com calls to `api_url`
    (a setting; a fake server in tests), never waits longer than `timeout` seconds for a
    connection or for the next bytes of an answer, and connects only through the guard."""

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


class _Client(tweepy.Client):  # type: ignore[misc]
    """tweepy's v2 client on an `XSession`, answering dicts, knowing the user id."""

    def __init__(self, session: XSession, user_id: str | None, **auth: Any) -> None:
        super().__init__(return_type=dict, wait_on_rate_limit=False, **auth)
        self.session = session
        self.known_user_id = user_id

    def _get_authenticating_user_id(self, *, oauth_1: bool = False) -> str:
        if self.known_user_id:
            return self.known_user_id
        return str(super()._get_authenticating_user_id(oauth_1=oauth_1))


def _reached(error: requests.ConnectionError) -> bool:
    """False when the connection was never made (refused, no such host): nothing was sent."""
    if isinstance(error, requests.ConnectTimeout):
        return False
    cause = error.args[0] if error.args else None
    return not (isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError))


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, TypeError, ValueError):
        return None


def rate_limited_until(headers: Mapping[str, str], now: datetime) -> datetime:
    """The latest reset among the limits a 429 says are spent (remaining 0 or not given):
    the 15-minute window, the user's and the app's 24-hour caps. Else now + 15 minutes."""
    resets = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        reset = _header_int(headers, f"{prefix}-reset")
        remaining = _header_int(headers, f"{prefix}-remaining")
        if reset is not None and (remaining is None or remaining <= 0):
            resets.append(datetime.fromtimestamp(reset, UTC))
    until = max(resets, default=now + RATE_LIMIT_FALLBACK)
    return until if until > now else now + RATE_LIMIT_FALLBACK


def _x_words(error: tweepy.HTTPException) -> str:
    messages = [str(m) for m in error.api_messages if m]
    if messages:
        return "; ".join(messages)
    response = error.response
    return f"{response.status_code} {response.reason}"


def _problem_type(error: tweepy.HTTPException) -> str:
    try:
        body = error.response.json()
    except ValueError:
        return ""
    return str(body.get("type", "")) if isinstance(body, dict) else ""


class _Unauthorized(NeedsReconnect):
    """A 401: for OAuth 2.0, worth one refresh before asking the member."""


def _classify_http(error: tweepy.HTTPException) -> PublishError:
    status = error.response.status_code
    words = _x_words(error)
    if status == 429:
        until = rate_limited_until(error.response.headers, datetime.now(UTC))
        return RateLimited(
            f"X's rate limit is reached; trying again after {until:%Y-%m-%d %H:%M} UTC", until
        )
    if status == 401:
        return _Unauthorized(
            f"X refused this account's sign-in ({words}): connect the account again"
        )
    if status == 403:
        lowered = words.lower()
        if (
            "oauth1 app permissions" in lowered
            or "oauth1-permissions" in _problem_type(error)
            or 453 in error.api_codes
        ):
            return NeedsReconnect(
                f"X says the app may not post for this account ({words}): check the app's "
                "permissions (Read and write), then connect the account again"
            )
        if "duplicate" in lowered:
            return Rejected("X refused it as a duplicate of an earlier post on this account")
    if 400 <= status < 500 and status not in (408, 409):
        return Rejected(f"X refused it: {words}")
    return Unknown(f"X answered {words}; the post may or may not have been made")


def classify(error: Exception) -> PublishError:
    """One tweepy/requests failure as the dispatcher's outcome kind (else re-raised)."""
    if isinstance(error, PublishError):
        return error
    if isinstance(error, tweepy.HTTPException):
        return _classify_http(error)
    if isinstance(error, requests.ConnectionError) and not _reached(error):
        return Transient(f"could not connect to X: {_why(error)}")  # incl. a refused address
    if isinstance(error, requests.Timeout):
        return Unknown("X did not answer in time; the post may or may not have been made")
    if isinstance(error, ValueError):  # an answer that is not the JSON X sends
        return Unknown(f"X's answer could not be read: {error}")
    if isinstance(error, requests.RequestException):  # incl. a refused redirect
        return Unknown(f"the request to X failed ({_why(error)}); the post may exist")
    raise error


def _why(error: BaseException) -> str:
    """The guard's plain words when it refused (an address, a redirect), else the error's."""
    refused = guard_refusal(error)
    return str(refused) if refused is not None else str(error)


# OAuth 2.0 tokens --------------------------------------------------------------------


def _token_request(app: XApp, form: dict[str, str], timeout: float) -> dict[str, Any]:
    """POST /2/oauth2/token: the token answer as X sends it; `_TokenRefused` on an error."""
    if not app.client_id:
        raise InvalidInputError(f"X OAuth 2.0 needs {_OAUTH2_KEYS} to be set")
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
        raise _TokenRefused(response.status_code, body)
    return body


class _TokenRefused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        said = body.get("error_description") or body.get("error") or "no reason given"
        super().__init__(f"{status}: {said}")


def _oauth2_credentials(answer: Mapping[str, Any], previous: Mapping[str, Any]) -> Credentials:
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


# Publishing -------------------------------------------------------------------------


def _auth_kind(creds: Credentials) -> str:
    kind = creds.get("auth")
    if kind == "oauth1" and creds.get("access_token") and creds.get("access_token_secret"):
        return "oauth1"
    if kind == "oauth2" and creds.get("access_token"):
        return "oauth2"
    raise NeedsReconnect("the account holds no usable X sign-in: connect it again")


def _expiring(creds: Credentials) -> bool:
    expires_at = creds.get("expires_at")
    return isinstance(expires_at, int | float) and expires_at - REFRESH_MARGIN <= time.time()


class XPublisher:
    """Publisher for X. `Sent.remote_id` is the new tweet's id; for a retweet (X's v2 API
    does not return the retweet's own id) it is the retweeted tweet's id, and
    `remote_url` shows that tweet."""

    idempotent = False

    def __init__(self, app: XApp) -> None:
        self.app = app

    # Publisher -------------------------------------------------------------------------

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        if item.kind == ReshareKind.REPOST:
            target = item.target_id
            if not target:
                raise Rejected("there is no X post to repost (the author's post is not known)")
            return self._authorized(account, lambda c, u: self._retweet(c, u, account, target))
        return self._authorized(account, lambda c, u: self._tweet(c, u, account, item.text))

    def find(self, account: AccountContext, item: Publication) -> Sent | None:
        try:
            return self._authorized(account, lambda c, u: self._look(c, u, account, item))
        except Unknown:
            raise
        except PublishError as error:
            raise Unknown(f"could not read the account's recent posts on X: {error}") from error

    # Calls -----------------------------------------------------------------------------

    def _url(self, account: AccountContext, tweet_id: str) -> str:
        return f"https://x.com/{account.handle.removeprefix('@')}/status/{tweet_id}"

    def _tweet(self, client: _Client, user_auth: bool, account: AccountContext, text: str) -> Sent:
        answer = client.create_tweet(text=text, user_auth=user_auth)
        tweet_id = str((answer.get("data") or {}).get("id") or "")
        if not tweet_id:
            raise Unknown(f"X answered without a post id: {answer!r:.200}")
        return Sent(remote_id=tweet_id, remote_url=self._url(account, tweet_id))

    def _retweet(
        self, client: _Client, user_auth: bool, account: AccountContext, target: str
    ) -> Sent:
        answer = client.retweet(target, user_auth=user_auth)
        if not (answer.get("data") or {}).get("retweeted"):
            raise Unknown(f"X did not confirm the repost: {answer!r:.200}")
        return Sent(remote_id=target, remote_url=self._url(account, target))

    def _look(
        self, client: _Client, user_auth: bool, account: AccountContext, item: Publication
    ) -> Sent | None:
        user_id = client._get_authenticating_user_id(oauth_1=user_auth)
        since = item.created_at
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        since -= CLOCK_SLACK
        wanted = None if item.kind == ReshareKind.REPOST else _normalized(item.text, None)
        page_token: str | None = None
        for _ in range(TIMELINE_PAGES):
            params: dict[str, Any] = {"max_results": 100, "tweet_fields": TIMELINE_FIELDS}
            if page_token:
                params["pagination_token"] = page_token
            answer = client.get_users_tweets(user_id, user_auth=user_auth, **params)
            tweets: list[dict[str, Any]] = answer.get("data") or []
            for tweet in tweets:
                found = self._matches(tweet, item, wanted)
                if found is not None:
                    return Sent(remote_id=found, remote_url=self._url(account, found))
            page_token = (answer.get("meta") or {}).get("next_token")
            if not page_token:
                return None  # that was the whole timeline
            if any(_created(t) < since for t in tweets):
                return None  # the timeline reaches back before the post could have been made
        raise Unknown("the account posted too much since then to tell whether this was posted")

    @staticmethod
    def _matches(
        tweet: Mapping[str, Any], item: Publication, wanted: tuple[str, frozenset[str]] | None
    ) -> str | None:
        retweeted = [
            str(ref.get("id"))
            for ref in tweet.get("referenced_tweets") or []
            if ref.get("type") == "retweeted"
        ]
        if item.kind == ReshareKind.REPOST:
            return item.target_id if item.target_id in retweeted else None
        if retweeted:
            return None
        urls = (tweet.get("entities") or {}).get("urls") or []
        if _normalized(str(tweet.get("text", "")), urls) == wanted:
            return str(tweet["id"])
        return None

    # Auth ------------------------------------------------------------------------------

    def _authorized(self, account: AccountContext, action: Callable[[_Client, bool], _T]) -> _T:
        """Run `action(client, user_auth)`, refreshing an OAuth 2.0 token when it has run
        out (before the call, or once after a 401)."""
        creds = account.credentials
        kind = _auth_kind(creds)
        refreshed = False
        if kind == "oauth2" and _expiring(creds):
            creds, refreshed = self._refresh(account, creds), True
        try:
            return self._call(account, creds, action)
        except _Unauthorized:
            if kind != "oauth2" or refreshed:
                raise
        return self._call(account, self._refresh(account, creds), action)

    def _call(
        self, account: AccountContext, creds: Credentials, action: Callable[[_Client, bool], _T]
    ) -> _T:
        kind = _auth_kind(creds)
        with XSession(self.app.api_url, account.timeout, policy=self.app.policy) as session:
            if kind == "oauth1":
                keys = self.app.oauth1_keys()
                if keys is None:
                    raise Transient(f"X OAuth 1.0a accounts need {_OAUTH1_KEYS} to be set")
                client = _Client(
                    session,
                    account.remote_user_id,
                    consumer_key=keys[0],
                    consumer_secret=keys[1],
                    access_token=creds["access_token"],
                    access_token_secret=creds["access_token_secret"],
                )
            else:
                token = creds["access_token"]
                client = _Client(session, account.remote_user_id, bearer_token=token)
            try:
                return action(client, kind == "oauth1")
            except Exception as error:
                raise classify(error) from error

    def _refresh(self, account: AccountContext, stale: Credentials) -> Credentials:
        """New OAuth 2.0 credentials, stored before they are used; only one worker spends
        the (single-use) refresh token: the others find it already replaced."""
        stale_token = stale.get("access_token")

        def update(current: Credentials) -> Credentials | None:
            if current.get("access_token") != stale_token:
                return None  # another worker refreshed (or the member reconnected)
            refresh_token = current.get("refresh_token")
            if not refresh_token:
                raise NeedsReconnect(
                    "X's sign-in for this account ran out and cannot be renewed "
                    "(no offline access): connect it again"
                )
            try:
                answer = _token_request(
                    self.app,
                    {"grant_type": "refresh_token", "refresh_token": str(refresh_token)},
                    account.timeout,
                )
            except InvalidInputError as error:
                raise Transient(str(error)) from error
            except _TokenRefused as error:
                if error.status in (400, 401, 403):
                    raise NeedsReconnect(
                        f"X no longer renews this account's sign-in ({error}): connect it again"
                    ) from error
                raise Transient(f"X could not renew the sign-in now ({error})") from error
            except requests.RequestException as error:
                raise Transient(f"could not renew the sign-in with X: {_why(error)}") from error
            return _oauth2_credentials(answer, current)

        creds = account.refresh(update)
        _auth_kind(creds)
        return creds


# Matching a tweet to a publication ----------------------------------------------------


def _url_key(url: str) -> str:
    key = url.strip().lower()
    for scheme in ("https://", "http://"):
        key = key.removeprefix(scheme)
    return key.removeprefix("www.").rstrip("/")


def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


_TCO = re.compile(r"https?://t\.co/\w+")


def _normalized(
    text: str, entities: Iterable[Mapping[str, Any]] | None
) -> tuple[str, frozenset[str]]:
    """(text without its links, whitespace collapsed; the links). `entities` None: our
    text; else X's text (t.co links, HTML-escaped) with its entities.urls."""
    if entities is None:
        found = sorted(extract_urls_with_indices(text), key=lambda u: u["indices"][0])
        pieces, last, urls = [], 0, set()
        for url in found:
            start, end = url["indices"]
            pieces.append(text[last:start])
            last = end
            urls.add(_url_key(str(url["url"])))
        pieces.append(text[last:])
        return _squash("".join(pieces)), frozenset(urls)
    urls = set()
    for entity in entities:
        if entity.get("url"):
            text = text.replace(str(entity["url"]), " ")
        if entity.get("expanded_url"):
            urls.add(_url_key(str(entity["expanded_url"])))
    return _squash(html.unescape(_TCO.sub(" ", text))), frozenset(urls)


def _created(tweet: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(tweet["created_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return datetime.max.replace(tzinfo=UTC)  # unknown: does not prove anything


# Connecting an account -----------------------------------------------------------------


class _OAuth1Handler(tweepy.OAuth1UserHandler):  # type: ignore[misc]
    """tweepy's OAuth 1.0a handler on `api_url`, with a timeout on every request."""

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


def _connect_error(error: BaseException, step: str) -> TribeError:
    """A failed connect step: InvalidInputError when X refused, else XConnectError."""
    while isinstance(error, tweepy.TweepyException) and error.args:
        cause = error.args[0]
        if not isinstance(cause, BaseException):
            break
        error = cause
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and status != 429:
        text = (getattr(response, "text", "") or "").strip()[:200]
        return InvalidInputError(f"X refused to {step} ({status}: {text or 'no reason given'})")
    if isinstance(error, tweepy.HTTPException):
        return XConnectError(f"X could not {step} now ({_x_words(error)}); try again")
    return XConnectError(f"could not reach X to {step} ({_why(error)}); try again")


def oauth1_start(
    app: XApp, *, callback: str = "oob", timeout: float = CONNECT_TIMEOUT
) -> tuple[str, dict[str, str]]:
    """Step 1 of OAuth 1.0a: (the URL the member opens, state to keep server-side).

    `callback="oob"` gives the member a PIN to paste; a URL gets `oauth_verifier` in the
    redirect. The state holds the request token's secret: never show it to anyone."""
    keys = app.oauth1_keys()
    if keys is None:
        raise InvalidInputError(f"connecting X with OAuth 1.0a needs {_OAUTH1_KEYS} to be set")
    handler = _OAuth1Handler(app, keys, callback, timeout)
    try:
        url = str(handler.get_authorization_url())
    except tweepy.TweepyException as error:
        raise _connect_error(error, "start the sign-in") from error
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
        raise InvalidInputError(f"connecting X with OAuth 1.0a needs {_OAUTH1_KEYS} to be set")
    verifier = verifier.strip()
    if not verifier:
        raise InvalidInputError("the PIN X showed is needed to finish connecting")
    handler = _OAuth1Handler(app, keys, state.get("callback", "oob"), timeout)
    handler.request_token = {
        "oauth_token": state["oauth_token"],
        "oauth_token_secret": state["oauth_token_secret"],
    }
    try:
        token, secret = handler.get_access_token(verifier)
    except tweepy.TweepyException as error:
        raise _connect_error(error, "accept the PIN") from error
    return {"auth": "oauth1", "access_token": str(token), "access_token_secret": str(secret)}


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
        raise InvalidInputError(f"connecting X with OAuth 2.0 needs {_OAUTH2_KEYS} to be set")
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
        raise InvalidInputError(f"connecting X with OAuth 2.0 needs {_OAUTH2_KEYS} to be set")
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
        answer = _token_request(app, form, timeout)
    except _TokenRefused as error:
        if 400 <= error.status < 500 and error.status != 429:
            raise InvalidInputError(f"X refused the sign-in ({error}): start again") from error
        raise XConnectError(f"X could not finish the sign-in now ({error}); try again") from error
    except requests.RequestException as error:
        raise XConnectError(f"could not reach X to finish the sign-in ({_why(error)})") from error
    creds = _oauth2_credentials(answer, {})
    if not creds["refresh_token"]:
        del creds["refresh_token"]  # no offline.access: the member reconnects every 2 hours
    return creds


def describe_account(app: XApp, creds: Credentials, *, timeout: float) -> dict[str, str]:
    """Who the credentials belong to: {"remote_user_id", "handle", "name"} (GET /2/users/me)."""
    try:
        kind = _auth_kind(creds)
    except NeedsReconnect as error:
        raise InvalidInputError(str(error)) from None
    with XSession(app.api_url, timeout, policy=app.policy) as session:
        if kind == "oauth1":
            keys = app.oauth1_keys()
            if keys is None:
                raise InvalidInputError(f"X OAuth 1.0a accounts need {_OAUTH1_KEYS} to be set")
            client = _Client(
                session,
                None,
                consumer_key=keys[0],
                consumer_secret=keys[1],
                access_token=creds["access_token"],
                access_token_secret=creds["access_token_secret"],
            )
        else:
            client = _Client(session, None, bearer_token=creds["access_token"])
        try:
            answer = client.get_me(user_auth=kind == "oauth1")
        except (tweepy.TweepyException, requests.RequestException) as error:
            raise _connect_error(error, "tell who the account is") from error
    data = answer.get("data") or {}
    return {
        "remote_user_id": str(data["id"]),
        "handle": str(data["username"]),
        "name": str(data.get("name") or data["username"]),
    }
