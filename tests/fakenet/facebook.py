"""A fake Facebook Graph API (Facebook Login and the Pages API) on `FakeServer`.

Speaks what tribe uses, shaped like Graph's answers (`FacebookApp(auth_url=fake.base_url,
api_url=fake.base_url, ...)`, or `fake.env()` for the settings):

    GET  /<ver>/dialog/oauth        the login dialog: a page (never called by code: see
                                    `authorize` and `redirect`)
    GET  /<ver>/oauth/access_token  ?client_id&client_secret&redirect_uri&code -> a
                                    short-lived user token {access_token, token_type,
                                    expires_in}; ?grant_type=fb_exchange_token&
                                    fb_exchange_token=... -> a long-lived one (60 days)
    GET  /<ver>/me/accounts         the person's Pages {data: [{id, name, access_token,
                                    tasks}]}: a Page token made from a long-lived user
                                    token does not expire (`lasting`)
    POST /<ver>/<page-id>/feed      message, link -> {id: "<page-id>_<post-id>"}; the
                                    same message twice in a row -> error 506 (duplicate)
    GET  /<ver>/<page-id>/posts     newest first; fields, since (epoch seconds), limit,
                                    after (a cursor) -> {data, paging: {cursors, next}}
    GET  /<ver>/<page-id>           ?fields=followers_count

Tokens come as `Authorization: Bearer` or an `access_token` parameter, and every call
with one must carry its `appsecret_proof` (the app's "Require App Secret" is on). Unknown, revoked
or expired tokens get Graph's error 190 (HTTP 400); a Page token used on another Page, or
a Page whose role lacks CREATE_CONTENT, gets error 200 (HTTP 403). Every answer to a
Page token carries `X-Business-Use-Case-Usage` for that Page (the share of its hourly
calls used, `estimated_time_to_regain_access` in minutes); beyond `rate_limit` calls an
hour Graph's error 80001 answers. Answers to a user token carry `X-App-Usage`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakenet.common import FakeServer, Request, Response, bearer

VERSION = "v21.0"
SHORT_LIVED = 3600  # seconds: a user token from the code
LONG_LIVED = 60 * 24 * 3600  # a user token exchanged for a long-lived one
RATE_WINDOW = 3600  # Graph counts Page calls over a rolling hour
SCOPES = ("pages_show_list", "pages_manage_posts", "pages_read_engagement")
ALL_TASKS = ("ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE")


def graph_error(
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    kind: str = "OAuthException",
    transient: bool = False,
) -> dict[str, Any]:
    """Graph's error body: {"error": {message, type, code, error_subcode, fbtrace_id}}."""
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "is_transient": transient,
        "fbtrace_id": "A" + secrets.token_hex(10),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


INVALID_TOKEN = graph_error(
    190, "Error validating access token: The session has been invalidated.", subcode=460
)
UNKNOWN_ERROR = graph_error(1, "An unknown error occurred", transient=True)
BLOCKED = graph_error(
    368, "It looks like you were misusing this feature by going too fast.", subcode=1390008
)


def buc_usage(page_id: str, percent: int, minutes: int = 0) -> dict[str, str]:
    """The X-Business-Use-Case-Usage header for a Page (what Page-token answers carry)."""
    usage = {
        page_id: [
            {
                "type": "pages",
                "call_count": percent,
                "total_cputime": min(percent, 25),
                "total_time": min(percent, 25),
                "estimated_time_to_regain_access": minutes,
            }
        ]
    }
    return {"X-Business-Use-Case-Usage": json.dumps(usage)}


def app_usage(percent: int) -> dict[str, str]:
    """The X-App-Usage header (what app- and user-token answers carry)."""
    usage = {"call_count": percent, "total_cputime": 0, "total_time": 0}
    return {"X-App-Usage": json.dumps(usage)}


def graph_time(moment: datetime) -> str:
    """Graph's created_time format: 2024-05-01T12:00:00+0000."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass(frozen=True)
class FakePerson:
    """Someone who signs in with Facebook Login and manages Pages."""

    id: str
    name: str


@dataclass(frozen=True)
class FakePage:
    """A Facebook Page: the account tribe posts as (`id` is its remote_user_id)."""

    id: str
    name: str
    manager: FakePerson
    tasks: tuple[str, ...] = ALL_TASKS


@dataclass
class FakePost:
    id: str  # "<page-id>_<post-id>", as Graph names Page posts
    author_id: str  # the Page
    text: str  # the message as tribe sent it (the member's words with the link)
    link: str | None
    created_at: datetime

    def as_json(self, fields: set[str]) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        if "message" in fields and self.text:
            data["message"] = self.text
        if "created_time" in fields:
            data["created_time"] = graph_time(self.created_at)
        if "permalink_url" in fields:
            page_id, post_id = self.id.split("_")
            data["permalink_url"] = f"https://www.facebook.com/{page_id}/posts/{post_id}"
        return data


@dataclass
class _Token:
    """An access token Graph issued: a user's (`page_id` None) or a Page's."""

    person_id: str
    page_id: str | None
    expires_at: float | None  # epoch seconds; None: it does not expire
    long_lived: bool = False


@dataclass
class _Code:
    person_id: str
    client_id: str
    redirect_uri: str
    scope: str


@dataclass
class _Usage:
    """Calls with a Page's tokens this hour, and usage a test asked every answer to show."""

    used: int = 0
    window_ends: float = field(default_factory=lambda: time.time() + RATE_WINDOW)
    shown: tuple[int, int] | None = None  # (percent, minutes) set by `set_usage`


class FakeFacebook(FakeServer):
    def __init__(
        self,
        *,
        client_id: str = "fake-facebook-app",
        client_secret: str = "fake-facebook-secret",
        rate_limit: int = 1000,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.rate_limit = rate_limit  # calls per Page per hour before error 80001
        self.people: dict[str, FakePerson] = {}
        self.pages: dict[str, FakePage] = {}
        self.posts: list[FakePost] = []  # oldest first
        self.code_exchanges = 0
        self.long_lived_exchanges = 0
        self._ids = itertools.count(1_000_000_001)
        self._post_ids = itertools.count(122_100_000_000_000_001)
        self._tokens: dict[str, _Token] = {}
        self._codes: dict[str, _Code] = {}
        self._followers: dict[str, int] = {}
        self._usage: dict[str, _Usage] = {}
        self._routes_graph()

    # Helpers for tests -----------------------------------------------------------------

    def add_person(self, name: str) -> FakePerson:
        with self.lock:
            person = FakePerson(str(next(self._ids)), name)
            self.people[person.id] = person
            return person

    def add_page(
        self, manager: FakePerson, name: str, *, tasks: tuple[str, ...] = ALL_TASKS
    ) -> FakePage:
        """A Page `manager` has a role on, able to do `tasks` (CREATE_CONTENT to post)."""
        with self.lock:
            page = FakePage(str(next(self._ids)), name, manager, tasks)
            self.pages[page.id] = page
            return page

    def add_user(self, name: str) -> FakePage:
        """The account tribe posts as: a Page called `name`, managed by one person."""
        return self.add_page(self.add_person(name), name)

    def credentials(self, user: FakePage, expires_in: int | None = None) -> dict[str, Any]:
        """Credentials exactly as the connector stores them: the Page's token. Page
        tokens do not expire; `expires_in` makes Graph stop taking this one after that
        many seconds (as when the member changes their password)."""
        with self.lock:
            expires = None if expires_in is None else time.time() + expires_in
            token = self._issue(user.manager.id, user.id, expires, long_lived=True)
        return {"access_token": token}

    def env(
        self, redirect_url: str = "http://testserver/accounts/connect/facebook/callback"
    ) -> dict[str, str]:
        """The TRIBE_FACEBOOK_* settings that point tribe at this fake."""
        return {
            "TRIBE_FACEBOOK_AUTH_URL": self.base_url,
            "TRIBE_FACEBOOK_API_URL": self.base_url,
            "TRIBE_FACEBOOK_CLIENT_ID": self.client_id,
            "TRIBE_FACEBOOK_CLIENT_SECRET": self.client_secret,
            "TRIBE_FACEBOOK_REDIRECT_URL": redirect_url,
        }

    def add_post(
        self, page: FakePage, text: str, *, created_at: datetime | None = None
    ) -> FakePost:
        """A post already on the Page (older content, or one made elsewhere)."""
        with self.lock:
            return self._store(page.id, text, None, created_at)

    def posts_by(self, page: FakePage) -> list[FakePost]:
        with self.lock:
            return [p for p in self.posts if p.author_id == page.id]

    def set_followers(self, page: FakePage, followers: int) -> None:
        with self.lock:
            self._followers[page.id] = followers

    def set_usage(self, page: FakePage, percent: int, minutes: int = 0) -> None:
        """Every answer for the Page shows this much of its hourly calls used (and when
        access comes back), however many calls were made."""
        with self.lock:
            self._usage.setdefault(page.id, _Usage()).shown = (percent, minutes)

    def revoke(self, token: str) -> None:
        """The token stops working (password changed, app removed, Page role lost)."""
        with self.lock:
            self._tokens.pop(token, None)

    def token_lasts(self, token: str) -> bool:
        """Whether the token never expires (a Page token made from a long-lived one)."""
        with self.lock:
            return self._tokens[token].expires_at is None

    def authorize(self, dialog_url: str, person: FakePerson) -> str:
        """The person approves the app in the login dialog; returns the code."""
        query = dict(parse_qsl(urlsplit(dialog_url).query))
        assert urlsplit(dialog_url).path == f"/{VERSION}/dialog/oauth"
        assert query["response_type"] == "code"
        with self.lock:
            code = secrets.token_urlsafe(48)
            self._codes[code] = _Code(
                person.id, query["client_id"], query["redirect_uri"], query.get("scope", "")
            )
            return code

    def redirect(self, dialog_url: str, person: FakePerson) -> str:
        """Where Facebook sends the browser back: redirect_uri?code=...&state=...#_=_"""
        query = dict(parse_qsl(urlsplit(dialog_url).query))
        code = self.authorize(dialog_url, person)
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}#_=_"

    def declined(self, dialog_url: str) -> str:
        """Where Facebook sends the browser back when the person cancels the dialog."""
        query = dict(parse_qsl(urlsplit(dialog_url).query))
        answer = {
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
            "state": query["state"],
        }
        return f"{query['redirect_uri']}?{urlencode(answer)}#_=_"

    # Internals -----------------------------------------------------------------------

    def _issue(
        self, person_id: str, page_id: str | None, expires_at: float | None, *, long_lived: bool
    ) -> str:
        token = "EAA" + secrets.token_urlsafe(40)
        self._tokens[token] = _Token(person_id, page_id, expires_at, long_lived)
        return token

    def _store(
        self, page_id: str, text: str, link: str | None, created_at: datetime | None
    ) -> FakePost:
        post = FakePost(
            id=f"{page_id}_{next(self._post_ids)}",
            author_id=page_id,
            text=text,
            link=link,
            created_at=created_at or datetime.now(UTC),
        )
        self.posts.append(post)
        self.posts.sort(key=lambda p: p.created_at)
        return post

    def _token_of(self, request: Request) -> _Token | None:
        token = bearer(request) or request.query.get("access_token")
        if token is None and isinstance(request.body, dict):
            token = request.body.get("access_token")
        with self.lock:
            found = self._tokens.get(token or "")
            if found is None or (found.expires_at is not None and found.expires_at <= time.time()):
                return None
            return found

    def _bad_proof(self, request: Request) -> Response | None:
        """The app requires every call to carry appsecret_proof (its "Require App Secret"
        setting): HMAC-SHA256 of the access token, keyed by the app secret."""
        params = {**request.query, **(request.body if isinstance(request.body, dict) else {})}
        token = bearer(request) or params.get("access_token", "")
        expected = hmac.new(self.client_secret.encode(), token.encode(), hashlib.sha256)
        if hmac.compare_digest(params.get("appsecret_proof", ""), expected.hexdigest()):
            return None
        return Response(
            400,
            graph_error(
                100,
                "API calls from the server require an appsecret_proof argument"
                if "appsecret_proof" not in params
                else "Invalid appsecret_proof provided in the API argument",
                kind="GraphMethodException",
            ),
        )

    def _page_call(self, request: Request, token: _Token) -> Response | None:
        """Count a call with a Page token; error 80001 once the hour's calls are spent."""
        page_id = token.page_id or ""
        with self.lock:
            usage = self._usage.setdefault(page_id, _Usage())
            now = time.time()
            if now >= usage.window_ends:
                usage.used, usage.window_ends = 0, now + RATE_WINDOW
            usage.used += 1
            spent = usage.used > self.rate_limit
        if spent:
            return Response(
                400,
                graph_error(
                    80001,
                    "There have been too many calls to this Page account. Wait a bit and try "
                    "again. For more info, please refer to https://developers.facebook.com/"
                    "docs/graph-api/overview/rate-limiting.",
                ),
            )
        return None

    def answer(self, request: Request, response: Response) -> Response:
        token = self._token_of(request)
        if token is None:
            return response
        if token.page_id is None:
            response.headers = {**app_usage(1), **response.headers}
            return response
        with self.lock:
            usage = self._usage.setdefault(token.page_id, _Usage())
            if usage.shown is not None:
                percent, minutes = usage.shown
            else:
                percent = min(100, math.ceil(100 * usage.used / max(self.rate_limit, 1)))
                minutes = math.ceil((usage.window_ends - time.time()) / 60) if percent >= 100 else 0
        response.headers = {**buc_usage(token.page_id, percent, minutes), **response.headers}
        return response

    def _routes_graph(self) -> None:
        base = rf"/{VERSION}"
        self.route("GET", base + r"/dialog/oauth", self._dialog)
        self.route("GET", base + r"/oauth/access_token", self._access_token)
        self.route("GET", base + r"/me/accounts", self._accounts)
        self.route("POST", base + r"/(?P<id>\d+)/feed", self._publish)
        self.route("GET", base + r"/(?P<id>\d+)/posts", self._posts)
        self.route("GET", base + r"/(?P<id>\d+)", self._node)

    def _dialog(self, request: Request) -> Response:
        return Response(200, b"<html>Continue as ...?</html>", {"Content-Type": "text/html"})

    def _access_token(self, request: Request) -> Response:
        query = request.query
        if query.get("client_id") != self.client_id:
            return Response(
                400, graph_error(101, "Error validating application. Invalid application ID.")
            )
        if query.get("client_secret") != self.client_secret:
            return Response(400, graph_error(1, "Error validating client secret."))
        if query.get("grant_type") == "fb_exchange_token":
            return self._long_lived(query.get("fb_exchange_token", ""))
        return self._exchange_code(query.get("code", ""), query.get("redirect_uri"))

    def _exchange_code(self, given: str, redirect_uri: str | None) -> Response:
        with self.lock:
            code = self._codes.pop(given, None)
            if code is None:
                return Response(
                    400,
                    graph_error(100, "This authorization code has been used.", subcode=36009),
                )
            if code.redirect_uri != redirect_uri:
                return Response(
                    400,
                    graph_error(
                        100,
                        "Error validating verification code. Please make sure your redirect_uri "
                        "is identical to the one you used in the OAuth dialog request",
                        subcode=36008,
                    ),
                )
            self.code_exchanges += 1
            token = self._issue(code.person_id, None, time.time() + SHORT_LIVED, long_lived=False)
        return Response(
            200, {"access_token": token, "token_type": "bearer", "expires_in": SHORT_LIVED}
        )

    def _long_lived(self, given: str) -> Response:
        with self.lock:
            old = self._tokens.get(given)
            if old is None or old.page_id is not None:
                return Response(400, INVALID_TOKEN)
            self.long_lived_exchanges += 1
            token = self._issue(old.person_id, None, time.time() + LONG_LIVED, long_lived=True)
        return Response(
            200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED}
        )

    def _accounts(self, request: Request) -> Response:
        token = self._token_of(request)
        if token is None or token.page_id is not None:
            return Response(400, INVALID_TOKEN)
        refused = self._bad_proof(request)
        if refused is not None:
            return refused
        fields = set(filter(None, request.query.get("fields", "id,name").split(",")))
        with self.lock:
            # A Page token made from a long-lived user token does not expire; from a
            # short-lived one it lasts as long as that token.
            expires = None if token.long_lived else token.expires_at
            data = []
            for page in self.pages.values():
                if page.manager.id != token.person_id:
                    continue
                entry: dict[str, Any] = {"id": page.id, "name": page.name}
                if "access_token" in fields:
                    entry["access_token"] = self._issue(
                        token.person_id, page.id, expires, long_lived=token.long_lived
                    )
                if "tasks" in fields:
                    entry["tasks"] = list(page.tasks)
                data.append({k: v for k, v in entry.items() if k in fields or k == "id"})
        cursors = {"before": "QVFIUmJ", "after": "QVFIUmF"}
        return Response(200, {"data": data, "paging": {"cursors": cursors}})

    def _page_token(self, request: Request) -> tuple[_Token, FakePage] | Response:
        """The Page token for the Page in the path, or the error Graph answers."""
        token = self._token_of(request)
        if token is None:
            return Response(400, INVALID_TOKEN)
        refused = self._bad_proof(request)
        if refused is not None:
            return refused
        page = self.pages.get(request.params["id"])
        if page is None:
            return Response(
                400,
                graph_error(
                    100,
                    f"Unsupported request - method type: {request.method.lower()}",
                    subcode=33,
                    kind="GraphMethodException",
                ),
            )
        if token.page_id != page.id:
            return Response(
                403,
                graph_error(
                    200,
                    "(#200) If posting to a page, requires both pages_read_engagement and "
                    "pages_manage_posts as an admin with sufficient administrative permission",
                ),
            )
        limited = self._page_call(request, token)
        return limited or (token, page)

    def _publish(self, request: Request) -> Response:
        found = self._page_token(request)
        if isinstance(found, Response):
            return found
        _, page = found
        if "CREATE_CONTENT" not in page.tasks:
            return Response(
                403,
                graph_error(
                    200,
                    "(#200) The user hasn't authorized the application to perform this action",
                ),
            )
        form = request.body if isinstance(request.body, dict) else {}
        message, link = form.get("message", ""), form.get("link") or None
        if not message and not link:
            return Response(
                400, graph_error(100, "(#100) The parameter message or link is required")
            )
        with self.lock:
            mine = self.posts_by(page)
            if mine and mine[-1].text == message and message:
                return Response(400, graph_error(506, "(#506) Duplicate status message"))
            post = self._store(page.id, message, link, None)
        return Response(200, {"id": post.id})

    def _posts(self, request: Request) -> Response:
        found = self._page_token(request)
        if isinstance(found, Response):
            return found
        _, page = found
        query = request.query
        fields = set(filter(None, query.get("fields", "id,message,created_time").split(",")))
        size = min(int(query.get("limit", "25")), 100)
        since = float(query["since"]) if "since" in query else None
        start = int(query.get("after") or 0)
        with self.lock:
            mine = [
                p
                for p in reversed(self.posts_by(page))
                if since is None or p.created_at.timestamp() >= since
            ]
        chunk = mine[start : start + size]
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + size)}}
        if start + size < len(mine):
            following = {**query, "after": str(start + size)}
            following.pop("access_token", None)
            paging["next"] = self.url(f"{request.path}?{urlencode(following)}")
        return Response(200, {"data": [p.as_json(fields) for p in chunk], "paging": paging})

    def _node(self, request: Request) -> Response:
        found = self._page_token(request)
        if isinstance(found, Response):
            return found
        _, page = found
        fields = set(filter(None, request.query.get("fields", "id,name").split(",")))
        data: dict[str, Any] = {"id": page.id}
        if "name" in fields:
            data["name"] = page.name
        if "followers_count" in fields:
            with self.lock:
                data["followers_count"] = self._followers.get(page.id, 0)
        return Response(200, data)
