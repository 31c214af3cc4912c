"""Which publisher speaks for each network in this process."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from config import Settings, get_settings
from tribe.core.kinds import Network
from tribe.core.outcomes import Publisher
from tribe.infra.identity import user_agent
from tribe.infra.netguard import AddressPolicy
from tribe.networks.dryrun import DryRunPublisher

if TYPE_CHECKING:
    from tribe.networks.x import XApp


def make_publishers(settings: Settings) -> Callable[[Network], Publisher]:
    """One publisher per network, built on first use (the libraries are slow to import)."""

    @cache
    def publisher(network: Network) -> Publisher:
        if settings.dry_run:
            return DryRunPublisher(network.value)
        if network == Network.X:
            from tribe.networks.x import XPublisher

            return XPublisher(x_app(settings))
        if network == Network.MASTODON:
            from tribe.networks.mastodon import MastodonPublisher

            return MastodonPublisher(user_agent(settings), policy=address_policy(settings))
        from tribe.networks.bluesky import BlueskyPublisher

        return BlueskyPublisher(policy=address_policy(settings))

    return publisher


def address_policy(settings: Settings) -> AddressPolicy:
    """Where connections to servers outside tribe may go (the same rule as for feeds)."""
    return AddressPolicy.from_settings(
        settings.TRIBE_ALLOW_PRIVATE_ADDRESSES, settings.TRIBE_ALLOWED_NETWORKS
    )


def x_app(settings: Settings) -> XApp:
    from tribe.networks.x import XApp

    return XApp(
        api_url=settings.TRIBE_X_API_URL,
        consumer_key=settings.TRIBE_X_API_KEY or None,
        consumer_secret=settings.TRIBE_X_API_SECRET or None,
        client_id=settings.TRIBE_X_CLIENT_ID or None,
        client_secret=settings.TRIBE_X_CLIENT_SECRET or None,
        policy=address_policy(settings),
    )


@cache
def process_publishers() -> Callable[[Network], Publisher]:
    return make_publishers(get_settings())
