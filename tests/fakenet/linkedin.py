"""A fake LinkedIn (the OAuth 2.0 / OpenID Connect endpoints and the Posts API) on `FakeServer`.

One server plays both hosts (TRIBE_LINKEDIN_AUTH_URL and _API_URL point at it) and
speaks what tribe uses, shaped like LinkedIn's answers:

    GET  /oauth/v2/authorization   the member's authorize page (never called by code:
                                   `oauth2_redirect` approves and gives the callback URL)
    POST /oauth/v2/accessToken     form: authorization_code (client id and secret in the
                                   form, redirect_uri as authorized) and refresh_token
                                   (refresh tokens only where `refresh` is on, as for apps
                                   LinkedIn enabled for programmatic refresh)
    GET  /v2/userinfo              -> {"sub", "name", "given_name", "family_name", ...}
    POST /rest/posts               the Posts API create: LinkedIn-Version (YYYYMM) and
                                   X-Restli-Protocol-Version 2.0.0 required; 201, empty
                                   body, the URN in `x-restli-id`; the same commentary and
                                   article twice from one member -> 422 DUPLICATE_POST
    GET  /rest/posts?q=author      the member's posts, last modified first (count, start);
                                   403 when the app has no r_member_social (`member_reads`)

Bearer tokens that are unknown, revoked or past their lifetime get LinkedIn's 401.
Posting is limited per member and day (`rate_limit`, LinkedIn's 150): beyond it, 429
without a Retry-After, as LinkedIn answers.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakenet.common import FakeServer, Request, Response, bearer

REDIRECT_URL = "http://127.0.0.1:9/accounts/linkedin/callback"
SCOPE = "email,openid,profile,w_member_social"
ACCESS_LIFETIME = 5_184_000  # 60 days, as LinkedIn gives
REFRESH_LIFETIME = 31_536_000  # a year
_VERSION = re.compile(r"\d{6}")


def problem(status: int, message: str, code: str, service_code: int) -> Response:
    """An error as LinkedIn's REST API answers it."""
    return Response(
        status,
        {"status": status, "serviceErrorCode": service_code, "code": code, "message": message},
    )


def unescape(commentary: str) -> str:
    """The plain text of a little-format commentary."""
    return re.sub(r"\\(.)", r"\1", commentary, flags=re.DOTALL)


def _invalid_post(body: dict[str, Any], member_id: str) -> Response | None:
    """LinkedIn's 422 for missing fields, 403 for posting as someone else."""
    required = ("author", "commentary", "visibility", "distribution", "lifecycleState")
    missing = [name for name in required if name not in body]
    if missing:
        message = "".join(
            f"ERROR :: /{name} :: field is required but not found and has no default value\n"
            for name in missing
        )
        return Response(422, {"message": message, "status": 422})
    if body["author"] != f"urn:li:person:{member_id}":
        message = f"ERROR :: /author :: Author {body['author']} is not the authenticated member"
        return problem(403, message, "ACCESS_DENIED", 100)
    return None


@dataclass(frozen=True)
class FakeMember:
    id: str  # the OpenID `sub`: urn:li:person:{id}
    name: str

    @property
    def urn(self) -> str:
        return f"urn:li:person:{self.id}"


@dataclass
class FakePost:
    id: str  # urn:li:share:...
    author_id: str  # the member's id (sub)
    commentary: str  # as sent (little format)
    text: str  # the member's words + link, as tribe meant them (escapes removed)
    body: dict[str, Any]
    created_at: datetime
    reshare_of: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # of the request that made it

    def as_json(self) -> dict[str, Any]:
        millis = int(self.created_at.timestamp() * 1000)
        author = f"urn:li:person:{self.author_id}"
        post: dict[str, Any] = {
            **{k: v for k, v in self.body.items() if k != "reshareContext"},
            "id": self.id,
            "author": author,
            "commentary": self.commentary,
            "createdAt": millis,
            "publishedAt": millis,
            "lastModifiedAt": millis,
            "isEditedByAuthor": False,
        }
        if self.reshare_of:
            post["reshareContext"] = {"parent": self.reshare_of, "root": self.reshare_of}
        return post


@dataclass
class _Code:
    member_id: str
    redirect_uri: str
    scope: str


class FakeLinkedIn(FakeServer):
    def __init__(
        self,
        *,
        client_id: str = "fake-linkedin-client",
        client_secret: str = "fake-linkedin-secret",
        redirect_url: str = REDIRECT_URL,
        refresh: bool = True,
        member_reads: bool = True,
        rate_limit: int = 150,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_url = redirect_url
        self.refresh = refresh  # the app may refresh tokens programmatically
        self.member_reads = member_reads  # the app has r_member_social
        self.rate_limit = rate_limit  # posts per member and day
        self.members: dict[str, FakeMember] = {}
        self.posts: list[FakePost] = []  # every post, oldest first
        self.token_refreshes = 0
        self.code_exchanges = 0
        self._ids = itertools.count(7_260_000_000_000_000_001)
        self._codes: dict[str, _Code] = {}
        self._bearers: dict[str, tuple[str, float]] = {}  # token -> (member id, expires at)
        self._refresh_tokens: dict[str, tuple[str, float]] = {}  # token -> (member, expires)
        self._posted_today: dict[tuple[str, str], int] = {}  # (member id, day) -> posts
        for method, pattern, handler in (
            ("GET", r"/oauth/v2/authorization", self._page),
            ("POST", r"/oauth/v2/accessToken", self._token),
            ("GET", r"/v2/userinfo", self._userinfo),
            ("POST", r"/rest/posts", self._create),
            ("GET", r"/rest/posts", self._finder),
        ):
            self.route(method, pattern, handler)

    # Helpers for tests and benchmarks ---------------------------------------------------

    def add_user(self, name: str) -> FakeMember:
        with self.lock:
            member = FakeMember(secrets.token_urlsafe(8).replace("-", "x").replace("_", "y"), name)
            self.members[member.id] = member
            return member

    def credentials(
        self, user: FakeMember, expires_in: int = ACCESS_LIFETIME, *, refresh: bool | None = None
    ) -> dict[str, Any]:
        """Credentials exactly as the connector stores them (a refresh token where the app
        may refresh: `refresh`, by default the fake's own setting)."""
        with self.lock:
            answer = self._issue(user.id, SCOPE, expires_in, refresh)
        now = int(time.time())
        creds: dict[str, Any] = {
            "access_token": answer["access_token"],
            "expires_at": now + answer["expires_in"],
            "scope": answer["scope"],
        }
        if "refresh_token" in answer:
            creds["refresh_token"] = answer["refresh_token"]
            creds["refresh_token_expires_at"] = now + answer["refresh_token_expires_in"]
        return creds

    def env(self) -> dict[str, str]:
        """The TRIBE_* settings that point tribe's LinkedIn at this fake."""
        return {
            "TRIBE_LINKEDIN_AUTH_URL": self.base_url,
            "TRIBE_LINKEDIN_API_URL": self.base_url,
            "TRIBE_LINKEDIN_CLIENT_ID": self.client_id,
            "TRIBE_LINKEDIN_CLIENT_SECRET": self.client_secret,
            "TRIBE_LINKEDIN_REDIRECT_URL": self.redirect_url,
        }

    def add_post(
        self, user: FakeMember, text: str, *, created_at: datetime | None = None
    ) -> FakePost:
        """A post already on the member's profile (an author's post to reshare, old posts)."""
        body = {"author": user.urn, "commentary": text}
        with self.lock:
            return self._store(user.id, text, body, created_at=created_at)

    def posts_by(self, user: FakeMember) -> list[FakePost]:
        with self.lock:
            return [p for p in self.posts if p.author_id == user.id]

    def oauth2_redirect(self, authorize_url: str, user: FakeMember) -> str:
        """The member approves the app on LinkedIn's page: the callback address their
        browser is sent back to (redirect_uri?code=...&state=...)."""
        query = dict(parse_qsl(urlsplit(authorize_url).query))
        assert query["response_type"] == "code"
        assert query["client_id"] == self.client_id
        with self.lock:
            code = secrets.token_urlsafe(24)
            self._codes[code] = _Code(user.id, query["redirect_uri"], query.get("scope", ""))
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def declined_redirect(self, authorize_url: str) -> str:
        """The member cancels on LinkedIn's page: the callback with LinkedIn's error."""
        query = dict(parse_qsl(urlsplit(authorize_url).query))
        answer = {
            "error": "user_cancelled_login",
            "error_description": "The user cancelled LinkedIn login",
            "state": query["state"],
        }
        return f"{query['redirect_uri']}?{urlencode(answer)}"

    def expire(self, access_token: str) -> None:
        """The access token has run out: 401 to it from now on."""
        with self.lock:
            member_id, _ = self._bearers[access_token]
            self._bearers[access_token] = (member_id, time.time() - 1)

    def revoke(self, token: str) -> None:
        """An access or refresh token stops working (the member removed the app)."""
        with self.lock:
            self._bearers.pop(token, None)
            self._refresh_tokens.pop(token, None)

    # The token endpoint -------------------------------------------------------------------

    def _issue(
        self, member_id: str, scope: str, lifetime: int, refresh: bool | None
    ) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        self._bearers[access] = (member_id, time.time() + lifetime)
        answer: dict[str, Any] = {"access_token": access, "expires_in": lifetime, "scope": scope}
        if self.refresh if refresh is None else refresh:
            token = secrets.token_urlsafe(32)
            self._refresh_tokens[token] = (member_id, time.time() + REFRESH_LIFETIME)
            answer["refresh_token"] = token
            answer["refresh_token_expires_in"] = REFRESH_LIFETIME
        return answer

    def _page(self, request: Request) -> Response:
        return Response(200, b"<html>Allow tribe?</html>", {"Content-Type": "text/html"})

    def _token(self, request: Request) -> Response:
        form = request.body if isinstance(request.body, dict) else {}
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return Response(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
            )
        grant = form.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                code = self._codes.pop(form.get("code", ""), None)
                if code is None or code.redirect_uri != form.get("redirect_uri"):
                    return Response(
                        400,
                        {
                            "error": "invalid_request",
                            "error_description": "Unable to retrieve access token: appid/"
                            "redirect uri/code verifier does not match authorization code. "
                            "Or authorization code expired.",
                        },
                    )
                self.code_exchanges += 1
                return Response(200, self._issue(code.member_id, code.scope, ACCESS_LIFETIME, None))
            if grant == "refresh_token":
                found = self._refresh_tokens.get(form.get("refresh_token", ""))
                if not self.refresh or found is None or found[1] <= time.time():
                    return Response(
                        400,
                        {
                            "error": "invalid_request",
                            "error_description": "The provided refresh token is invalid",
                        },
                    )
                self.token_refreshes += 1
                access = secrets.token_urlsafe(32)
                self._bearers[access] = (found[0], time.time() + ACCESS_LIFETIME)
                # LinkedIn keeps the refresh token (its lifetime is not extended).
                return Response(
                    200,
                    {
                        "access_token": access,
                        "expires_in": ACCESS_LIFETIME,
                        "refresh_token": form["refresh_token"],
                        "refresh_token_expires_in": int(found[1] - time.time()),
                        "scope": SCOPE,
                    },
                )
        return Response(
            400, {"error": "unsupported_grant_type", "error_description": "Invalid grant type"}
        )

    # The API --------------------------------------------------------------------------------

    def _member_of(self, request: Request) -> str | None:
        token = bearer(request)
        with self.lock:
            found = self._bearers.get(token or "")
            if found is None or found[1] <= time.time():
                return None
            return found[0]

    def _unauthorized(self, request: Request) -> Response:
        token = bearer(request) or ""
        with self.lock:
            known = token in self._bearers
        if known:
            return problem(
                401, "The token used in the request has expired", "EXPIRED_ACCESS_TOKEN", 65601
            )
        return problem(401, "Invalid access token", "INVALID_ACCESS_TOKEN", 65600)

    def _caller(self, request: Request) -> str | Response:
        """The member a versioned REST call is made as, or LinkedIn's error answer."""
        version = request.header("LinkedIn-Version") or ""
        if not _VERSION.fullmatch(version):
            return problem(400, "A version must be present. Please specify a version by "
                           "adding the LinkedIn-Version header.", "VERSION_MISSING", 0)  # fmt: skip
        if request.header("X-Restli-Protocol-Version") != "2.0.0":
            return problem(400, "Restli protocol version 2.0.0 is required", "ILLEGAL_ARGUMENT", 0)
        member_id = self._member_of(request)
        return self._unauthorized(request) if member_id is None else member_id

    def _userinfo(self, request: Request) -> Response:
        member_id = self._member_of(request)
        if member_id is None:
            return self._unauthorized(request)
        member = self.members[member_id]
        given, _, family = member.name.partition(" ")
        return Response(
            200,
            {
                "sub": member.id,
                "email_verified": True,
                "name": member.name,
                "locale": {"country": "US", "language": "en"},
                "given_name": given,
                "family_name": family,
            },
        )

    def _create(self, request: Request) -> Response:
        member_id = self._caller(request)
        if isinstance(member_id, Response):
            return member_id
        body = request.body if isinstance(request.body, dict) else {}
        invalid = _invalid_post(body, member_id)
        if invalid is not None:
            return invalid
        parent = (body.get("reshareContext") or {}).get("parent")
        day = datetime.now(UTC).date().isoformat()
        with self.lock:
            refused = self._refused(member_id, day, body, parent)
            if refused is not None:
                return refused
            self._posted_today[(member_id, day)] = self._posted_today.get((member_id, day), 0) + 1
            post = self._store(
                member_id, unescape(str(body["commentary"])), body, reshare_of=parent
            )
            post.headers = dict(request.headers)
        return Response(201, b"", {"x-restli-id": post.id, "x-linkedin-id": post.id})

    def _refused(
        self, member_id: str, day: str, body: dict[str, Any], parent: str | None
    ) -> Response | None:
        """What LinkedIn says instead of posting: no such parent, the daily limit, a
        duplicate (call with the lock held)."""
        if parent is not None and not any(p.id == parent for p in self.posts):
            return problem(404, f"Parent post {parent} does not exist", "NOT_FOUND", 0)
        if self._posted_today.get((member_id, day), 0) >= self.rate_limit:
            message = (
                "Resource level throttle MEMBER DAY limit for calls to this resource is reached."
            )
            return Response(429, {"message": message, "status": 429})
        for earlier in self.posts:
            if (
                earlier.author_id == member_id
                and parent is None
                and earlier.reshare_of is None
                and earlier.commentary == body["commentary"]
                and earlier.body.get("content") == body.get("content")
            ):
                return problem(422, f"Content is a duplicate of {earlier.id}", "DUPLICATE_POST", 0)
        return None

    def _finder(self, request: Request) -> Response:
        member_id = self._caller(request)
        if isinstance(member_id, Response):
            return member_id
        author = request.query.get("author", "")
        count = int(request.query.get("count", "10"))
        start = int(request.query.get("start", "0"))
        if request.query.get("q") != "author" or not 1 <= count <= 100:
            return problem(400, "Unsupported finder or count", "ILLEGAL_ARGUMENT", 0)
        if not self.member_reads or author != f"urn:li:person:{member_id}":
            return problem(
                403,
                "Not enough permissions to access: partnerApiPostsExternal.FINDER-author.20260501",
                "ACCESS_DENIED",
                100,
            )
        with self.lock:
            mine = [p for p in reversed(self.posts) if p.author_id == member_id]
        page = mine[start : start + count]
        return Response(
            200,
            {
                "paging": {"start": start, "count": count, "links": [], "total": len(mine)},
                "elements": [p.as_json() for p in page],
            },
            {"X-RestLi-Protocol-Version": "2.0.0"},
        )

    def _store(
        self,
        member_id: str,
        text: str,
        body: dict[str, Any],
        *,
        created_at: datetime | None = None,
        reshare_of: str | None = None,
    ) -> FakePost:
        post = FakePost(
            id=f"urn:li:share:{next(self._ids)}",
            author_id=member_id,
            commentary=str(body.get("commentary", "")),
            text=text,
            body=body,
            created_at=created_at or datetime.now(UTC),
            reshare_of=reshare_of,
        )
        self.posts.append(post)
        self.posts.sort(key=lambda p: p.created_at)
        return post
