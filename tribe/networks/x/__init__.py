"""X (Twitter) through tweepy's API v2 client: post, retweet, look for a post, connect.

client.py tames tweepy (host rewrite, timeouts, the guard, the token endpoint);
errors.py reads X's answers into outcomes; publish.py posts and finds; connect.py walks
OAuth 1.0a (PIN) and OAuth 2.0 (PKCE) sign-ins; followers.py reads an account's
followers where the app's access level allows.
"""

from __future__ import annotations

from config import Settings
from tribe.networks.x.client import XApp, XSession
from tribe.networks.x.connect import XConnector
from tribe.networks.x.errors import XConnectError
from tribe.networks.x.followers import XFollowers
from tribe.networks.x.publish import XPublisher

__all__ = [
    "XApp",
    "XConnectError",
    "XConnector",
    "XFollowers",
    "XPublisher",
    "XSession",
    "connector",
    "followers",
    "publisher",
]


def publisher(settings: Settings) -> XPublisher:
    return XPublisher(XApp.from_settings(settings))


def connector(settings: Settings) -> XConnector:
    return XConnector(
        XApp.from_settings(settings),
        redirect_url=settings.TRIBE_X_REDIRECT_URL,
        timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds(),
    )


def followers(settings: Settings) -> XFollowers:
    return XFollowers(XApp.from_settings(settings))
