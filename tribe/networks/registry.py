"""Which publisher, connector and follower counter speak for each network in this process.

One line per network in `NETWORKS`: the package that holds its folder of the same six
files (client, errors, publish, connect, followers, and an `__init__` with the three
factories below). The packages are imported on first use: a worker that only polls
feeds never loads tweepy, Mastodon.py or atproto (slow to import). In dry run every
network's publisher is the `DryRunPublisher` and its follower counter the
`DryRunFollowers` (no network is asked); connecting still speaks to the real networks.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module
from typing import Protocol, cast

from config import Settings, get_settings
from tribe.core.errors import NotFoundError
from tribe.core.kinds import Network
from tribe.core.outcomes import Publisher
from tribe.networks.base import Connector, FollowerCounter, Renewer
from tribe.networks.dryrun import DryRunFollowers, DryRunPublisher

NETWORKS: dict[Network, str] = {
    Network.X: "tribe.networks.x",
    Network.MASTODON: "tribe.networks.mastodon",
    Network.BLUESKY: "tribe.networks.bluesky",
    Network.LINKEDIN: "tribe.networks.linkedin",
    Network.FACEBOOK: "tribe.networks.facebook",
    Network.THREADS: "tribe.networks.threads",
}

# The networks whose packages offer `renewer`: their long-lived tokens run out unless
# renewed ahead of time (tribe/alliance/renewal.py). Known without importing them.
RENEWED = frozenset({Network.LINKEDIN, Network.THREADS})


class NetworkPackage(Protocol):
    """What a network's `__init__.py` offers the registry."""

    def publisher(self, settings: Settings) -> Publisher: ...

    def connector(self, settings: Settings) -> Connector: ...

    def followers(self, settings: Settings) -> FollowerCounter: ...

    # Networks whose long-lived tokens run out (LinkedIn, Threads) also offer
    # `renewer(settings) -> Renewer` (see `renewer` below).


def package(network: Network) -> NetworkPackage:
    name = NETWORKS.get(network)
    if name is None:
        raise NotFoundError(f"tribe cannot connect to {network.value} yet")
    return cast(NetworkPackage, import_module(name))


def make_publishers(settings: Settings) -> Callable[[Network], Publisher]:
    """One publisher per network, built on first use."""

    @cache
    def publisher(network: Network) -> Publisher:
        if settings.dry_run:
            return DryRunPublisher(network.value)
        return package(network).publisher(settings)

    return publisher


@cache
def process_publishers() -> Callable[[Network], Publisher]:
    return make_publishers(get_settings())


def connector(network: Network, settings: Settings) -> Connector:
    """The network's connect steps, configured from `settings` (its app, its callback)."""
    return package(network).connector(settings)


def renewer(network: Network, settings: Settings) -> Renewer | None:
    """How the network renews an account's long-lived token before it runs out; None
    where tokens do not run out (or renew themselves as they are used)."""
    make = getattr(package(network), "renewer", None)
    return None if make is None else cast(Renewer, make(settings))


def make_follower_counters(settings: Settings) -> Callable[[Network], FollowerCounter]:
    """One follower counter per network, built on first use (none asks in dry run)."""

    @cache
    def counter(network: Network) -> FollowerCounter:
        if settings.dry_run:
            return DryRunFollowers()
        return package(network).followers(settings)

    return counter
