"""Dry run: log exactly what would be sent, call no network (not even to read followers)."""

from __future__ import annotations

import logging

from tribe.core.outcomes import AccountContext, Publication, ReshareKind, Sent
from tribe.networks.base import Followers

log = logging.getLogger("tribe.publishing")


class DryRunPublisher:
    """Stands in for every network when TRIBE_DRY_RUN is on (or no keys are configured)."""

    idempotent = True

    def __init__(self, network: str) -> None:
        self.network = network

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        if item.kind == ReshareKind.REPOST:
            what = f"repost {item.target_id}"
        else:
            what = f"{item.kind.value} {item.text!r}"
        log.info(
            "DRY RUN: would %s to %s @%s (delivery %s, key %s)",
            what,
            self.network,
            account.handle,
            item.delivery_id,
            item.key,
        )
        return Sent(remote_id="", remote_url="")  # nothing on any network to point at

    def find(self, account: AccountContext, item: Publication) -> Sent | None:
        return None


DRY_RUN_NOTE = "dry run: tribe asks no network, so the count is not known"


class DryRunFollowers:
    """Stands in for every network's follower reading in dry run: the count is unknown,
    and says why (a row with that reason each day, rather than no row and no reason)."""

    def followers(self, account: AccountContext) -> Followers:
        return Followers(None, DRY_RUN_NOTE)
