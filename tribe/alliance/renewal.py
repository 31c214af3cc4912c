"""Keeping members' sign-ins alive: long-lived tokens renewed before they run out, and a
member told ahead of time when theirs cannot be.

LinkedIn's and Threads' tokens last about 60 days and do not renew themselves as they
are used (X's 2-hour OAuth 2.0 tokens do, in x/publish.py). Each account keeps when its
sign-in runs out (`Account.token_expires_at`, written wherever credentials are stored);
an hourly pass (`renewals_due`) picks the connected accounts of the networks that renew
(`registry.RENEWED`) within `TRIBE_RENEW_AHEAD` of that time, and `renew_account` asks the
network's `Renewer`, one account at a time, outside any transaction:

- renewed: the new token is stored (under the account's lock, `credential_updater`), its
  new expiry with it, and any earlier warning cleared;
- the network will not renew it (LinkedIn renews only for apps it enabled; a Threads
  token refused): within `WARN_WITHIN` of the end the member gets one email, "reconnect
  within N days", and the Accounts page says so; once it has run out the account turns
  `needs_reconnect` and its queue is held, as after a refused post;
- the network could not be asked now: the next pass tries again.

Member emails live in tribe/alliance (templates/reconnect.*), so this does too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from sqlmodel import Session, col, select

from config import Settings
from tribe.alliance.counting import aware
from tribe.alliance.herding import settings_url
from tribe.alliance.letters import letter
from tribe.core.kinds import Connection, Network
from tribe.core.outcomes import AccountContext, NeedsReconnect, PublishError
from tribe.delivery.calls import credential_updater
from tribe.delivery.placing import hold_queue
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Account, Member
from tribe.infra.netguard import AddressPolicy
from tribe.infra.outbox import enqueue
from tribe.infra.vault import Vault
from tribe.networks import registry
from tribe.networks.base import Renewer, address_policy

log = logging.getLogger("tribe.renewal")

KIND = "reconnect"
WARN_WITHIN = timedelta(days=5)  # tell the member this long before the sign-in runs out
BATCH = 200  # accounts looked at per pass
NAMES = {Network.LINKEDIN: "LinkedIn", Network.THREADS: "Threads"}


class Renewal(StrEnum):
    RENEWED = "renewed"
    WARNED = "warned"  # cannot be renewed: the member was told (or had been already)
    NOT_YET = "not yet"  # cannot be renewed, and it is too early to say so
    HELD = "held"  # it ran out: needs_reconnect
    AGAIN = "again"  # the network could not be asked now: the next pass tries again


@dataclass(frozen=True)
class RenewConfig:
    ahead: timedelta  # TRIBE_RENEW_AHEAD
    timeout: float  # seconds, for every network call
    policy: AddressPolicy
    renewers: Callable[[Network], Renewer | None]
    base_url: str  # for the email's link to the Accounts page
    sender: str

    @classmethod
    def from_settings(cls, settings: Settings) -> RenewConfig:
        return cls(
            ahead=settings.TRIBE_RENEW_AHEAD,
            timeout=settings.TRIBE_PUBLISH_TIMEOUT.total_seconds(),
            policy=address_policy(settings),
            renewers=partial(registry.renewer, settings=settings),
            base_url=settings.TRIBE_BASE_URL,
            sender=settings.TRIBE_SMTP_FROM,
        )


def renewals_due(session: Session, *, now: datetime, ahead: timedelta) -> list[int]:
    """Connected accounts whose sign-in runs out within `ahead` (or has), soonest first."""
    due = session.exec(
        select(col(Account.id))
        .where(
            col(Account.network).in_(registry.RENEWED),
            col(Account.connection) == Connection.CONNECTED,
            col(Account.credentials).is_not(None),
            col(Account.token_expires_at) <= now + ahead,
        )
        .order_by(col(Account.token_expires_at), col(Account.id))
        .limit(BATCH)
    ).all()
    return [account_id for account_id in due if account_id is not None]


def _due(account: Account | None, *, now: datetime, ahead: timedelta) -> bool:
    """`renewals_due`'s rule for one account, as it is now."""
    return (
        account is not None
        and account.network in registry.RENEWED
        and account.connection == Connection.CONNECTED
        and account.credentials is not None
        and account.token_expires_at is not None
        and aware(account.token_expires_at) <= now + ahead
    )


def renew_account(
    account_id: int, *, now: datetime, config: RenewConfig, vault: Vault | None
) -> Renewal | None:
    """Renew one account's sign-in if it is still due; None when it is not (renewed or
    reconnected meanwhile, disconnected, gone)."""
    with read_scope() as session:
        account = session.get(Account, account_id)
        if not _due(account, now=now, ahead=config.ahead):
            return None
        assert account is not None
        assert account.token_expires_at is not None
        network, ends = account.network, aware(account.token_expires_at)
        context = AccountContext(
            account_id=account_id,
            handle=account.handle,
            remote_user_id=account.remote_user_id,
            base_url=account.base_url,
            credentials=vault.open(account.credentials) if vault and account.credentials else {},
            timeout=config.timeout,
            refresh=credential_updater(
                vault, account_id, policy=config.policy, timeout=config.timeout
            ),
        )
    renewer = config.renewers(network)
    if renewer is None:
        return None
    try:
        renewer.renew(context)  # no session open: a network call
    except NeedsReconnect as refused:
        return _not_renewed(account_id, str(refused), ends=ends, now=now, config=config)
    except PublishError as error:
        log.info("could not renew account %s now: %s", account_id, error)
        return Renewal.AGAIN
    with session_scope() as session:
        account = session.get(Account, account_id)
        if account is not None and account.connection == Connection.CONNECTED:
            account.connection_note = ""  # a warning sent earlier no longer holds
    return Renewal.RENEWED


def _not_renewed(
    account_id: int, why: str, *, ends: datetime, now: datetime, config: RenewConfig
) -> Renewal:
    with session_scope() as session:
        account = session.get(Account, account_id, with_for_update=True)
        if (
            account is None
            or account.connection != Connection.CONNECTED
            or account.token_expires_at is None
            or aware(account.token_expires_at) != ends
        ):
            return Renewal.NOT_YET  # reconnected (or disconnected) meanwhile: not this sign-in
        name = NAMES.get(account.network, account.network.value)
        if ends <= now:
            hold_queue(
                session,
                account=account,
                connection=Connection.NEEDS_RECONNECT,
                note=f"{name}'s sign-in ran out on {ends:%Y-%m-%d} and could not be renewed",
                now=now,
            )
            return Renewal.HELD
        if ends - now > WARN_WITHIN:
            return Renewal.NOT_YET
        days = max(1, -(-(ends - now) // timedelta(days=1)))  # whole days, rounded up
        account.connection_note = (
            f"{name} will not renew this sign-in: reconnect within {days} "
            f"day{'s' if days != 1 else ''} (it runs out on {ends:%Y-%m-%d %H:%M} UTC)"
        )
        member = session.get(Member, account.member_id)
        assert member is not None
        assert account.id is not None
        mail = letter(
            KIND,
            to=member.email,
            subject=f"Reconnect your {name} account within {days} day{'s' if days != 1 else ''}",
            context={
                "member_name": member.display_name,
                "network": name,
                "handle": account.handle,
                "days": days,
                "ends": f"{ends:%A %d %B %Y, %H:%M} UTC",
                "why": why,
                "accounts_url": config.base_url.rstrip("/") + "/accounts",
                "settings_url": settings_url(config.base_url),
            },
        )
        # One email per sign-in: a later pass (or a second worker) queues nothing more.
        enqueue(
            session,
            key=f"{KIND}:{account.id}:{int(ends.timestamp())}",
            kind=KIND,
            letter=mail,
            sender=config.sender,
            member_id=member.id,
            due_at=now,
        )
        return Renewal.WARNED
