"""A Bluesky account's followers: `followersCount` of app.bsky.actor.getProfile.

Asked of the account's PDS for its DID, with the account's session (the PDS hands
app.bsky.* methods on to the Bluesky app view, as for the official app): the same
guarded client, the same refresh under the account's lock as a post (client.py). The
profile has the count when the app view knows the account; without it, the count is
unknown, never guessed.
"""

from __future__ import annotations

from typing import Any

from atproto_client import Client, models  # type: ignore[import-untyped]

from tribe.core.outcomes import AccountContext, PublishError
from tribe.infra.netguard import AddressPolicy
from tribe.networks.base import Followers, follower_count
from tribe.networks.bluesky.client import Authorized, Session, client
from tribe.networks.bluesky.errors import BlueskyLadder


class BlueskyFollowers:
    """The FollowerCounter for Bluesky."""

    def __init__(self, *, policy: AddressPolicy) -> None:
        self.policy = policy

    def followers(self, account: AccountContext) -> Followers:
        try:
            session = Session.from_context(account)
            ladder = BlueskyLadder("read", session.handle, session.pds_url, account.timeout)
            with client(session.pds_url, account.timeout, self.policy) as sdk:
                profile, _ = Authorized(account, sdk, ladder).run(session, _profile)
        except PublishError as error:
            return Followers.unknown(error)
        count = follower_count(getattr(profile, "followers_count", None))
        if count is None:
            return Followers(None, "Bluesky's profile of the account holds no follower count")
        return Followers(count)


def _profile(sdk: Client, auth: dict[str, str], did: str) -> Any:
    return sdk.app.bsky.actor.get_profile(
        models.AppBskyActorGetProfile.Params(actor=did), headers=auth
    )
