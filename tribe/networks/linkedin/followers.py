"""A LinkedIn member's followers: LinkedIn gives apps no follower count for a member's
profile (only for organization Pages, with Community Management access), so nothing is
asked and the count stays unknown, with the reason, for good."""

from __future__ import annotations

from tribe.core.outcomes import AccountContext
from tribe.networks.base import Followers

NO_COUNT = (
    "LinkedIn does not tell apps how many people follow a member's profile; "
    "you can see it on your LinkedIn profile"
)


class LinkedInFollowers:
    """The FollowerCounter for LinkedIn: always unknown, and asking again will not change it."""

    def followers(self, account: AccountContext) -> Followers:
        return Followers(None, NO_COUNT, again=False)
