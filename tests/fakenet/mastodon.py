"""A fake Mastodon instance: the part of the REST API and OAuth that tribe uses.

Wire contract followed (Mastodon 4.3):

- `GET /api/v1/instance`, `GET /api/v2/instance`: `configuration.statuses.max_characters`
  and `characters_reserved_per_url` as configured; v2 carries `domain`, v1 `uri`.
- `GET /.well-known/oauth-authorization-server` (4.3+; `oauth_metadata=False` answers 404
  like older servers), `POST /api/v1/apps`, `POST /oauth/token` (authorization_code).
  The member's visit to `/oauth/authorize` is `authorize(username) -> code`; a browser's
  visit (`GET /oauth/authorize`) by the user named in `consenting` is sent back to the
  registered redirect URI with `code` and `state`, as after clicking Authorize.
- `GET /api/v1/accounts/verify_credentials` (its `followers_count` as `set_followers`
  says), `GET /api/v1/accounts/:id/statuses`,
  `POST /api/v1/statuses` (with `Idempotency-Key`: the same key from the same account
  returns the first status and creates nothing), `GET /api/v1/statuses/:id`,
  `POST /api/v1/statuses/:id/reblog` (boosting twice returns the same boost).
- Bearer tokens as Doorkeeper answers them: unknown -> 401 "The access token is invalid",
  revoked -> 401 "The access token was revoked", missing scope -> 403 "This action is
  outside the authorized scopes".
- Every answer (faults included) carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
  `X-RateLimit-Reset` (ISO 8601 with microseconds, like Rails' `iso8601(6)`); going over
  `rate_limit` requests per `rate_period` seconds answers 429 "Too many requests".
"""

from __future__ import annotations

import html
import itertools
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.fakenet.common import FakeServer, Request, Response, bearer, json_error

SCOPES_READ = {"read", "read:accounts", "read:statuses"}
_URL = re.compile(r"https?://\S+")
_TRUE = {"1", "true", "True", "on"}


def iso(moment: datetime) -> str:
    """Rails' `iso8601(6)` in UTC: 2025-01-02T03:04:05.000000Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class App:
    client_id: str
    client_secret: str
    name: str
    redirect_uris: list[str]
    scopes: list[str]


@dataclass
class User:
    id: str
    username: str
    display_name: str
    followers: int = 0


@dataclass
class Token:
    token: str
    username: str
    client_id: str | None
    scopes: list[str]
    revoked: bool = False


@dataclass
class Status:
    """One status as the fake holds it (test helpers return these)."""

    id: str
    username: str
    text: str
    visibility: str
    created_at: datetime
    idempotency_key: str | None = None
    reblog_of: str | None = None  # set on a boost: the boosted status's id
    token: str | None = None  # which token created it


@dataclass
class _Code:
    username: str
    client_id: str
    redirect_uri: str
    scopes: list[str]


class FakeMastodon(FakeServer):
    """`with FakeMastodon() as fake:` ... `fake.base_url` is the instance's API base URL."""

    def __init__(
        self,
        *,
        domain: str = "fake.social",
        max_characters: int = 500,
        characters_reserved_per_url: int = 23,
        version: str = "4.3.0",
        oauth_metadata: bool = True,
        rate_limit: int = 300,
        rate_period: int = 300,
        port: int = 0,
    ) -> None:
        super().__init__(port)
        self.domain = domain
        self.max_characters = max_characters
        self.characters_reserved_per_url = characters_reserved_per_url
        self.version = version
        self.oauth_metadata = oauth_metadata
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.apps: dict[str, App] = {}
        self.consenting: str | None = None  # who "clicks Authorize" in a browser
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}
        self._codes: dict[str, _Code] = {}
        self._statuses: dict[str, Status] = {}
        self._idempotency: dict[tuple[str, str], str] = {}  # (account id, key) -> status id
        self._windows: dict[str, tuple[float, int]] = {}  # who -> (window start, count)
        self._ids = itertools.count(1)
        self._remote: dict[str, str] = {}  # a federated post's URL -> its local status id
        self._routes_installed()

    # Test helpers -------------------------------------------------------------------

    @property
    def app_registrations(self) -> int:
        with self.lock:
            return len(self.apps)

    def add_user(self, username: str, display_name: str | None = None) -> User:
        with self.lock:
            if username not in self.users:
                self.users[username] = User(
                    id=str(100 + len(self.users)),
                    username=username,
                    display_name=display_name or username.title(),
                )
            return self.users[username]

    def authorize(
        self,
        username: str,
        *,
        client_id: str | None = None,
        redirect_uri: str | None = None,
        scopes: list[str] | None = None,
    ) -> str:
        """What the member's visit to /oauth/authorize yields: a one-time code.

        Defaults: the last registered app, its first redirect URI and all its scopes.
        """
        with self.lock:
            self.add_user(username)
            if client_id is None:
                if not self.apps:
                    raise AssertionError("no app registered yet: call POST /api/v1/apps first")
                client_id = list(self.apps)[-1]
            app = self.apps[client_id]
            code = secrets.token_urlsafe(16)
            self._codes[code] = _Code(
                username=username,
                client_id=client_id,
                redirect_uri=redirect_uri or app.redirect_uris[0],
                scopes=scopes if scopes is not None else list(app.scopes),
            )
            return code

    def token_for(self, username: str, scopes: list[str] | None = None) -> str:
        """An access token for `username` without the OAuth dance (publishing tests)."""
        with self.lock:
            self.add_user(username)
            token = secrets.token_urlsafe(24)
            self.tokens[token] = Token(token, username, None, scopes or ["read", "write"])
            return token

    def set_followers(self, username: str, followers: int) -> None:
        """How many follow the user (the account's `followers_count`)."""
        with self.lock:
            self.add_user(username).followers = followers

    def revoke(self, token: str) -> None:
        with self.lock:
            self.tokens[token].revoked = True

    def add_status(self, username: str, text: str, *, visibility: str = "public") -> Status:
        """A status posted outside tribe (an author's post to boost)."""
        with self.lock:
            self.add_user(username)
            return self._new_status(username, text, visibility)

    @property
    def statuses(self) -> list[Status]:
        """Every status, boosts included, oldest first."""
        with self.lock:
            return list(self._statuses.values())

    def statuses_by(self, username: str, *, reblogs: bool = False) -> list[Status]:
        """The user's own posts (and boosts too with `reblogs=True`), oldest first."""
        with self.lock:
            return [
                s
                for s in self._statuses.values()
                if s.username == username and (reblogs or s.reblog_of is None)
            ]

    def reblogs_of(self, status_id: str) -> list[Status]:
        with self.lock:
            return [s for s in self._statuses.values() if s.reblog_of == status_id]

    def reblog_count(self, status_id: str) -> int:
        return len(self.reblogs_of(status_id))

    def status(self, status_id: str) -> Status:
        with self.lock:
            return self._statuses[status_id]

    def delete_status(self, status_id: str) -> None:
        """Delete a status and its boosts (as Mastodon does)."""
        with self.lock:
            self._statuses.pop(status_id)
            for boost in [s.id for s in self._statuses.values() if s.reblog_of == status_id]:
                self._statuses.pop(boost)

    def rate_limited(self, until: datetime, *, match: str | None = None, times: int = 1) -> None:
        """Queue a 429 as Rack::Attack answers it, resetting at `until`."""
        self.fail(
            429,
            match=match,
            times=times,
            headers={
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": iso(until),
            },
            body={"error": "Too many requests"},
        )

    # Serving ------------------------------------------------------------------------

    def _routes_installed(self) -> None:
        self.route("GET", r"/api/v1/instance/?", self._instance_v1)
        self.route("GET", r"/api/v2/instance/?", self._instance_v2)
        self.route("GET", r"/\.well-known/oauth-authorization-server", self._oauth_metadata)
        self.route("POST", r"/api/v1/apps/?", self._create_app)
        self.route("POST", r"/oauth/token", self._token)
        self.route("GET", r"/oauth/authorize", self._authorize_page)
        self.route("GET", r"/api/v1/accounts/verify_credentials", self._verify_credentials)
        self.route("GET", r"/api/v1/accounts/(?P<id>[^/]+)/statuses", self._account_statuses)
        self.route("POST", r"/api/v1/statuses/?", self._post_status)
        self.route("GET", r"/api/v1/statuses/(?P<id>[^/]+)", self._get_status)
        self.route("POST", r"/api/v1/statuses/(?P<id>[^/]+)/reblog", self._reblog)
        self.route("GET", r"/api/v2/search", self._search)

    def answer(self, request: Request, response: Response) -> Response:
        """Every answer, faults included, carries Mastodon's rate limit headers."""
        given = {name.lower() for name in response.headers}
        headers = dict(response.headers)
        remaining, reset = self._window(_who(request.headers))
        if response.status == 429 or remaining < 0:
            remaining = 0
        for name, value in (
            ("X-RateLimit-Limit", str(self.rate_limit)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", iso(reset)),
        ):
            if name.lower() not in given:
                headers[name] = value
        return Response(response.status, response.body, headers)

    def _window(self, who: str, *, count: bool = False) -> tuple[int, datetime]:
        """(requests left, reset time) in `who`'s current window; `count` counts one more."""
        now = datetime.now(UTC).timestamp()
        start = now - now % self.rate_period
        with self.lock:
            seen_start, used = self._windows.get(who, (start, 0))
            if seen_start != start:
                used = 0
            if count:
                used += 1
                self._windows[who] = (start, used)
        reset = datetime.fromtimestamp(start + self.rate_period, UTC)
        return self.rate_limit - used, reset

    def _handle(self, request: Request) -> Response:
        left, _ = self._window(_who(request.headers), count=True)
        if left < 0:
            return json_error(429, "Too many requests")
        return super()._handle(request)

    # Auth ---------------------------------------------------------------------------

    def _auth(
        self, request: Request, scopes: set[str], *, required: bool = True
    ) -> Token | Response | None:
        value = bearer(request)
        if value is None:
            if required:
                return json_error(401, "The access token is invalid")
            return None
        with self.lock:
            token = self.tokens.get(value)
            if token is None:
                return json_error(401, "The access token is invalid")
            if token.revoked:
                return json_error(401, "The access token was revoked")
        if not scopes & set(token.scopes):
            return json_error(403, "This action is outside the authorized scopes")
        return token

    # Instance and OAuth -----------------------------------------------------------

    def _statuses_config(self) -> dict[str, Any]:
        return {
            "max_characters": self.max_characters,
            "max_media_attachments": 4,
            "characters_reserved_per_url": self.characters_reserved_per_url,
        }

    def _instance_v1(self, request: Request) -> Response:
        return Response(
            200,
            {
                "uri": self.domain,
                "title": "Fake Social",
                "short_description": "A fake Mastodon for tests",
                "description": "",
                "email": "admin@" + self.domain,
                "version": self.version,
                "urls": {"streaming_api": self.base_url.replace("http", "ws", 1)},
                "stats": {"user_count": len(self.users), "status_count": 0, "domain_count": 1},
                "languages": ["en"],
                "registrations": False,
                "approval_required": False,
                "invites_enabled": False,
                "configuration": {"statuses": self._statuses_config()},
                "contact_account": None,
                "rules": [],
            },
            {"Deprecation": "@1696118400"} if self.version >= "4" else {},
        )

    def _instance_v2(self, request: Request) -> Response:
        if self.version < "4":
            return json_error(404, "Record not found")
        return Response(
            200,
            {
                "domain": self.domain,
                "title": "Fake Social",
                "version": self.version,
                "source_url": "https://github.com/mastodon/mastodon",
                "description": "A fake Mastodon for tests",
                "usage": {"users": {"active_month": len(self.users)}},
                "languages": ["en"],
                "configuration": {
                    "urls": {"streaming": self.base_url.replace("http", "ws", 1)},
                    "accounts": {"max_featured_tags": 10},
                    "statuses": self._statuses_config(),
                },
                "registrations": {"enabled": False, "approval_required": False},
                "contact": {"email": "admin@" + self.domain},
                "rules": [],
                "api_versions": {"mastodon": 2},
            },
        )

    def _authorize_page(self, request: Request) -> Response:
        """A browser's visit to /oauth/authorize: `consenting` (a username) has signed in
        and clicks Authorize, so the instance sends the browser back to the app's
        redirect URI with a code and the app's state, as Mastodon does."""
        query = request.query
        if not self.consenting or query.get("client_id") not in self.apps:
            return Response(400, b"unknown app or nobody signed in", {"Content-Type": "text/plain"})
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.apps[query["client_id"]].redirect_uris:
            return Response(400, b"redirect_uri not registered", {"Content-Type": "text/plain"})
        code = self.authorize(
            self.consenting, client_id=query["client_id"], redirect_uri=redirect_uri
        )
        back = redirect_uri + "?" + urlencode({"code": code, "state": query.get("state", "")})
        return Response(302, b"", {"Location": back})

    def _oauth_metadata(self, request: Request) -> Response:
        if not self.oauth_metadata:
            return json_error(404, "Record not found")
        base = self.base_url
        return Response(
            200,
            {
                "issuer": base + "/",
                "authorization_endpoint": base + "/oauth/authorize",
                "token_endpoint": base + "/oauth/token",
                "revocation_endpoint": base + "/oauth/revoke",
                "scopes_supported": ["read", "write", "read:accounts", "read:statuses"],
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            },
        )

    def _create_app(self, request: Request) -> Response:
        body = request.body or {}
        name = body.get("client_name", "")
        uris = [u for u in str(body.get("redirect_uris", "")).split() if u]
        if not name:
            return json_error(422, "Validation failed: Application name can't be blank")
        if not uris:
            return json_error(422, "Validation failed: Redirect URI can't be blank")
        scopes = str(body.get("scopes") or "read").split()
        app = App(secrets.token_urlsafe(16), secrets.token_urlsafe(24), name, uris, scopes)
        with self.lock:
            self.apps[app.client_id] = app
        return Response(
            200,
            {
                "id": str(len(self.apps)),
                "name": name,
                "website": body.get("website"),
                "scopes": scopes,
                "redirect_uri": "\n".join(uris),
                "redirect_uris": uris,
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "vapid_key": "",
            },
        )

    def _token(self, request: Request) -> Response:
        body = request.body or {}
        with self.lock:
            app = self.apps.get(body.get("client_id", ""))
            if app is None or app.client_secret != body.get("client_secret"):
                return Response(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "Client authentication failed due to unknown "
                        "client, no client authentication included, or unsupported "
                        "authentication method.",
                    },
                )
            if body.get("grant_type") != "authorization_code":
                return Response(400, {"error": "unsupported_grant_type"})
            code = self._codes.get(body.get("code", ""))
            if (
                code is None
                or code.client_id != app.client_id
                or code.redirect_uri != body.get("redirect_uri")
            ):
                return Response(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "The provided authorization grant is invalid, "
                        "expired, revoked, does not match the redirection URI used in the "
                        "authorization request, or was issued to another client.",
                    },
                )
            del self._codes[body["code"]]
            token = Token(secrets.token_urlsafe(24), code.username, app.client_id, code.scopes)
            self.tokens[token.token] = token
        return Response(
            200,
            {
                "access_token": token.token,
                "token_type": "Bearer",
                "scope": " ".join(token.scopes),
                "created_at": int(datetime.now(UTC).timestamp()),
            },
        )

    # Accounts and statuses ----------------------------------------------------------

    def _account_json(self, user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "username": user.username,
            "acct": user.username,
            "display_name": user.display_name,
            "locked": False,
            "bot": False,
            "discoverable": True,
            "group": False,
            "created_at": "2024-01-01T00:00:00.000Z",
            "note": "",
            "url": f"{self.base_url}/@{user.username}",
            "uri": f"{self.base_url}/users/{user.username}",
            "avatar": f"{self.base_url}/avatars/original/missing.png",
            "avatar_static": f"{self.base_url}/avatars/original/missing.png",
            "header": f"{self.base_url}/headers/original/missing.png",
            "header_static": f"{self.base_url}/headers/original/missing.png",
            "followers_count": user.followers,
            "following_count": 0,
            "statuses_count": len(self.statuses_by(user.username, reblogs=True)),
            "last_status_at": None,
            "emojis": [],
            "fields": [],
        }

    def _verify_credentials(self, request: Request) -> Response:
        token = self._auth(request, SCOPES_READ | {"profile"})
        if not isinstance(token, Token):
            return token or json_error(401, "The access token is invalid")
        with self.lock:
            user = self.users[token.username]
            body = self._account_json(user)
        body["source"] = {"privacy": "public", "sensitive": False, "language": "", "note": ""}
        return Response(200, body)

    def _account_statuses(self, request: Request) -> Response:
        token = self._auth(request, SCOPES_READ, required=False)
        if isinstance(token, Response):
            return token
        query = request.query
        limit = min(int(query.get("limit") or 20), 40)
        with self.lock:
            user = next((u for u in self.users.values() if u.id == request.params["id"]), None)
            if user is None:
                return json_error(404, "Record not found")
            found = [
                s
                for s in self._statuses.values()
                if s.username == user.username
                and not (query.get("exclude_reblogs") in _TRUE and s.reblog_of)
                and (s.visibility in {"public", "unlisted"} or token is not None)
            ]
            found.sort(key=lambda s: int(s.id), reverse=True)
            viewer = token.username if token else None
            return Response(200, [self._status_json(s, viewer) for s in found[:limit]])

    def _get_status(self, request: Request) -> Response:
        token = self._auth(request, SCOPES_READ, required=False)
        if isinstance(token, Response):
            return token
        with self.lock:
            status = self._statuses.get(request.params["id"])
            if status is None:
                return json_error(404, "Record not found")
            return Response(200, self._status_json(status, token.username if token else None))

    def _post_status(self, request: Request) -> Response:
        token = self._auth(request, {"write", "write:statuses"})
        if not isinstance(token, Token):
            return token or json_error(401, "The access token is invalid")
        body = request.body or {}
        text = str(body.get("status") or "")
        visibility = str(body.get("visibility") or "public")
        key = request.header("Idempotency-Key")
        with self.lock:
            user = self.users[token.username]
            if key and (user.id, key) in self._idempotency:
                existing = self._statuses[self._idempotency[(user.id, key)]]
                return Response(200, self._status_json(existing, user.username))
            if not text.strip():
                return json_error(422, "Validation failed: Text can't be blank")
            if self._length(text) > self.max_characters:
                return json_error(
                    422,
                    f"Validation failed: Text character limit of {self.max_characters} exceeded",
                )
            if visibility not in {"public", "unlisted", "private", "direct"}:
                return json_error(422, "Validation failed: Visibility is not included in the list")
            status = self._new_status(user.username, text, visibility, key=key, token=token.token)
            if key:
                self._idempotency[(user.id, key)] = status.id
            return Response(200, self._status_json(status, user.username))

    def federate(self, url: str, username: str, text: str) -> Status:
        """A post from another instance, known here (as federation would make it)."""
        with self.lock:
            status = self.add_status(username, text)
            self._remote[url] = status.id
            return status

    def _search(self, request: Request) -> Response:
        """GET /api/v2/search?q=URL&resolve=true: a status by its URL (own or federated)."""
        token = self._auth(request, SCOPES_READ, required=False)
        if isinstance(token, Response):
            return token
        query = request.query.get("q", "")
        with self.lock:
            found = [
                s
                for s in self._statuses.values()
                if self._remote.get(query) == s.id
                or query == f"{self.base_url}/@{s.username}/{s.id}"
            ]
            viewer = token.username if token else None
            statuses = [self._status_json(s, viewer) for s in found]
        return Response(200, {"accounts": [], "statuses": statuses, "hashtags": []})

    def _reblog(self, request: Request) -> Response:
        token = self._auth(request, {"write", "write:statuses"})
        if not isinstance(token, Token):
            return token or json_error(401, "The access token is invalid")
        with self.lock:
            target = self._statuses.get(request.params["id"])
            if target is None:
                return json_error(404, "Record not found")
            if target.reblog_of is not None:  # boosting a boost boosts the original
                target = self._statuses[target.reblog_of]
            if target.visibility in {"private", "direct"} and target.username != token.username:
                return json_error(403, "This action is not allowed")
            existing = next(
                (
                    s
                    for s in self._statuses.values()
                    if s.reblog_of == target.id and s.username == token.username
                ),
                None,
            )
            boost = existing or self._new_status(
                token.username, "", "public", reblog_of=target.id, token=token.token
            )
            return Response(200, self._status_json(boost, token.username))

    # Internals ----------------------------------------------------------------------

    def _length(self, text: str) -> int:
        """Mastodon's count: every URL counts as `characters_reserved_per_url`."""
        urls = _URL.findall(text)
        rest = _URL.sub("", text)
        return len(rest) + len(urls) * self.characters_reserved_per_url

    def _new_status(
        self,
        username: str,
        text: str,
        visibility: str,
        *,
        key: str | None = None,
        reblog_of: str | None = None,
        token: str | None = None,
    ) -> Status:
        status = Status(
            id=str(110_000_000_000_000_000 + next(self._ids)),
            username=username,
            text=text,
            visibility=visibility,
            created_at=datetime.now(UTC),
            idempotency_key=key,
            reblog_of=reblog_of,
            token=token,
        )
        self._statuses[status.id] = status
        return status

    def _status_json(self, status: Status, viewer: str | None) -> dict[str, Any]:
        user = self.users[status.username]
        original = self._statuses.get(status.reblog_of) if status.reblog_of else None
        boosters = {s.username for s in self._statuses.values() if s.reblog_of == status.id}
        if original is not None:
            url = f"{self.base_url}/users/{user.username}/statuses/{status.id}/activity"
        else:
            url = f"{self.base_url}/@{user.username}/{status.id}"
        return {
            "id": status.id,
            "created_at": status.created_at.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{status.created_at.microsecond // 1000:03d}Z",
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": status.visibility,
            "language": "en" if original is None else None,
            "uri": f"{self.base_url}/users/{user.username}/statuses/{status.id}",
            "url": url,
            "replies_count": 0,
            "reblogs_count": len(boosters),
            "favourites_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": viewer in boosters if viewer else False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": "" if original is not None else _render(status.text),
            "filtered": [],
            "reblog": self._status_json(original, viewer) if original is not None else None,
            "application": {"name": "Web", "website": None},
            "account": self._account_json(user),
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }


def _render(text: str) -> str:
    """Mastodon's plain-text formatter, roughly: paragraphs, line breaks, linked URLs."""

    def paragraph(chunk: str) -> str:
        escaped = html.escape(chunk, quote=False)
        linked = _URL.sub(
            lambda m: (
                f'<a href="{m.group(0)}" target="_blank" rel="nofollow noopener">'
                f'<span class="invisible">{m.group(0).split("//", 1)[0]}//</span>'
                f'<span class="">{m.group(0).split("//", 1)[1]}</span></a>'
            ),
            escaped,
        )
        return "<p>" + linked.replace("\n", "<br />") + "</p>"

    return "".join(paragraph(p) for p in re.split(r"\n{2,}", text.strip()) if p)


def _who(headers: dict[str, str]) -> str:
    """Whose rate window a request counts in: its token's, else the anonymous one."""
    for key, value in headers.items():
        if key.lower() == "authorization" and value.lower().startswith("bearer "):
            return "token:" + value[7:]
    return "anonymous"


__all__ = ["App", "FakeMastodon", "Status", "Token", "User", "iso"]
