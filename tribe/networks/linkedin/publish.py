"""Posting to a LinkedIn member's profile (Posts API), and looking for a post after a lost answer.

A POST is an article post: the member's text as `commentary` (in LinkedIn's "little"
text format, see `little`) and the article as `content.article`. A REPOST is LinkedIn's
native reshare: the same call with `reshareContext.parent` set to the author's post URN
and no commentary of its own (like a boost or a retweet); without a known target it is
a plain post of the member's text. LinkedIn answers 201 with the new post's URN in the
`x-restli-id` header, which is `Sent.remote_id`.

LinkedIn has no idempotency key, so `idempotent` is False: after an Unknown outcome the
dispatcher calls `find`, which reads the member's recent posts (GET /rest/posts?q=author).
That read needs the `r_member_social` permission, which LinkedIn grants few apps: where
it is refused, `find` cannot tell and says so, and the member decides.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from tribe.core.outcomes import (
    AccountContext,
    Credentials,
    NeedsReconnect,
    Publication,
    PublishError,
    ReshareKind,
    Sent,
    Unknown,
)
from tribe.networks.base import SignedOut
from tribe.networks.linkedin.client import (
    REST_HEADERS,
    LinkedInApp,
    bearer,
    expiring,
    http,
    renew_sign_in,
)
from tribe.networks.linkedin.errors import LinkedInLadder, json_of, send

PAGE_SIZE = 50  # posts per read of the member's recent posts
PAGES = 4  # up to 200 recent posts are read to find one
CLOCK_SLACK = timedelta(minutes=5)  # our clock against LinkedIn's
# Reserved in the little text format (commentary): escaped with a backslash to be plain text.
_RESERVED = re.compile(r"[\\|{}@\[\]()<>#*_~]")
# What is left as LinkedIn reads it: links (so they stay links) and #hashtags (so they
# stay hashtags, the format's own HashtagElement).
_KEEP = re.compile(r"https?://\S+|(?<![\w\\])#\w+")

_T = TypeVar("_T")


def person_urn(account: AccountContext) -> str:
    if not account.remote_user_id:
        raise NeedsReconnect(
            "tribe does not know which LinkedIn member this account is: connect it again"
        )
    return f"urn:li:person:{account.remote_user_id}"


def post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"


def little(text: str) -> str:
    """`text` as LinkedIn's little format shows it verbatim: every reserved character
    escaped, except in links and #hashtags (an escaped link is no longer a link)."""
    pieces, last = [], 0
    for kept in _KEEP.finditer(text):
        pieces.append(_RESERVED.sub(lambda m: "\\" + m.group(), text[last : kept.start()]))
        pieces.append(kept.group())
        last = kept.end()
    pieces.append(_RESERVED.sub(lambda m: "\\" + m.group(), text[last:]))
    return "".join(pieces)


_HASHTAG = re.compile(r"\{hashtag\|\\?#\|([^}]*)\}")


def unlittle(text: str) -> str:
    """The plain text of a little-format commentary: hashtags as LinkedIn reads them
    back (`{hashtag|\\#|tag}`) as the `#tag` tribe wrote, escapes removed."""
    return re.sub(r"\\(.)", r"\1", _HASHTAG.sub(r"#\1", text), flags=re.DOTALL)


class LinkedInPublisher:
    """Publisher for LinkedIn member profiles (see the module docstring)."""

    idempotent = False

    def __init__(self, app: LinkedInApp) -> None:
        self.app = app

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        body = self.post_body(person_urn(account), item)
        return self._signed_in(account, lambda creds: self._create(account, creds, body))

    def find(self, account: AccountContext, item: Publication) -> Sent | None:
        try:
            return self._signed_in(account, lambda creds: self._look(account, creds, item))
        except Unknown:
            raise
        except PublishError as error:
            raise Unknown(
                f"tribe cannot read this account's recent posts on LinkedIn ({error}): look on "
                "LinkedIn whether it was posted, then confirm or resend the delivery"
            ) from error

    def post_body(self, author: str, item: Publication) -> dict[str, Any]:
        """The Posts API's create body for this publication."""
        body: dict[str, Any] = {
            "author": author,
            "commentary": little(item.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if item.kind == ReshareKind.REPOST and item.target_id:
            body["commentary"] = ""
            body["reshareContext"] = {"parent": item.target_id}
        elif item.link:
            article = {"source": item.link, "title": item.title or item.link}
            if item.summary:
                article["description"] = item.summary
            body["content"] = {"article": article}
        return body

    # Calls -------------------------------------------------------------------------------

    def _create(self, account: AccountContext, creds: Credentials, body: dict[str, Any]) -> Sent:
        ladder = LinkedInLadder(acts=True)
        with http(self.app, account.timeout) as client:
            response = send(
                client,
                ladder,
                "POST",
                self.app.api("/rest/posts"),
                json=body,
                headers={**REST_HEADERS, **bearer(creds)},
            )
        urn = response.headers.get("x-restli-id", "").strip()
        if not urn:
            raise Unknown("LinkedIn answered without the new post's id; the post may exist")
        return Sent(remote_id=urn, remote_url=post_url(urn))

    def _look(self, account: AccountContext, creds: Credentials, item: Publication) -> Sent | None:
        ladder = LinkedInLadder(acts=False)
        author = person_urn(account)
        since = item.created_at
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        since -= CLOCK_SLACK
        with http(self.app, account.timeout) as client:
            for page in range(PAGES):
                query = (
                    f"q=author&author={quote(author, safe='')}&count={PAGE_SIZE}"
                    f"&start={page * PAGE_SIZE}&sortBy=LAST_MODIFIED"
                )
                response = send(
                    client,
                    ladder,
                    "GET",
                    self.app.api(f"/rest/posts?{query}"),
                    headers={**REST_HEADERS, **bearer(creds)},
                )
                posts = json_of(response, ladder).get("elements")
                if not isinstance(posts, list):
                    raise Unknown("LinkedIn's list of the account's posts could not be read")
                for post in posts:
                    if isinstance(post, dict) and _matches(post, item):
                        urn = str(post["id"])
                        return Sent(remote_id=urn, remote_url=post_url(urn))
                if len(posts) < PAGE_SIZE:
                    return None  # that was every post
                # Newest change first: once one was last changed before the publication,
                # every later one was also made before it.
                if any(_modified(p) < since for p in posts if isinstance(p, dict)):
                    return None
        raise Unknown(
            "the account posted too much on LinkedIn since then to tell whether this was posted"
        )

    # Signing in --------------------------------------------------------------------------

    def _signed_in(self, account: AccountContext, action: Callable[[Credentials], _T]) -> _T:
        """`action(credentials)` with a live access token: renewed first when it is about
        to run out, or once after LinkedIn refused it (401), where a refresh token allows."""
        creds = account.credentials
        renewed = False
        if expiring(creds) and creds.get("refresh_token"):
            creds, renewed = renew_sign_in(self.app, account, creds), True
        try:
            return action(creds)
        except SignedOut:
            if renewed or not creds.get("refresh_token"):
                raise
        return action(renew_sign_in(self.app, account, creds))


# Matching a post to a publication -------------------------------------------------------


def _matches(post: Mapping[str, Any], item: Publication) -> bool:
    parent = (post.get("reshareContext") or {}).get("parent")
    if item.kind == ReshareKind.REPOST and item.target_id:
        return bool(parent) and parent == item.target_id
    if parent:
        return False
    if _squash(unlittle(str(post.get("commentary") or ""))) != _squash(item.text):
        return False
    source = ((post.get("content") or {}).get("article") or {}).get("source")
    return not item.link or _url_key(str(source or "")) == _url_key(item.link)


def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _url_key(url: str) -> str:
    key = url.strip().lower()
    for scheme in ("https://", "http://"):
        key = key.removeprefix(scheme)
    return key.removeprefix("www.").rstrip("/")


def _modified(post: Mapping[str, Any]) -> datetime:
    """When LinkedIn last changed the post (epoch milliseconds); unknown proves nothing."""
    value = post.get("lastModifiedAt", post.get("createdAt"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return datetime.max.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value / 1000, UTC)
