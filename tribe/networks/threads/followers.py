"""A Threads account's followers: `followers_count` from GET /{user}/threads_insights.

https://developers.facebook.com/docs/threads/insights: the user metric `followers_count`
answers `total_value.value` (it needs the threads_manage_insights permission, which
connecting asks for). The call is signed in exactly as a post is (`ThreadsPublisher.
signed_in`: the token renewed first when it is about to run out).
"""

from __future__ import annotations

from typing import Any

from tribe.core.outcomes import AccountContext, PublishError
from tribe.networks.base import Followers, follower_count
from tribe.networks.threads.client import Signed, ThreadsApp, user_id
from tribe.networks.threads.errors import ThreadsLadder
from tribe.networks.threads.publish import ThreadsPublisher


class ThreadsFollowers:
    """The FollowerCounter for Threads."""

    def __init__(self, app: ThreadsApp) -> None:
        self.calls = ThreadsPublisher(app)  # only for signing in as the account

    def followers(self, account: AccountContext) -> Followers:
        try:
            return self.calls.signed_in(account, lambda s: _read(s, account))
        except PublishError as error:
            return Followers.unknown(error)


def _read(s: Signed, account: AccountContext) -> Followers:
    answer = s.get(
        f"{user_id(account)}/threads_insights", ThreadsLadder(acts=False), metric="followers_count"
    )
    for metric in answer.get("data") or []:
        if isinstance(metric, dict) and metric.get("name") == "followers_count":
            total: Any = metric.get("total_value") or {}
            count = follower_count(total.get("value") if isinstance(total, dict) else None)
            if count is not None:
                return Followers(count)
    return Followers(None, "Threads answered without the account's follower count")
