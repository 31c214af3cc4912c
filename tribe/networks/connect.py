"""Connecting members' accounts for real: what the OAuth flows and logins leave behind.

The network-specific steps (authorize URLs, code exchanges, logins) live in the
adapters; this module stores their results: encrypted credentials, the account's
remote id and server, the instance's limits, and it releases what was held while the
account needed reconnecting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from config import Settings
from tribe.core.errors import BlockedAddressError, InvalidInputError
from tribe.core.kinds import Connection, DeliveryState, Network
from tribe.core.urls import parse_web_address
from tribe.delivery.queue import release_held
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Account, Delivery, NetworkApp
from tribe.infra.netguard import checked_addresses
from tribe.infra.vault import Vault
from tribe.members.accounts import (
    AccountInfo,
    add_account,
    describe,
    mention,
    normalize_handle,
    own_account,
)
from tribe.members.people import get_member
from tribe.networks.registry import address_policy
from tribe.stream.approvals import ApprovalConfig


@dataclass(frozen=True)
class Connected:
    """What a finished flow learned about the account."""

    network: Network
    handle: str
    credentials: dict[str, Any]
    remote_user_id: str | None = None
    base_url: str | None = None
    limits: dict[str, int] = field(default_factory=dict)  # max_characters, url_characters


def store_connection(
    session: Session,
    *,
    email: str,
    connected: Connected,
    vault: Vault,
    config: ApprovalConfig,
) -> tuple[AccountInfo, int]:
    """Save a connected account (a new record, or the existing one with that handle).

    Returns the account and how many held deliveries were queued again.
    """
    member = get_member(session, email)
    handle = normalize_handle(connected.network, connected.handle)
    account = session.exec(
        select(Account).where(
            col(Account.member_id) == member.id,
            col(Account.network) == connected.network,
            col(Account.handle) == handle,
        )
    ).first()
    if account is None:
        created = add_account(session, email=email, network=connected.network.value, handle=handle)
        account = session.get(Account, created.id)
        assert account is not None
    account.credentials = vault.seal(connected.credentials)
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


def disconnect(session: Session, *, email: str, account_id: int) -> AccountInfo:
    """Forget the credentials; queued deliveries are held until it is connected again."""
    member = get_member(session, email)
    account = own_account(session, member, account_id)
    account.credentials = None
    account.connection = Connection.UNCONNECTED
    account.connection_note = "disconnected by you"
    session.exec(
        update(Delivery)
        .where(
            col(Delivery.account_id) == account.id,
            col(Delivery.state) == DeliveryState.QUEUED,
        )
        .values(
            state=DeliveryState.HELD,
            reason=f"held: {mention(account)} was disconnected",
            updated_at=datetime.now(UTC),
        )
    )
    session.flush()
    return describe(account, member)


def saved_app(
    session: Session, network: Network, base_url: str, vault: Vault
) -> dict[str, str] | None:
    """The OAuth app tribe registered on this server before, if any."""
    app = session.exec(
        select(NetworkApp).where(
            col(NetworkApp.network) == network, col(NetworkApp.base_url) == base_url
        )
    ).first()
    if app is None:
        return None
    return {"client_id": app.client_id, **vault.open(app.client_secret)}


def save_app(
    session: Session, network: Network, base_url: str, app: dict[str, str], vault: Vault
) -> None:
    session.add(
        NetworkApp(
            network=network,
            base_url=base_url,
            client_id=app["client_id"],
            client_secret=vault.seal({"client_secret": app["client_secret"]}),
        )
    )
    session.flush()


# The flows: network steps run outside any database transaction. ------------------------


def finish(email: str, connected: Connected, settings: Settings) -> tuple[AccountInfo, int]:
    """Store what a flow produced (the only database write of a connect)."""
    vault = Vault.from_settings(settings)
    with session_scope() as session:
        return store_connection(
            session,
            email=email,
            connected=connected,
            vault=vault,
            config=ApprovalConfig.from_settings(settings),
        )


def check_member(email: str) -> None:
    """Fail before any network step when the member does not exist."""
    with read_scope() as session:
        get_member(session, email)


def check_server(url: str, settings: Settings) -> None:
    """A member-given server (Mastodon instance, Bluesky PDS) must be a public one.

    An early, friendly answer before any sign-in step: the same address rules as for
    feeds (loopback, private, link-local and other internal addresses are refused unless
    TRIBE_ALLOW_PRIVATE_ADDRESSES or TRIBE_ALLOWED_NETWORKS allow them). It is not the
    defence: every connection the network libraries make goes through the guard
    (tribe/feeds/netguard.py), which checks again, on every connection and redirect.
    """
    address = parse_web_address(url, what="the server's address")
    port = address.port or (443 if address.scheme == "https" else 80)
    timeout = settings.TRIBE_PUBLISH_TIMEOUT.total_seconds()
    try:
        checked_addresses(address.host, port, address_policy(settings), timeout)
    except BlockedAddressError as refused:
        raise InvalidInputError(str(refused)) from None


def mastodon_app(instance_url: str, settings: Settings) -> tuple[str, dict[str, str]]:
    """The instance's API address and tribe's app there, registered on first use and kept."""
    from tribe.networks.mastodon import instance_base_url, register_app

    vault = Vault.from_settings(settings)
    base = instance_base_url(instance_url)
    check_server(base, settings)
    with read_scope() as session:
        app = saved_app(session, Network.MASTODON, base, vault)
    if app is not None:
        return base, app
    app = register_app(
        base,
        redirect_uri=settings.TRIBE_MASTODON_REDIRECT_URL,
        timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds(),
        policy=address_policy(settings),
    )
    try:
        with session_scope() as session:
            save_app(session, Network.MASTODON, base, app, vault)
    except IntegrityError:  # registered by someone else meanwhile: use theirs
        with read_scope() as session:
            kept = saved_app(session, Network.MASTODON, base, vault)
        assert kept is not None
        return base, kept
    return base, app


def mastodon_connected(base: str, app: dict[str, str], code: str, settings: Settings) -> Connected:
    from tribe.networks.mastodon import describe_account, exchange_code

    timeout = settings.TRIBE_PUBLISH_TIMEOUT.total_seconds()
    policy = address_policy(settings)
    credentials = exchange_code(
        base, app, code, redirect_uri=settings.TRIBE_MASTODON_REDIRECT_URL, timeout=timeout,
        policy=policy,
    )  # fmt: skip
    about = describe_account(base, credentials["access_token"], timeout=timeout, policy=policy)
    return Connected(
        network=Network.MASTODON,
        handle=about["handle"],
        credentials=credentials,
        remote_user_id=about["remote_user_id"],
        base_url=base,
        limits={
            "max_characters": about["max_characters"],
            "url_characters": about["characters_reserved_per_url"],
        },
    )


def bluesky_connected(pds: str, handle: str, password: str, settings: Settings) -> Connected:
    """Log in once with an app password; the session is kept and resumed after that."""
    from tribe.networks.bluesky import login, pds_address

    pds = pds_address(pds)
    check_server(pds, settings)
    if not handle.strip() or not password.strip():
        raise InvalidInputError("Bluesky needs the handle and an app password")
    credentials = login(
        pds, handle.strip().lstrip("@"), password.strip(),
        timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds(), policy=address_policy(settings),
    )  # fmt: skip
    check_server(str(credentials["pds_url"]), settings)  # where its DID points
    return Connected(
        network=Network.BLUESKY,
        handle=str(credentials["handle"]),
        credentials=credentials,
        remote_user_id=str(credentials["did"]),
        base_url=str(credentials["pds_url"]),
    )


def x_connected(credentials: dict[str, Any], settings: Settings) -> Connected:
    from tribe.networks.registry import x_app
    from tribe.networks.x import describe_account

    about = describe_account(
        x_app(settings), credentials, timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds()
    )
    return Connected(
        network=Network.X,
        handle=about["handle"],
        credentials=credentials,
        remote_user_id=about["remote_user_id"],
    )
