"""Posting to a Facebook Page, and looking for a post after a lost answer.

Credentials (decrypted, as the connector stores them)::

    {"access_token": "EAA..."}   # the Page's token; the account's remote_user_id is the Page id

A Page token made from a long-lived user token does not run out, so there is nothing to
refresh or renew: when Facebook stops taking it (error 190) the member connects again.

A post is POST /<page-id>/feed with the member's text as `message` and the article as
`link` (Facebook draws the link's card). The Graph API has no native reshare of another
Page's post for a Page, so a REPOST posts the member's text exactly as a POST does.

Facebook has no idempotency key, so `idempotent` is False: after an Unknown outcome the
dispatcher calls `find`, which reads the Page's posts since the publication was made
(`since`, less some clock slack) and looks for one with the same text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from tribe.core.outcomes import (
    AccountContext,
    Publication,
    PublishError,
    RateLimited,
    Sent,
    Unknown,
)
from tribe.networks.facebook.client import FacebookApp, Holds, page_client, page_of
from tribe.networks.facebook.errors import FacebookLadder
from tribe.networks.graph import graph_call

CLOCK_SLACK = timedelta(minutes=5)  # our clock against Facebook's, for `since`
FIND_PAGES = 5  # up to 500 of the Page's posts since the publication are read
POST_FIELDS = "id,message,created_time,permalink_url"
FACEBOOK_WEB = "https://www.facebook.com/"


class FacebookPublisher:
    """Publisher for Facebook Pages. `Sent.remote_id` is the post's id ("<page>_<post>")."""

    idempotent = False

    def __init__(self, app: FacebookApp, holds: Holds | None = None) -> None:
        self.app = app
        self.holds = holds or Holds()

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        page_id, token = page_of(account)
        self.holds.check(page_id)
        form = {"message": item.text, **self.app.signed(token)}
        if item.link:
            form["link"] = item.link
        with page_client(self.app, self.holds, page_id, account.timeout) as client:
            body = self.call(
                client, page_id, FacebookLadder(acts=True), "POST", f"{page_id}/feed", data=form
            )
        post_id = body.get("id")
        if not isinstance(post_id, str) or not post_id:
            raise Unknown(f"Facebook answered without the post's id: {body!r:.200}")
        return Sent(remote_id=post_id, remote_url=FACEBOOK_WEB + post_id)

    def find(self, account: AccountContext, item: Publication) -> Sent | None:
        try:
            return self._look(account, item)
        except Unknown:
            raise
        except PublishError as error:
            raise Unknown(f"could not read the Page's recent posts on Facebook: {error}") from error

    def call(
        self,
        client: httpx.Client,
        page_id: str,
        ladder: FacebookLadder,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One Graph call for the Page; a throttled one holds the Page's further calls."""
        try:
            return graph_call(
                client, ladder, method, self.app.graph(path), params=params, data=data
            )
        except RateLimited as limited:
            self.holds.hold(page_id, limited.until)
            raise

    def _look(self, account: AccountContext, item: Publication) -> Sent | None:
        page_id, token = page_of(account)
        self.holds.check(page_id)
        since = item.created_at
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        since -= CLOCK_SLACK
        params = {
            "fields": POST_FIELDS,
            "since": str(int(since.timestamp())),
            "limit": "100",
            **self.app.signed(token),
        }
        wanted = _squash(item.text)
        ladder = FacebookLadder(acts=False)
        with page_client(self.app, self.holds, page_id, account.timeout) as client:
            for _ in range(FIND_PAGES):
                body = self.call(client, page_id, ladder, "GET", f"{page_id}/posts", params=params)
                posts = body.get("data")
                for post in posts if isinstance(posts, list) else []:
                    if _matches(post, wanted, since):
                        return _sent(post)
                paging = body.get("paging")
                paging = paging if isinstance(paging, dict) else {}
                following = paging.get("next")
                if not posts or not isinstance(following, str) or not following:
                    return None  # every post since the publication was read
                cursors = paging.get("cursors")
                after = cursors.get("after") if isinstance(cursors, dict) else None
                if isinstance(after, str):
                    params["after"] = after
                else:  # time-based paging: the next page is where `next` points
                    params = {**params, **_next_page(following)}
        raise Unknown("the Page posted too much since then to tell whether this was posted")


def _next_page(following: str) -> dict[str, str]:
    """The paging parameters of Graph's `next` address (`until`, `__paging_token`, ...),
    without its credentials (ours are signed per call); Unknown when it holds none."""
    query = {
        k: v
        for k, v in parse_qsl(urlsplit(following).query)
        if k not in ("access_token", "appsecret_proof", "fields", "limit", "since")
    }
    if not query:
        raise Unknown("Facebook gave no way to read the Page's older posts: cannot tell")
    return query


def _matches(post: object, wanted: str, since: datetime) -> bool:
    if not isinstance(post, dict) or not isinstance(post.get("id"), str):
        return False
    created = _created(post)
    if created is not None and created < since:
        return False  # older than the publication: not it, whatever its text
    message = post.get("message")
    return isinstance(message, str) and _squash(message) == wanted


def _sent(post: Mapping[str, Any]) -> Sent:
    post_id = str(post["id"])
    permalink = post.get("permalink_url")
    if isinstance(permalink, str) and permalink.startswith(FACEBOOK_WEB):
        return Sent(remote_id=post_id, remote_url=permalink)
    return Sent(remote_id=post_id, remote_url=FACEBOOK_WEB + post_id)


def _created(post: Mapping[str, Any]) -> datetime | None:
    """created_time as Graph writes it (2024-05-01T12:00:00+0000); None when unreadable."""
    try:
        return datetime.strptime(str(post["created_time"]), "%Y-%m-%dT%H:%M:%S%z")
    except (KeyError, ValueError):
        return None


def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())
