"""LinkedIn member profiles through LinkedIn's documented REST contract: post, reshare,
look for a post, connect, renew the sign-in.

Plain httpx on tribe's guarded transport, not the community `linkedin-api-client`: that
client is in beta and built on requests, and would need its own guard plumbing (and its
own timeouts) for what is here a handful of JSON calls. client.py holds the app, the
guarded client and the token endpoint; errors.py reads LinkedIn's answers into outcomes;
publish.py posts, reshares and finds; connect.py walks the OpenID Connect sign-in and
renews it; followers.py says why there is no follower count.
"""

from __future__ import annotations

from config import Settings
from tribe.networks.linkedin.client import LinkedInApp
from tribe.networks.linkedin.connect import LinkedInConnector, LinkedInRenewer
from tribe.networks.linkedin.errors import LinkedInConnectError
from tribe.networks.linkedin.followers import LinkedInFollowers
from tribe.networks.linkedin.publish import LinkedInPublisher

__all__ = [
    "LinkedInApp",
    "LinkedInConnectError",
    "LinkedInConnector",
    "LinkedInFollowers",
    "LinkedInPublisher",
    "LinkedInRenewer",
    "connector",
    "followers",
    "publisher",
    "renewer",
]


def publisher(settings: Settings) -> LinkedInPublisher:
    return LinkedInPublisher(LinkedInApp.from_settings(settings))


def connector(settings: Settings) -> LinkedInConnector:
    return LinkedInConnector(
        LinkedInApp.from_settings(settings),
        timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds(),
    )


def followers(settings: Settings) -> LinkedInFollowers:
    return LinkedInFollowers()


def renewer(settings: Settings) -> LinkedInRenewer:
    return LinkedInRenewer(LinkedInApp.from_settings(settings))
