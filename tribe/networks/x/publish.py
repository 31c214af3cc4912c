"""Posting to X: a tweet or a retweet, and looking for one after a lost answer.

Credentials (decrypted, as stored on the account), one of:

    {"auth": "oauth1", "access_token": "...", "access_token_secret": "..."}
        OAuth 1.0a user context; needs the app's TRIBE_X_API_KEY / TRIBE_X_API_SECRET.
    {"auth": "oauth2", "access_token": "...", "refresh_token": "...", "expires_at": 1714567890}
        OAuth 2.0 user token (Authorization Code with PKCE, scope offline.access);
        `expires_at` is epoch seconds. Refreshing needs TRIBE_X_CLIENT_ID (and
        TRIBE_X_CLIENT_SECRET for a confidential client). X rotates the refresh token on
        every refresh: the new pair is stored (through `AccountContext.refresh`, under the
        account's lock) before the new access token is used.

X has no idempotency key, so `XPublisher.idempotent` is False: after an Unknown outcome
the dispatcher calls `find`, which reads the account's recent timeline.
"""

from __future__ import annotations

import html
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests

from tribe.core.errors import InvalidInputError
from tribe.core.outcomes import (
    AccountContext,
    Credentials,
    NeedsReconnect,
    Publication,
    PublishError,
    Rejected,
    ReshareKind,
    Sent,
    Transient,
    Unknown,
)
from tribe.core.sharetext import extract_urls_with_indices
from tribe.networks.base import SignedOut
from tribe.networks.x.client import (
    TokenRefused,
    XApp,
    XClient,
    XSession,
    auth_kind,
    oauth2_credentials,
    token_request,
    user_client,
)
from tribe.networks.x.errors import classify, why

REFRESH_MARGIN = 120  # seconds: refresh an OAuth 2.0 token this long before it expires
TIMELINE_PAGES = 3  # up to 300 recent tweets are read to find a post
TIMELINE_FIELDS = ["created_at", "entities", "referenced_tweets"]
CLOCK_SLACK = timedelta(minutes=5)  # our clock against X's, for "the timeline reaches back"

_T = TypeVar("_T")
Action = Callable[[XClient, bool], _T]


class XPublisher:
    """Publisher for X. `Sent.remote_id` is the new tweet's id; for a retweet (X's v2 API
    does not return the retweet's own id) it is the retweeted tweet's id, and
    `remote_url` shows that tweet."""

    idempotent = False

    def __init__(self, app: XApp) -> None:
        self.app = app

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

    def signed_in(self, account: AccountContext, action: Action[_T]) -> _T:
        """`action(client, user_auth)` signed in as the account, as a post is (its OAuth
        2.0 token refreshed when it has run out): for reads beside posting (followers)."""
        return self._authorized(account, action)

    # Calls -----------------------------------------------------------------------------

    def _url(self, account: AccountContext, tweet_id: str) -> str:
        return f"https://x.com/{account.handle.removeprefix('@')}/status/{tweet_id}"

    def _tweet(self, client: XClient, user_auth: bool, account: AccountContext, text: str) -> Sent:
        answer = client.create_tweet(text=text, user_auth=user_auth)
        tweet_id = str((answer.get("data") or {}).get("id") or "")
        if not tweet_id:
            raise Unknown(f"X answered without a post id: {answer!r:.200}")
        return Sent(remote_id=tweet_id, remote_url=self._url(account, tweet_id))

    def _retweet(
        self, client: XClient, user_auth: bool, account: AccountContext, target: str
    ) -> Sent:
        answer = client.retweet(target, user_auth=user_auth)
        if not (answer.get("data") or {}).get("retweeted"):
            raise Unknown(f"X did not confirm the repost: {answer!r:.200}")
        return Sent(remote_id=target, remote_url=self._url(account, target))

    def _look(
        self, client: XClient, user_auth: bool, account: AccountContext, item: Publication
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
                found = _matches(tweet, item, wanted)
                if found is not None:
                    return Sent(remote_id=found, remote_url=self._url(account, found))
            page_token = (answer.get("meta") or {}).get("next_token")
            if not page_token:
                return None  # that was the whole timeline
            if any(_created(t) < since for t in tweets):
                return None  # the timeline reaches back before the post could have been made
        raise Unknown("the account posted too much since then to tell whether this was posted")

    # Auth ------------------------------------------------------------------------------

    def _authorized(self, account: AccountContext, action: Action[_T]) -> _T:
        """Run `action(client, user_auth)`, refreshing an OAuth 2.0 token when it has run
        out (before the call, or once after a 401)."""
        creds = account.credentials
        kind = auth_kind(creds)
        refreshed = False
        if kind == "oauth2" and _expiring(creds):
            creds, refreshed = self._refresh(account, creds), True
        try:
            return self._call(account, creds, action)
        except SignedOut:
            if kind != "oauth2" or refreshed:
                raise
        return self._call(account, self._refresh(account, creds), action)

    def _call(self, account: AccountContext, creds: Credentials, action: Action[_T]) -> _T:
        with XSession(self.app.api_url, account.timeout, policy=self.app.policy) as session:
            try:
                client, user_auth = user_client(self.app, session, creds, account.remote_user_id)
            except InvalidInputError as missing:  # the operator's keys: fixable, retry later
                raise Transient(str(missing)) from None
            try:
                return action(client, user_auth)
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
                answer = token_request(
                    self.app,
                    {"grant_type": "refresh_token", "refresh_token": str(refresh_token)},
                    account.timeout,
                )
            except InvalidInputError as error:
                raise Transient(str(error)) from error
            except TokenRefused as error:
                if error.status in (400, 401, 403):
                    raise NeedsReconnect(
                        f"X no longer renews this account's sign-in ({error}): connect it again"
                    ) from error
                raise Transient(f"X could not renew the sign-in now ({error})") from error
            except requests.RequestException as error:
                raise Transient(f"could not renew the sign-in with X: {why(error)}") from error
            return oauth2_credentials(answer, current)

        creds = account.refresh(update)
        auth_kind(creds)
        return creds


def _expiring(creds: Credentials) -> bool:
    expires_at = creds.get("expires_at")
    return isinstance(expires_at, int | float) and expires_at - REFRESH_MARGIN <= time.time()


# Matching a tweet to a publication ----------------------------------------------------


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
