"""A fake X API v2 (plus the OAuth 1.0a and OAuth 2.0 endpoints) on `FakeServer`.

Speaks what tribe uses, shaped like the real answers so the real tweepy can be pointed at
it (`XApp(api_url=fake.base_url, ...)`):

    POST /2/tweets                 {"text"} -> 201 {"data": {"id", "text"}}; the text comes
                                   back with URLs as t.co links (like X); the same text
                                   twice from one user -> 403 duplicate content
    POST /2/users/:id/retweets     {"tweet_id"} -> {"data": {"retweeted": true}} (idempotent)
    GET  /2/users/me               -> {"data": {"id", "name", "username"}}, and with
                                   user.fields=public_metrics {"public_metrics":
                                   {"followers_count", ...}} (`set_followers`); an app
                                   whose access level has no metrics (`limit_access`)
                                   gets 403 for that instead, as a Free-tier app does
    GET  /2/users/:id/tweets       newest first; max_results, pagination_token, tweet.fields
                                   (created_at, entities, referenced_tweets, author_id)
    POST /oauth/request_token      OAuth 1.0a, form-encoded answers like X
    GET  /oauth/authorize          a page (never called by code: see `authorize_oauth1`)
    POST /oauth/access_token
    GET  /i/oauth2/authorize       a page (never called by code: see `authorize_oauth2`)
    POST /2/oauth2/token           authorization_code (PKCE S256 checked) and refresh_token
                                   (rotating: a used refresh token is dead)

Auth: OAuth 1.0a requests must name a known consumer key and access token in the
Authorization header (signatures are not checked); OAuth 2.0 requests carry a Bearer user
token. Unknown, revoked or expired tokens get X's 401. Every answer from a handler carries
x-rate-limit-limit / -remaining / -reset.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from twitter_text import extract_urls_with_indices

from tests.fakenet.common import FakeServer, Request, Response, bearer

UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
OAUTH1_PERMISSIONS = {
    "title": "Forbidden",
    "detail": "Your client app is not configured with the appropriate oauth1 app permissions "
    "for this endpoint.",
    "type": "https://api.twitter.com/2/problems/oauth1-permissions",
    "status": 403,
}
TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
SERVICE_UNAVAILABLE = {
    "title": "Service Unavailable",
    "detail": "Service Unavailable",
    "type": "about:blank",
    "status": 503,
}
# X's 403 to an app whose access level does not include an endpoint or field: the v2
# "client-not-enrolled" problem, and the v1.1-style error 453.
CLIENT_NOT_ENROLLED = {
    "client_id": "30000001",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use "
    "keys and tokens from a Twitter developer App that is attached to a Project. You can "
    "create a project via the developer portal.",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
ACCESS_LEVEL = {
    "errors": [
        {
            "message": "You currently have access to a subset of X API V2 endpoints and "
            "limited v1.1 endpoints (e.g. media post, oauth) only. If you need access to this "
            "endpoint, you may need a different access level. You can learn more here: "
            "https://developer.x.com/en/portal/product",
            "code": 453,
        }
    ]
}
RATE_WINDOW = 15 * 60


def x_time(moment: datetime) -> str:
    """X's created_at format: 2024-05-01T12:00:00.000Z."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class FakeUser:
    id: str
    username: str
    name: str


@dataclass
class FakeTweet:
    id: str
    author_id: str
    text: str  # as X shows it: URLs as t.co links, &<> escaped
    original: str  # as it was sent
    created_at: datetime
    urls: list[dict[str, Any]] = field(default_factory=list)
    retweet_of: str | None = None

    def as_json(self, fields: set[str]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "edit_history_tweet_ids": [self.id],
        }
        if "created_at" in fields:
            data["created_at"] = x_time(self.created_at)
        if "author_id" in fields:
            data["author_id"] = self.author_id
        if "entities" in fields and self.urls:
            data["entities"] = {"urls": self.urls}
        if "referenced_tweets" in fields and self.retweet_of:
            data["referenced_tweets"] = [{"type": "retweeted", "id": self.retweet_of}]
        return data


@dataclass
class _RequestToken:
    secret: str
    callback: str
    user_id: str | None = None
    verifier: str | None = None


@dataclass
class _Code:
    user_id: str
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str


def _oauth_params(request: Request) -> dict[str, str]:
    value = request.header("Authorization") or ""
    if not value.startswith("OAuth "):
        return {}
    return {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', value)}


class FakeX(FakeServer):
    def __init__(
        self,
        *,
        consumer_key: str = "fake-consumer-key",
        consumer_secret: str = "fake-consumer-secret",
        client_id: str = "fake-client-id",
        client_secret: str | None = "fake-client-secret",
        access_lifetime: int = 7200,
        rate_limit: int = 1000,
    ) -> None:
        super().__init__()
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.client_id = client_id
        self.client_secret = client_secret  # None: a public client (client_id in the body)
        self.access_lifetime = access_lifetime
        self.rate_limit = rate_limit
        self.users: dict[str, FakeUser] = {}
        self.tweets: list[FakeTweet] = []  # oldest first
        self.token_refreshes = 0
        self.code_exchanges = 0
        self._ids = itertools.count(1_790_000_000_000_000_001)
        self._user_ids = itertools.count(1001)
        self._oauth1: dict[str, tuple[str, str]] = {}  # access token -> (secret, user id)
        self._request_tokens: dict[str, _RequestToken] = {}
        self._codes: dict[str, _Code] = {}
        self._bearers: dict[str, tuple[str, float]] = {}  # token -> (user id, expires at)
        self._refresh: dict[str, str] = {}  # refresh token -> user id
        self._used: dict[str, int] = {}  # rate-limit key -> requests this window
        self._window = time.time() + RATE_WINDOW
        self._followers: dict[str, int] = {}  # user id -> followers
        self._metrics_refused: dict[str, Any] | None = None  # the 403 body, when refused
        self._routes_x()

    # Helpers for tests -----------------------------------------------------------------

    def add_user(self, username: str, name: str | None = None) -> FakeUser:
        with self.lock:
            user = FakeUser(str(next(self._user_ids)), username, name or username.title())
            self.users[user.id] = user
            return user

    def add_tweet(
        self, user: FakeUser | str, text: str, *, created_at: datetime | None = None
    ) -> FakeTweet:
        """A tweet already on X (the author's post to retweet, or old timeline content)."""
        user_id = user if isinstance(user, str) else user.id
        with self.lock:
            return self._store(user_id, text, created_at=created_at)

    def issue_oauth1(self, user: FakeUser) -> dict[str, str]:
        """Credentials as if the member had connected with OAuth 1.0a."""
        with self.lock:
            token, secret = f"{user.id}-{secrets.token_hex(12)}", secrets.token_hex(16)
            self._oauth1[token] = (secret, user.id)
        return {"auth": "oauth1", "access_token": token, "access_token_secret": secret}

    def issue_oauth2(self, user: FakeUser, *, expires_in: int | None = None) -> dict[str, Any]:
        """Credentials as if the member had connected with OAuth 2.0 (offline.access)."""
        with self.lock:
            answer = self._issue_bearer(
                user.id, "tweet.read tweet.write users.read offline.access", expires_in
            )
        return {
            "auth": "oauth2",
            "access_token": answer["access_token"],
            "refresh_token": answer["refresh_token"],
            "expires_at": int(time.time()) + answer["expires_in"],
        }

    def set_followers(self, user: FakeUser, followers: int) -> None:
        """How many follow the user (public_metrics.followers_count); 0 until set."""
        with self.lock:
            self._followers[user.id] = followers

    def limit_access(self, body: dict[str, Any] | None = None) -> None:
        """The app's access level (X's Free tier) no longer includes user metrics: asking
        for public_metrics answers 403 with `body` (CLIENT_NOT_ENROLLED by default)."""
        with self.lock:
            self._metrics_refused = body or CLIENT_NOT_ENROLLED

    def expire(self, access_token: str) -> None:
        """The OAuth 2.0 access token has run out: X answers 401 to it from now on."""
        with self.lock:
            user_id, _ = self._bearers[access_token]
            self._bearers[access_token] = (user_id, time.time() - 1)

    def revoke(self, token: str) -> None:
        """Any token (OAuth 1.0a access, OAuth 2.0 access or refresh) stops working."""
        with self.lock:
            self._oauth1.pop(token, None)
            self._bearers.pop(token, None)
            self._refresh.pop(token, None)

    def valid_refresh_tokens(self) -> set[str]:
        with self.lock:
            return set(self._refresh)

    def tweets_by(self, user: FakeUser | str) -> list[FakeTweet]:
        """The user's own tweets (not retweets), oldest first."""
        user_id = user if isinstance(user, str) else user.id
        with self.lock:
            return [t for t in self.tweets if t.author_id == user_id and t.retweet_of is None]

    @property
    def retweets(self) -> list[tuple[str, str]]:
        """(user id, retweeted tweet id), oldest first."""
        with self.lock:
            return [(t.author_id, t.retweet_of) for t in self.tweets if t.retweet_of]

    def authorize_oauth1(self, request_token: str, user: FakeUser) -> str:
        """The member approves the app on X's page; returns the PIN / oauth_verifier."""
        with self.lock:
            pending = self._request_tokens[request_token]
            pending.user_id, pending.verifier = user.id, secrets.token_hex(4)
            return pending.verifier

    def authorize_oauth2(self, authorize_url: str, user: FakeUser) -> str:
        """The member approves the app on X's page; returns the authorization code."""
        query = dict(parse_qsl(urlsplit(authorize_url).query))
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        with self.lock:
            code = secrets.token_urlsafe(24)
            self._codes[code] = _Code(
                user.id,
                query["client_id"],
                query["redirect_uri"],
                query["code_challenge"],
                query.get("scope", ""),
            )
            return code

    def oauth2_redirect(self, authorize_url: str, user: FakeUser) -> str:
        """Where X sends the member's browser back to: redirect_uri?state=...&code=..."""
        query = dict(parse_qsl(urlsplit(authorize_url).query))
        code = self.authorize_oauth2(authorize_url, user)
        return f"{query['redirect_uri']}?{urlencode({'state': query['state'], 'code': code})}"

    # Internals -----------------------------------------------------------------------

    def _store(
        self,
        user_id: str,
        text: str,
        *,
        created_at: datetime | None = None,
        retweet_of: str | None = None,
    ) -> FakeTweet:
        shown, urls, last = [], [], 0
        for found in sorted(extract_urls_with_indices(text), key=lambda u: u["indices"][0]):
            start, end = found["indices"]
            shown.append(html.escape(text[last:start], quote=False))
            link = f"https://t.co/{secrets.token_urlsafe(7)}"
            offset = sum(len(p) for p in shown)
            expanded = found["url"] if "://" in found["url"] else f"http://{found['url']}"
            urls.append(
                {
                    "start": offset,
                    "end": offset + len(link),
                    "url": link,
                    "expanded_url": expanded,
                    "display_url": found["url"].split("://")[-1][:25],
                }
            )
            shown.append(link)
            last = end
        shown.append(html.escape(text[last:], quote=False))
        tweet = FakeTweet(
            id=str(next(self._ids)),
            author_id=user_id,
            text="".join(shown),
            original=text,
            created_at=created_at or datetime.now(UTC),
            urls=urls,
            retweet_of=retweet_of,
        )
        self.tweets.append(tweet)
        self.tweets.sort(key=lambda t: (t.created_at, int(t.id)))
        return tweet

    def _issue_bearer(
        self, user_id: str, scope: str, expires_in: int | None = None
    ) -> dict[str, Any]:
        lifetime = self.access_lifetime if expires_in is None else expires_in
        access = secrets.token_urlsafe(32)
        self._bearers[access] = (user_id, time.time() + lifetime)
        answer: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": lifetime,
            "access_token": access,
            "scope": scope,
        }
        if "offline.access" in scope.split():
            refresh = secrets.token_urlsafe(32)
            self._refresh[refresh] = user_id
            answer["refresh_token"] = refresh
        return answer

    def _user_of(self, request: Request) -> str | None:
        token = bearer(request)
        with self.lock:
            if token is not None:
                found = self._bearers.get(token)
                if found is None or found[1] <= time.time():
                    return None
                return found[0]
            params = _oauth_params(request)
            if params.get("oauth_consumer_key") != self.consumer_key:
                return None
            access = self._oauth1.get(params.get("oauth_token", ""))
            return access[1] if access else None

    def _limited(self, key: str, handler: Any) -> Any:
        """Wrap a handler: count the request, add the rate-limit headers, 429 when spent."""

        def wrapped(request: Request) -> Response:
            with self.lock:
                now = time.time()
                if now >= self._window:
                    self._used.clear()
                    self._window = now + RATE_WINDOW
                used = self._used.get(key, 0) + 1
                self._used[key] = used
                headers = {
                    "x-rate-limit-limit": str(self.rate_limit),
                    "x-rate-limit-remaining": str(max(self.rate_limit - used, 0)),
                    "x-rate-limit-reset": str(int(self._window)),
                }
            if used > self.rate_limit:
                return Response(429, TOO_MANY, headers)
            response: Response = handler(request)
            response.headers = {**headers, **response.headers}
            return response

        return wrapped

    def _routes_x(self) -> None:
        routes = [
            ("POST", r"/2/tweets", self._create_tweet),
            ("POST", r"/2/users/(?P<id>\d+)/retweets", self._retweet),
            ("GET", r"/2/users/me", self._me),
            ("GET", r"/2/users/(?P<id>\d+)/tweets", self._timeline),
            ("POST", r"/oauth/request_token", self._request_token),
            ("GET", r"/oauth/authorize", self._page),
            ("POST", r"/oauth/access_token", self._access_token),
            ("GET", r"/i/oauth2/authorize", self._page),
            ("POST", r"/2/oauth2/token", self._token),
        ]
        for method, pattern, handler in routes:
            self.route(method, pattern, self._limited(f"{method} {pattern}", handler))

    # API v2 ----------------------------------------------------------------------------

    def _create_tweet(self, request: Request) -> Response:
        user_id = self._user_of(request)
        if user_id is None:
            return Response(401, UNAUTHORIZED)
        text = (request.body or {}).get("text") if isinstance(request.body, dict) else None
        if not text:
            return Response(
                400,
                {
                    "errors": [{"message": "Tweet text is empty"}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
            )
        with self.lock:
            if any(t.original == text for t in self.tweets_by(user_id)):
                return Response(403, DUPLICATE)
            tweet = self._store(user_id, text)
        return Response(
            201,
            {"data": {"id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id]}},
        )

    def _retweet(self, request: Request) -> Response:
        user_id = self._user_of(request)
        if user_id is None:
            return Response(401, UNAUTHORIZED)
        if request.params["id"] != user_id:
            return Response(
                403,
                {
                    "detail": "You are not permitted to perform this action.",
                    "type": "about:blank",
                    "title": "Forbidden",
                    "status": 403,
                },
            )
        target = str((request.body or {}).get("tweet_id", ""))
        with self.lock:
            original = next(
                (t for t in self.tweets if t.id == target and t.retweet_of is None), None
            )
            if original is None:
                return Response(
                    400,
                    {
                        "errors": [
                            {
                                "parameters": {"tweet_id": [target]},
                                "message": "The tweet_id is invalid",
                            }
                        ],
                        "title": "Invalid Request",
                        "detail": "One or more parameters to your request was invalid.",
                        "type": "https://api.twitter.com/2/problems/invalid-request",
                    },
                )
            if (user_id, target) not in self.retweets:
                author = self.users.get(original.author_id)
                name = author.username if author else original.author_id
                self._store(user_id, f"RT @{name}: {original.original}", retweet_of=target)
        return Response(200, {"data": {"retweeted": True}})

    def _me(self, request: Request) -> Response:
        user_id = self._user_of(request)
        if user_id is None:
            return Response(401, UNAUTHORIZED)
        user = self.users[user_id]
        data: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        if "public_metrics" in request.query.get("user.fields", "").split(","):
            with self.lock:
                refused, followers = self._metrics_refused, self._followers.get(user.id, 0)
                tweets = len(self.tweets_by(user.id))
            if refused is not None:
                return Response(403, refused)
            data["public_metrics"] = {
                "followers_count": followers,
                "following_count": 0,
                "tweet_count": tweets,
                "listed_count": 0,
                "like_count": 0,
                "media_count": 0,
            }
        return Response(200, {"data": data})

    def _timeline(self, request: Request) -> Response:
        if self._user_of(request) is None:
            return Response(401, UNAUTHORIZED)
        size = int(request.query.get("max_results", "10"))
        if not 5 <= size <= 100:
            return Response(400, {"title": "Invalid Request", "detail": "max_results out of range"})
        fields = set(filter(None, request.query.get("tweet.fields", "").split(",")))
        start = int(request.query.get("pagination_token") or 0)
        with self.lock:
            mine = [t for t in reversed(self.tweets) if t.author_id == request.params["id"]]
        page = mine[start : start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0].id, page[-1].id
        if start + size < len(mine):
            meta["next_token"] = str(start + size)
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = [t.as_json(fields) for t in page]
        return Response(200, body)

    # OAuth 1.0a ------------------------------------------------------------------------

    def _request_token(self, request: Request) -> Response:
        params = _oauth_params(request)
        if params.get("oauth_consumer_key") != self.consumer_key:
            return Response(401, b"Could not authenticate you.", {"Content-Type": "text/plain"})
        token, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self.lock:
            self._request_tokens[token] = _RequestToken(secret, params.get("oauth_callback", "oob"))
        body = urlencode(
            {"oauth_token": token, "oauth_token_secret": secret, "oauth_callback_confirmed": "true"}
        )
        return Response(200, body.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def _page(self, request: Request) -> Response:
        return Response(200, b"<html>Authorize app?</html>", {"Content-Type": "text/html"})

    def _access_token(self, request: Request) -> Response:
        params = {**request.query, **_oauth_params(request)}
        with self.lock:
            pending = self._request_tokens.get(params.get("oauth_token", ""))
            if (
                params.get("oauth_consumer_key") != self.consumer_key
                or pending is None
                or pending.verifier is None
                or params.get("oauth_verifier") != pending.verifier
                or pending.user_id is None
            ):
                return Response(401, b"Invalid request token.", {"Content-Type": "text/plain"})
            del self._request_tokens[params["oauth_token"]]
            user = self.users[pending.user_id]
            creds = self.issue_oauth1(user)
        body = urlencode(
            {
                "oauth_token": creds["access_token"],
                "oauth_token_secret": creds["access_token_secret"],
                "user_id": user.id,
                "screen_name": user.username,
            }
        )
        return Response(200, body.encode(), {"Content-Type": "text/html; charset=utf-8"})

    # OAuth 2.0 -------------------------------------------------------------------------

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        if self.client_secret is None:
            return form.get("client_id") == self.client_id
        value = request.header("Authorization") or ""
        if not value.startswith("Basic "):
            return False
        expected = f"{self.client_id}:{self.client_secret}"
        return base64.b64decode(value[6:]).decode() == expected

    def _token(self, request: Request) -> Response:
        form = request.body if isinstance(request.body, dict) else {}
        if not self._client_ok(request, form):
            return Response(
                401,
                {
                    "error": "unauthorized_client",
                    "error_description": "Missing valid authorization header",
                },
            )
        grant = form.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                code = self._codes.pop(form.get("code", ""), None)
                if (
                    code is None
                    or code.client_id != self.client_id
                    or code.redirect_uri != form.get("redirect_uri")
                    or s256(form.get("code_verifier", "")) != code.challenge
                ):
                    return Response(
                        400,
                        {
                            "error": "invalid_request",
                            "error_description": "Value passed for the authorization code was invalid.",
                        },
                    )
                self.code_exchanges += 1
                return Response(200, self._issue_bearer(code.user_id, code.scope))
            if grant == "refresh_token":
                user_id = self._refresh.pop(form.get("refresh_token", ""), None)
                if user_id is None:
                    return Response(
                        400,
                        {
                            "error": "invalid_request",
                            "error_description": "Value passed for the token was invalid.",
                        },
                    )
                self.token_refreshes += 1
                return Response(
                    200,
                    self._issue_bearer(user_id, "tweet.read tweet.write users.read offline.access"),
                )
        return Response(
            400,
            {"error": "unsupported_grant_type", "error_description": "grant_type not supported"},
        )
