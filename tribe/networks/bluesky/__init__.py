"""Bluesky through the atproto SDK: post, repost, look for a record, connect.

client.py tames the SDK (a guarded client per call, sessions tribe refreshes under the
account's lock); errors.py reads XRPC answers into outcomes; publish.py writes records at
a fixed key and finds them; connect.py logs in once with an app password; followers.py
reads an account's followers from its profile. A post's link card (its page's title,
description and picture) comes from tribe/networks/cards.py.
"""

from __future__ import annotations

from config import Settings
from tribe.networks.base import address_policy
from tribe.networks.bluesky.connect import BlueskyConnector
from tribe.networks.bluesky.followers import BlueskyFollowers
from tribe.networks.bluesky.publish import BlueskyPublisher
from tribe.networks.cards import LinkCards

__all__ = [
    "BlueskyConnector",
    "BlueskyFollowers",
    "BlueskyPublisher",
    "connector",
    "followers",
    "publisher",
]


def publisher(settings: Settings) -> BlueskyPublisher:
    cards = LinkCards.from_settings(settings) if settings.TRIBE_LINK_CARDS else None
    return BlueskyPublisher(policy=address_policy(settings), cards=cards)


def connector(settings: Settings) -> BlueskyConnector:
    return BlueskyConnector(
        policy=address_policy(settings), timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds()
    )


def followers(settings: Settings) -> BlueskyFollowers:
    return BlueskyFollowers(policy=address_policy(settings))
