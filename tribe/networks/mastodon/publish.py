"""Posting to Mastodon: a status or a boost, and looking for one after a lost answer.

Credentials (what the vault stores for a Mastodon account)::

    {"access_token": "..."}

The instance's API address is `AccountContext.base_url` (e.g. "https://mastodon.social");
the account id is `AccountContext.remote_user_id`. Tokens do not expire, so nothing is
ever refreshed: a refused token means the member must connect the account again.

POST and ANNOUNCE send `Publication.text` as a public status with `Idempotency-Key:
Publication.key`: Mastodon answers a repeated key from the same account with the status
it already made (for about an hour), so retrying an Unknown outcome cannot post twice
and `idempotent` is True. REPOST boosts `Publication.target_id`; boosting a status
already boosted returns the existing boost, so it is idempotent too.

`find` looks at the account's recent statuses (one or two cheap reads). The dispatcher
seldom needs it here (an Unknown outcome is simply retried with the same key), so it is
careful rather than clever: a boost is found by the boosted status; a post by its text
among the account's statuses since `Publication.created_at`. It answers None ("provably
absent") only when the account has no status at all since then (or, for a boost, when
Mastodon says the target is not boosted by this account); any other doubt is `Unknown`.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from mastodon import Mastodon, MastodonError, MastodonNotFoundError

from tribe.core.outcomes import (
    AccountContext,
    Publication,
    Rejected,
    ReshareKind,
    Sent,
    Unknown,
)
from tribe.infra.netguard import AddressPolicy
from tribe.networks.mastodon.client import DEFAULT_USER_AGENT, account_api, dig, host_of
from tribe.networks.mastodon.errors import classify

# How far apart our clock and the server's may be when `find` compares times.
CLOCK_SLACK = timedelta(minutes=10)
RECENT_STATUSES = 40


class MastodonPublisher:
    """The Publisher for Mastodon (and API-compatible servers)."""

    idempotent = True

    def __init__(self, user_agent: str = DEFAULT_USER_AGENT, *, policy: AddressPolicy) -> None:
        self.user_agent = user_agent
        self.policy = policy

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        host = host_of(account.base_url or "")
        if item.kind == ReshareKind.REPOST and not item.target_id:
            raise Rejected("there is no Mastodon post to boost (the author's post is unknown)")
        action = "boost" if item.kind == ReshareKind.REPOST else "post"
        with account_api(account, self.user_agent, self.policy) as (api, seen):
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
        host = host_of(account.base_url or "")
        with account_api(account, self.user_agent, self.policy) as (api, seen):
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
    statuses = dig(found, "statuses") or []
    if not statuses:
        raise Rejected(f"{host} cannot find the author's post to boost ({target})")
    return str(statuses[0]["id"])


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


def _sent(status: Any) -> Sent:
    """A status (or a boost: then the boosted post is where a person sees it) as Sent."""
    boosted = status.get("reblog")
    url = (boosted.get("url") if boosted else None) or status.get("url") or status.get("uri")
    return Sent(remote_id=str(status["id"]), remote_url=str(url or ""))
