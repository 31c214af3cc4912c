"""Mastodon (and API-compatible servers) through Mastodon.py: post, boost, connect.

client.py tames Mastodon.py (a guarded session per call that remembers the answer);
errors.py reads the instance's answers into outcomes; publish.py posts, boosts and
finds; connect.py registers tribe on an instance and walks the member's authorization;
followers.py reads an account's followers.
"""

from __future__ import annotations

from config import Settings
from tribe.infra.identity import user_agent
from tribe.networks.base import address_policy
from tribe.networks.mastodon.connect import MastodonConnector
from tribe.networks.mastodon.followers import MastodonFollowers
from tribe.networks.mastodon.publish import MastodonPublisher

__all__ = [
    "MastodonConnector",
    "MastodonFollowers",
    "MastodonPublisher",
    "connector",
    "followers",
    "publisher",
]


def publisher(settings: Settings) -> MastodonPublisher:
    return MastodonPublisher(user_agent(settings), policy=address_policy(settings))


def connector(settings: Settings) -> MastodonConnector:
    return MastodonConnector(
        redirect_uri=settings.TRIBE_MASTODON_REDIRECT_URL,
        user_agent=user_agent(settings),
        policy=address_policy(settings),
        timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds(),
    )


def followers(settings: Settings) -> MastodonFollowers:
    return MastodonFollowers(user_agent(settings), policy=address_policy(settings))
