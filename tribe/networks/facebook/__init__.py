"""Facebook Pages through the Graph API: post to a Page, look for a post, connect, count.

Plain httpx against the documented REST calls (tribe/networks/graph.py holds what Meta's
APIs share): python-facebook-api wraps the same calls on requests, but on httpx tribe's
guard and a per-call timeout are one transport and one argument. Personal profiles
cannot be posted to through the API, so an account is a Page, named by its name.

client.py holds the app, the addresses and the per-Page hold on calls; errors.py reads
Facebook's answers into outcomes; publish.py posts and finds; connect.py walks Facebook
Login and picks the Page; followers.py reads the Page's followers. Page tokens made
from a long-lived user token do not run out, so there is no renewer.
"""

from __future__ import annotations

from config import Settings
from tribe.networks.facebook.client import FacebookApp, Holds
from tribe.networks.facebook.connect import FacebookConnector
from tribe.networks.facebook.errors import FacebookConnectError
from tribe.networks.facebook.followers import FacebookFollowers
from tribe.networks.facebook.publish import FacebookPublisher

__all__ = [
    "FacebookApp",
    "FacebookConnectError",
    "FacebookConnector",
    "FacebookFollowers",
    "FacebookPublisher",
    "Holds",
    "connector",
    "followers",
    "publisher",
]

# One process, one view of which Pages Facebook has asked to wait: posting and counting
# followers spend the same Page's calls.
PROCESS_HOLDS = Holds()


def publisher(settings: Settings) -> FacebookPublisher:
    return FacebookPublisher(FacebookApp.from_settings(settings), PROCESS_HOLDS)


def connector(settings: Settings) -> FacebookConnector:
    return FacebookConnector(
        FacebookApp.from_settings(settings),
        redirect_url=settings.TRIBE_FACEBOOK_REDIRECT_URL,
        timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds(),
    )


def followers(settings: Settings) -> FacebookFollowers:
    return FacebookFollowers(FacebookApp.from_settings(settings), PROCESS_HOLDS)
