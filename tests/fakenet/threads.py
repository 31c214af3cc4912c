"""A fake Threads API (graph.threads.net, plus threads.net's authorize page) on `FakeServer`.

Speaks what tribe uses, shaped like Meta's documented answers
(https://developers.facebook.com/docs/threads), so the real adapter can be pointed at it
(`fake.env()` gives the TRIBE_THREADS_* settings):

    GET  /oauth/authorize            a page (never called by code: see `oauth2_redirect`)
    POST /oauth/access_token         form client_id, client_secret, grant_type=
                                     authorization_code, redirect_uri, code
                                     -> {access_token (short-lived), user_id}
    GET  /access_token               grant_type=th_exchange_token, client_secret,
                                     access_token -> {access_token, token_type, expires_in}
    GET  /refresh_access_token       grant_type=th_refresh_token, access_token: a long-lived
                                     token at least 24 h old and not expired -> a new one
    GET  /v1.0/me                    fields=id,username,name
    POST /v1.0/:user/threads         media_type=TEXT, text, link_attachment -> {id: container}
    POST /v1.0/:user/threads_publish creation_id -> {id: media id}; 250 posts a day
    GET  /v1.0/:id                   a container (fields=status,error_message) or a post
                                     (fields=id,permalink,...)
    GET  /v1.0/:user/threads         the user's posts, newest first: fields, since, limit
    GET  /v1.0/:user/threads_publishing_limit  fields=quota_usage,config
    POST /v1.0/:media/repost         -> {id: the repost's id}
    GET  /v1.0/:user/threads_insights metric=followers_count

The token travels as the `access_token` parameter (query or form). A token the fake never
issued gets Graph's 400 error 190; an expired one 401 error 190, subcode 463. More than
`rate_limit` calls by one user answer 429 error 17 with `X-Business-Use-Case-Usage`
saying when access comes back; every answer carries `X-App-Usage`.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakenet.common import FakeServer, Request, Response

LONG_LIVED = 60 * 24 * 3600  # seconds: Threads' long-lived tokens last 60 days
SHORT_LIVED = 3600
RENEWABLE_AFTER = 24 * 3600  # a long-lived token can be renewed once it is a day old
QUOTA_DURATION = 24 * 3600
REGAIN_MINUTES = 17  # what the 429 says in estimated_time_to_regain_access


def graph_error(
    status: int, message: str, code: int, subcode: int | None = None, kind: str = "OAuthException"
) -> Response:
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(8),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return Response(status, {"error": error})


def threads_time(moment: datetime) -> str:
    """Threads' timestamp format: 2023-10-17T05:42:03+0000."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass(frozen=True)
class FakeUser:
    id: str
    username: str
    name: str


@dataclass
class FakeContainer:
    id: str
    author_id: str
    text: str
    link: str | None
    created: float
    status: str = "FINISHED"  # FINISHED, PUBLISHED, EXPIRED, ERROR, IN_PROGRESS
    media_id: str | None = None


@dataclass
class FakePost:
    id: str
    author_id: str
    text: str  # as tribe sent it
    created_at: datetime
    permalink: str
    link: str | None = None  # link_attachment
    reposted: str | None = None  # a repost: the reposted post's id
    by_api: bool = True


@dataclass
class _Token:
    user_id: str
    expires: float
    issued: float
    long_lived: bool


class FakeThreads(FakeServer):
    def __init__(
        self,
        *,
        client_id: str = "fake-threads-app",
        client_secret: str = "fake-threads-secret",
        redirect_url: str = "http://127.0.0.1:9/accounts/connect/threads/callback",
        rate_limit: int = 1000,
        quota_total: int = 250,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_url = redirect_url
        self.rate_limit = rate_limit
        self.quota_total = quota_total
        self.users: dict[str, FakeUser] = {}
        self.containers: dict[str, FakeContainer] = {}
        self.all_posts: list[FakePost] = []  # oldest first, reposts and others' posts too
        self.followers: dict[str, int] = {}
        self._tokens: dict[str, _Token] = {}
        self._codes: dict[str, tuple[str, str]] = {}  # code -> (user id, redirect_uri)
        self._used: dict[str, int] = {}
        self._ids = itertools.count(17_890_000_000_000_001)
        self._user_ids = itertools.count(26_000_001)
        for method, pattern, handler in [
            ("GET", r"/oauth/authorize", self._page),
            ("POST", r"/oauth/access_token", self._code_exchange),
            ("GET", r"/access_token", self._long_lived),
            ("GET", r"/refresh_access_token", self._refresh),
            ("GET", r"/v1\.0/me", self._me),
            ("POST", r"/v1\.0/(?P<id>\d+)/threads", self._create),
            ("POST", r"/v1\.0/(?P<id>\d+)/threads_publish", self._publish),
            ("GET", r"/v1\.0/(?P<id>\d+)/threads", self._list),
            ("GET", r"/v1\.0/(?P<id>\d+)/threads_publishing_limit", self._limit),
            ("POST", r"/v1\.0/(?P<id>\d+)/repost", self._repost),
            ("GET", r"/v1\.0/(?P<id>\d+)/threads_insights", self._insights),
            ("GET", r"/v1\.0/(?P<id>\d+)", self._object),
        ]:
            self.route(method, pattern, handler)

    # Helpers for tests -----------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The TRIBE_THREADS_* settings that point tribe at this fake."""
        return {
            "TRIBE_THREADS_AUTH_URL": self.base_url,
            "TRIBE_THREADS_API_URL": self.base_url,
            "TRIBE_THREADS_CLIENT_ID": self.client_id,
            "TRIBE_THREADS_CLIENT_SECRET": self.client_secret,
            "TRIBE_THREADS_REDIRECT_URL": self.redirect_url,
        }

    def add_user(self, name: str) -> FakeUser:
        with self.lock:
            user = FakeUser(str(next(self._user_ids)), name, name.title())
            self.users[user.id] = user
            return user

    def credentials(
        self, user: FakeUser, expires_in: int = LONG_LIVED, *, age: int = 2 * 24 * 3600
    ) -> dict[str, Any]:
        """Credentials as the connector stores them: a long-lived token issued `age`
        seconds ago (old enough to renew by default), running out in `expires_in`."""
        now = time.time()
        with self.lock:
            token = self._issue(user.id, expires_in + age, long_lived=True, issued=now - age)
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_at": int(now) + expires_in,
            "user_id": user.id,
        }

    @property
    def posts(self) -> list[FakePost]:
        """Every post published through the API (not reposts), oldest first."""
        with self.lock:
            return [p for p in self.all_posts if p.reposted is None and p.by_api]

    @property
    def reposts(self) -> list[tuple[str, str]]:
        """(user id, reposted post id), oldest first."""
        with self.lock:
            return [(p.author_id, p.reposted) for p in self.all_posts if p.reposted]

    def add_post(
        self, user: FakeUser, text: str, *, created_at: datetime | None = None, by_api: bool = False
    ) -> FakePost:
        """A post already on Threads (the author's, or old content on the account)."""
        with self.lock:
            return self._store(user.id, text, None, created_at=created_at, by_api=by_api)

    def oauth2_redirect(self, authorize_url: str, user: FakeUser) -> str:
        """The member approves on the authorize page: where Threads sends the browser back
        (redirect_uri?code=...&state=...#_, the fragment as Threads adds it)."""
        query = dict(parse_qsl(urlsplit(authorize_url).query))
        assert query["response_type"] == "code"
        assert query["client_id"] == self.client_id
        with self.lock:
            code = secrets.token_urlsafe(24)
            self._codes[code] = (user.id, query["redirect_uri"])
        answer = urlencode({"code": code, "state": query.get("state", "")})
        return f"{query['redirect_uri']}?{answer}#_"

    def expire(self, token: str) -> None:
        with self.lock:
            self._tokens[token].expires = time.time() - 1

    def revoke(self, token: str) -> None:
        with self.lock:
            self._tokens.pop(token, None)

    def set_followers(self, user: FakeUser, count: int) -> None:
        with self.lock:
            self.followers[user.id] = count

    def use_quota(self, user: FakeUser, posts: int, *, hours_ago: float = 1.0) -> None:
        """`posts` published through the API `hours_ago` (they count against the quota)."""
        moment = datetime.now(UTC) - timedelta(hours=hours_ago)
        with self.lock:
            for n in range(posts):
                self._store(user.id, f"earlier post {n}", None, created_at=moment)

    def set_container(self, container_id: str, status: str) -> None:
        with self.lock:
            self.containers[container_id].status = status

    def created_containers(self) -> list[FakeContainer]:
        with self.lock:
            return list(self.containers.values())

    # Internals -----------------------------------------------------------------------

    def answer(self, request: Request, response: Response) -> Response:
        usage = json.dumps({"call_count": 1, "total_cputime": 1, "total_time": 1})
        return Response(response.status, response.body, {"X-App-Usage": usage, **response.headers})

    def _issue(self, user_id: str, lifetime: int, *, long_lived: bool, issued: float) -> str:
        token = ("THL" if long_lived else "THS") + secrets.token_urlsafe(32)
        self._tokens[token] = _Token(user_id, issued + lifetime, issued, long_lived)
        return token

    def _store(
        self,
        user_id: str,
        text: str,
        link: str | None,
        *,
        created_at: datetime | None = None,
        reposted: str | None = None,
        by_api: bool = True,
    ) -> FakePost:
        post_id = str(next(self._ids))
        name = self.users[user_id].username
        post = FakePost(
            id=post_id,
            author_id=user_id,
            text=text,
            created_at=created_at or datetime.now(UTC),
            permalink=f"https://www.threads.net/@{name}/post/C{post_id[-8:]}",
            link=link,
            reposted=reposted,
            by_api=by_api,
        )
        self.all_posts.append(post)
        self.all_posts.sort(key=lambda p: (p.created_at, int(p.id)))
        return post

    def _given(self, request: Request) -> dict[str, str]:
        form = request.body if isinstance(request.body, dict) else {}
        return {**request.query, **form}

    def _user(self, request: Request) -> str | Response:
        """The user the token belongs to, or Graph's answer to a bad token; counts calls."""
        token = self._given(request).get("access_token", "")
        with self.lock:
            found = self._tokens.get(token)
            if found is None:
                return graph_error(
                    400, "Invalid OAuth access token - Cannot parse access token", 190
                )
            if found.expires <= time.time():
                return graph_error(
                    401, "Error validating access token: Session has expired", 190, 463
                )
            used = self._used.get(found.user_id, 0) + 1
            self._used[found.user_id] = used
        if used > self.rate_limit:
            limited = graph_error(429, "User request limit reached", 17)
            usage = {
                found.user_id: [
                    {
                        "type": "threads",
                        "call_count": 100,
                        "total_cputime": 10,
                        "total_time": 10,
                        "estimated_time_to_regain_access": REGAIN_MINUTES,
                    }
                ]
            }
            limited.headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
            return limited
        return found.user_id

    def _mine(self, request: Request) -> str | Response:
        user = self._user(request)
        if isinstance(user, str) and request.params.get("id") not in (None, user):
            return graph_error(400, "Unsupported request", 100, 33, "GraphMethodException")
        return user

    def _page(self, request: Request) -> Response:
        return Response(200, b"<html>Allow tribe to access your Threads profile?</html>")

    def _code_exchange(self, request: Request) -> Response:
        form = request.body if isinstance(request.body, dict) else {}
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return graph_error(400, "Error validating client secret.", 1, 404078)
        with self.lock:
            found = self._codes.pop(form.get("code", ""), None)
            if found is None or form.get("grant_type") != "authorization_code":
                return graph_error(400, "Invalid authorization code", 100)
            user_id, redirect_uri = found
            if form.get("redirect_uri") != redirect_uri:
                return graph_error(400, "Error validating verification code.", 100)
            token = self._issue(user_id, SHORT_LIVED, long_lived=False, issued=time.time())
        return Response(200, {"access_token": token, "user_id": int(user_id)})

    def _long_lived(self, request: Request) -> Response:
        query = request.query
        if query.get("grant_type") != "th_exchange_token":
            return graph_error(400, "Unsupported grant_type", 100)
        if query.get("client_secret") != self.client_secret:
            return graph_error(400, "Error validating client secret.", 1)
        with self.lock:
            short = self._tokens.get(query.get("access_token", ""))
            if short is None or short.long_lived or short.expires <= time.time():
                return graph_error(400, "Invalid OAuth access token", 190)
            token = self._issue(short.user_id, LONG_LIVED, long_lived=True, issued=time.time())
        return Response(
            200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED}
        )

    def _refresh(self, request: Request) -> Response:
        query = request.query
        if query.get("grant_type") != "th_refresh_token":
            return graph_error(400, "Unsupported grant_type", 100)
        now = time.time()
        with self.lock:
            old = self._tokens.get(query.get("access_token", ""))
            if old is None or not old.long_lived or old.expires <= now:
                return graph_error(400, "Error validating access token", 190)
            if now - old.issued < RENEWABLE_AFTER:
                return graph_error(400, "The access token is not old enough to refresh", 100)
            token = self._issue(old.user_id, LONG_LIVED, long_lived=True, issued=now)
        return Response(
            200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED}
        )

    def _me(self, request: Request) -> Response:
        user_id = self._user(request)
        if isinstance(user_id, Response):
            return user_id
        user = self.users[user_id]
        fields = request.query.get("fields", "id").split(",")
        data = {"id": user.id, "username": user.username, "name": user.name}
        return Response(200, {k: v for k, v in data.items() if k in fields})

    def _create(self, request: Request) -> Response:
        user_id = self._mine(request)
        if isinstance(user_id, Response):
            return user_id
        given = self._given(request)
        if given.get("media_type") != "TEXT" or not given.get("text"):
            return graph_error(
                400, "Param text is required for TEXT posts", 100, None, "THApiException"
            )
        if len(given["text"]) > 500:
            return graph_error(400, "Param text must be at most 500 characters long.", 100)
        with self.lock:
            container = FakeContainer(
                str(next(self._ids)),
                user_id,
                given["text"],
                given.get("link_attachment"),
                time.time(),
            )
            self.containers[container.id] = container
        return Response(200, {"id": container.id})

    def _quota_used(self, user_id: str) -> int:
        since = datetime.now(UTC) - timedelta(seconds=QUOTA_DURATION)
        return sum(
            1
            for p in self.all_posts
            if p.author_id == user_id and p.by_api and p.reposted is None and p.created_at > since
        )

    def _publish(self, request: Request) -> Response:
        user_id = self._mine(request)
        if isinstance(user_id, Response):
            return user_id
        with self.lock:
            container = self.containers.get(self._given(request).get("creation_id", ""))
            if container is None or container.author_id != user_id:
                return graph_error(400, "The media container was not found", 24, 4279009)
            if container.status != "FINISHED":
                return graph_error(400, f"The media container is {container.status}", 9007, 2207027)
            if self._quota_used(user_id) >= self.quota_total:
                return graph_error(400, "The user has reached the publishing limit", 9, 2207042)
            post = self._store(user_id, container.text, container.link)
            container.status, container.media_id = "PUBLISHED", post.id
        return Response(200, {"id": post.id})

    def _object(self, request: Request) -> Response:
        user_id = self._user(request)
        if isinstance(user_id, Response):
            return user_id
        wanted = request.params["id"]
        with self.lock:
            container = self.containers.get(wanted)
            if container is not None and container.author_id == user_id:
                body: dict[str, Any] = {"id": container.id, "status": container.status}
                if container.status == "ERROR":
                    body["error_message"] = "UNKNOWN"
                return Response(200, body)
            post = next((p for p in self.all_posts if p.id == wanted), None)
        if post is None:
            return graph_error(400, "Object does not exist", 100, 33, "GraphMethodException")
        return Response(200, self._post_json(post, request.query.get("fields", "id")))

    def _post_json(self, post: FakePost, fields: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": post.id,
            "text": post.text,
            "timestamp": threads_time(post.created_at),
            "permalink": post.permalink,
            "media_type": "REPOST_FACADE" if post.reposted else "TEXT_POST",
            "username": self.users[post.author_id].username,
        }
        if post.link:
            data["link_attachment_url"] = post.link
        if post.reposted:
            data["reposted_post"] = {"id": post.reposted}
            del data["text"]
        wanted = set(fields.split(","))
        return {k: v for k, v in data.items() if k in wanted or k == "id"}

    def _list(self, request: Request) -> Response:
        user_id = self._mine(request)
        if isinstance(user_id, Response):
            return user_id
        query = request.query
        limit = min(int(query.get("limit", "25")), 100)
        since = datetime.fromtimestamp(int(query.get("since", "0")), UTC)
        after = int(query.get("after", "0"))
        with self.lock:
            mine = [p for p in reversed(self.all_posts) if p.author_id == user_id]
        mine = [p for p in mine if p.created_at >= since]
        page = mine[after : after + limit]
        body: dict[str, Any] = {
            "data": [self._post_json(p, query.get("fields", "id")) for p in page]
        }
        if after + limit < len(mine):
            body["paging"] = {"cursors": {"before": str(after), "after": str(after + limit)}}
        return Response(200, body)

    def _limit(self, request: Request) -> Response:
        user_id = self._mine(request)
        if isinstance(user_id, Response):
            return user_id
        with self.lock:
            used = self._quota_used(user_id)
        config = {"quota_total": self.quota_total, "quota_duration": QUOTA_DURATION}
        return Response(200, {"data": [{"quota_usage": used, "config": config}]})

    def _repost(self, request: Request) -> Response:
        user_id = self._user(request)
        if isinstance(user_id, Response):
            return user_id
        target = request.params["id"]
        with self.lock:
            original = next(
                (p for p in self.all_posts if p.id == target and p.reposted is None), None
            )
            if original is None:
                return graph_error(400, "Object does not exist", 100, 33, "GraphMethodException")
            repost = self._store(user_id, "", None, reposted=target)
        return Response(200, {"id": repost.id})

    def _insights(self, request: Request) -> Response:
        user_id = self._mine(request)
        if isinstance(user_id, Response):
            return user_id
        if request.query.get("metric") != "followers_count":
            return graph_error(400, "Invalid metric", 100)
        with self.lock:
            count = self.followers.get(user_id, 0)
        return Response(
            200,
            {
                "data": [
                    {
                        "name": "followers_count",
                        "period": "day",
                        "title": "followers_count",
                        "description": "The number of followers on Threads.",
                        "total_value": {"value": count},
                        "id": f"{user_id}/insights/followers_count/day",
                    }
                ]
            },
        )
