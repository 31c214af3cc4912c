"""A Mastodon account's followers: `followers_count` of verify_credentials.

GET /api/v1/accounts/verify_credentials with the account's token, on its instance,
through the same guarded session a post uses (client.py). The account's own view: the
count is there even when the account hides its followers from others. Tokens do not
expire, so nothing is refreshed; the instance's answers are read by the same ladder as
a post's (errors.py), as a read that cannot have acted.
"""

from __future__ import annotations

from mastodon import MastodonError

from tribe.core.outcomes import AccountContext, PublishError
from tribe.infra.netguard import AddressPolicy
from tribe.networks.base import Followers, follower_count
from tribe.networks.mastodon.client import DEFAULT_USER_AGENT, account_api, dig, host_of
from tribe.networks.mastodon.errors import classify


class MastodonFollowers:
    """The FollowerCounter for Mastodon (and API-compatible servers)."""

    def __init__(self, user_agent: str = DEFAULT_USER_AGENT, *, policy: AddressPolicy) -> None:
        self.user_agent = user_agent
        self.policy = policy

    def followers(self, account: AccountContext) -> Followers:
        host = host_of(account.base_url or "")
        try:
            with account_api(account, self.user_agent, self.policy) as (api, seen):
                try:
                    me = api.account_verify_credentials()
                except MastodonError as error:
                    raise classify(
                        error, host=host, response=seen.response, action="read"
                    ) from error
        except PublishError as error:
            return Followers.unknown(error)
        count = follower_count(dig(me, "followers_count"))
        if count is None:
            return Followers(None, f"{host} answered without the account's follower count")
        return Followers(count)
