"""An X account's followers: `public_metrics.followers_count` of GET /2/users/me.

Only where the app's API access level returns it. Below that X answers 403 (the
"client-not-enrolled" problem, or error 453 "you may need a different access level")
and the count stays unknown, in X's words, never guessed: asking again the same day
would get the same answer (and spend the few /2/users/me calls a day a Free app has).
The call is signed in as the account exactly as a post is (`XPublisher.signed_in`: the
OAuth 2.0 token refreshed when it has run out, the same guarded session and timeout).
"""

from __future__ import annotations

import tweepy  # type: ignore[import-untyped]

from tribe.core.outcomes import AccountContext, PublishError
from tribe.networks.base import Followers, follower_count
from tribe.networks.x.client import XApp, XClient
from tribe.networks.x.errors import XReadLadder, classify, x_words
from tribe.networks.x.publish import XPublisher

WORDS_SHOWN = 160  # X's 403 explanations run to 300 characters: the start says enough


class XFollowers:
    """The FollowerCounter for X."""

    def __init__(self, app: XApp) -> None:
        self.calls = XPublisher(app)  # only for signing in as the account

    def followers(self, account: AccountContext) -> Followers:
        try:
            return self.calls.signed_in(account, _read)
        except PublishError as error:
            return Followers.unknown(error)


def _read(client: XClient, user_auth: bool) -> Followers:
    try:
        answer = client.get_me(user_auth=user_auth, user_fields=["public_metrics"])
    except tweepy.Forbidden as refused:
        said = x_words(refused)
        if len(said) > WORDS_SHOWN:
            said = said[: WORDS_SHOWN - 1].rstrip() + "…"
        return Followers(
            None, f"X does not give this app follower counts at its API access level ({said})"
        )
    except Exception as error:
        # A 401 stays SignedOut here, so that an OAuth 2.0 token is refreshed once.
        raise classify(error, XReadLadder()) from error
    data = answer.get("data") or {}
    count = follower_count((data.get("public_metrics") or {}).get("followers_count"))
    if count is None:
        return Followers(None, "X answered without the account's follower count")
    return Followers(count)
