"""Connecting members' accounts: the one driver over every network's `Connector`.

The edges (`tribe account connect`, the Accounts page) branch on the network once:
`flow(network, settings)` finds its connector in the registry and lends it the OAuth
apps tribe registered before (`SavedApps`). They run its steps outside any database
transaction (`Flow.begin`, then `Flow.finish` for a two-step flow), keeping a step's
state between the two, and hand what it produced to `store_connection`, the only write
of a connect: encrypted credentials, the account's remote id and server, the instance's
limits, and the deliveries held while the account could not send, queued again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from config import Settings
from tribe.core.kinds import Connection, Network
from tribe.core.outcomes import runs_out
from tribe.delivery.placing import PlacementConfig, hold_queue, release_held
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Account, Member, NetworkApp
from tribe.infra.vault import Vault
from tribe.members.accounts import (
    AccountInfo,
    add_account,
    describe,
    normalize_handle,
    own_account,
)
from tribe.networks import registry
from tribe.networks.base import Connected, Connector, Step

__all__ = [
    "Connected",
    "Flow",
    "SavedApps",
    "disconnect",
    "flow",
    "store_connection",
]


@dataclass(frozen=True)
class SavedApps:
    """The `AppStore` connectors use: tribe's OAuth apps on members' servers, one row per
    (network, server), the secret sealed by the vault."""

    vault: Vault

    def get(self, network: Network, base_url: str) -> dict[str, str] | None:
        with read_scope() as session:
            app = session.exec(
                select(NetworkApp).where(
                    col(NetworkApp.network) == network, col(NetworkApp.base_url) == base_url
                )
            ).first()
            if app is None:
                return None
            return {"client_id": app.client_id, **self.vault.open(app.client_secret)}

    def keep(self, network: Network, base_url: str, app: dict[str, str]) -> dict[str, str]:
        row = NetworkApp(
            network=network,
            base_url=base_url,
            client_id=app["client_id"],
            client_secret=self.vault.seal({"client_secret": app["client_secret"]}),
        )
        try:
            with session_scope() as session:
                session.add(row)
        except IntegrityError:  # registered by someone else meanwhile: use theirs
            kept = self.get(network, base_url)
            assert kept is not None
            return kept
        return app


@dataclass(frozen=True)
class Flow:
    """One network's connect steps, with what the driver lends them."""

    connector: Connector
    apps: SavedApps

    def begin(self, given: Mapping[str, str]) -> Step | Connected:
        return self.connector.begin(given, self.apps)

    def finish(self, state: Mapping[str, str], answer: str) -> Connected:
        return self.connector.finish(state, answer, self.apps)


def flow(network: Network, settings: Settings) -> Flow:
    """The network's connector (the one registry lookup of a connect). Raises
    SettingsError first when the credentials could not be stored: no point signing in."""
    vault = Vault.from_settings(settings)
    return Flow(registry.connector(network, settings), SavedApps(vault))


def store_connection(
    session: Session,
    *,
    member: Member,
    connected: Connected,
    vault: Vault,
    config: PlacementConfig,
) -> tuple[AccountInfo, int]:
    """Save a connected account (a new record, or the existing one with that handle).

    Returns the account and how many held deliveries were queued again.
    """
    handle = normalize_handle(connected.network, connected.handle)
    account = session.exec(
        select(Account).where(
            col(Account.member_id) == member.id,
            col(Account.network) == connected.network,
            col(Account.handle) == handle,
        )
    ).first()
    if account is None:
        created = add_account(
            session, member=member, network=connected.network.value, handle=handle
        )
        account = session.get(Account, created.id)
        assert account is not None
    account.credentials = vault.seal(connected.credentials)
    account.token_expires_at = runs_out(connected.credentials)
    account.connection = Connection.CONNECTED
    account.connection_note = ""
    account.connected_at = datetime.now(UTC)
    account.remote_user_id = connected.remote_user_id
    account.base_url = connected.base_url
    account.rate_limited_until = None
    if "max_characters" in connected.limits:
        account.max_characters = connected.limits["max_characters"]
    if "url_characters" in connected.limits:
        account.url_characters = connected.limits["url_characters"]
    session.flush()
    released = release_held(session, account=account, config=config)
    return describe(account, member), released


def disconnect(session: Session, *, member: Member, account_id: int) -> AccountInfo:
    """Forget the credentials; queued deliveries are held until it is connected again."""
    account = own_account(session, member, account_id)
    account.credentials = None
    hold_queue(
        session,
        account=account,
        connection=Connection.UNCONNECTED,
        note="disconnected by you",
        now=datetime.now(UTC),
    )
    session.flush()
    return describe(account, member)
