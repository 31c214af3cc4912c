"""Threads through its Graph API (graph.threads.net) over tribe's guarded httpx.

No client library: pythreads, the one Python SDK, is small and async-first on aiohttp,
which would bypass tribe's guarded transport and its timeouts; the documented HTTP
contract is a handful of calls. What Threads shares with Facebook (Graph error bodies,
throttling codes, usage headers, guarded calls) is in tribe/networks/graph.py.

client.py holds the app and the signed-in calls; errors.py Threads' words on the Graph
ladder; publish.py posts in two crash-safe steps, reposts, finds and renews tokens;
connect.py walks the OAuth sign-in to a long-lived token; followers.py reads insights.
"""

from __future__ import annotations

from config import Settings
from tribe.networks.threads.client import ThreadsApp
from tribe.networks.threads.connect import ThreadsConnector
from tribe.networks.threads.errors import ThreadsConnectError
from tribe.networks.threads.followers import ThreadsFollowers
from tribe.networks.threads.publish import ThreadsPublisher

__all__ = [
    "ThreadsApp",
    "ThreadsConnectError",
    "ThreadsConnector",
    "ThreadsFollowers",
    "ThreadsPublisher",
    "connector",
    "followers",
    "publisher",
    "renewer",
]


def publisher(settings: Settings) -> ThreadsPublisher:
    return ThreadsPublisher(ThreadsApp.from_settings(settings))


def renewer(settings: Settings) -> ThreadsPublisher:
    """The publisher renews tokens too (`ThreadsPublisher.renew`), as it does before a
    call when one is about to run out."""
    return ThreadsPublisher(ThreadsApp.from_settings(settings))


def connector(settings: Settings) -> ThreadsConnector:
    return ThreadsConnector(
        ThreadsApp.from_settings(settings), timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds()
    )


def followers(settings: Settings) -> ThreadsFollowers:
    return ThreadsFollowers(ThreadsApp.from_settings(settings))
