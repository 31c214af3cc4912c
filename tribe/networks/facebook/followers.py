"""A Facebook Page's followers: `followers_count` of GET /<page-id>.

Read with the Page's token exactly as a post is made (the same guarded client, the same
per-Page hold while Facebook says the Page's calls are spent). A read cannot have posted
anything, so any doubt is Transient; the count stays unknown, never guessed, when the
answer holds none.
"""

from __future__ import annotations

from tribe.core.outcomes import AccountContext, PublishError
from tribe.networks.base import Followers, follower_count
from tribe.networks.facebook.client import FacebookApp, Holds, page_client, page_of
from tribe.networks.facebook.errors import FacebookLadder
from tribe.networks.facebook.publish import FacebookPublisher


class FacebookFollowers:
    """The FollowerCounter for Facebook Pages."""

    def __init__(self, app: FacebookApp, holds: Holds | None = None) -> None:
        self.calls = FacebookPublisher(app, holds)  # for its calls and its holds only

    def followers(self, account: AccountContext) -> Followers:
        calls = self.calls
        try:
            page_id, token = page_of(account)
            calls.holds.check(page_id)
            params = {"fields": "followers_count", **calls.app.signed(token)}
            with page_client(calls.app, calls.holds, page_id, account.timeout) as client:
                body = calls.call(
                    client, page_id, FacebookLadder(acts=False), "GET", page_id, params=params
                )
        except PublishError as error:
            return Followers.unknown(error)
        count = follower_count(body.get("followers_count"))
        if count is None:
            return Followers(None, "Facebook answered without the Page's follower count")
        return Followers(count)
