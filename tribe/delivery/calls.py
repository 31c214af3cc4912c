"""What one network call needs, read before the call: the publication, the account as the
adapter sees it (credentials opened), and for a repost the author's post it points at.

Nothing here changes a delivery's state; `tribe/delivery/dispatch.py` does, through the
decider. Changed credentials (a refreshed token, a Bluesky session that moved) go back
through `credential_updater`, under a per-account lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from tribe.core.errors import TribeError
from tribe.core.kinds import DeliveryState, Network, ReshareKind
from tribe.core.outcomes import (
    AccountContext,
    Credentials,
    NeedsReconnect,
    Publication,
    Transient,
    runs_out,
)
from tribe.delivery.claims import Claim
from tribe.infra.db import serialize, session_scope
from tribe.infra.models import Account, Delivery, Feed, Post
from tribe.infra.netguard import AddressPolicy, check_server
from tribe.infra.vault import Vault


@dataclass(frozen=True)
class Job:
    """One started call: what to send, with whose credentials, and how to record it."""

    claim: Claim
    network: Network
    account: AccountContext
    publication: Publication


def find_target(
    session: Session, account: Account, post: Post
) -> tuple[Delivery | None, Delivery | None]:
    """For a repost: (the author's own post of the article when it is out, the author's
    own post when it is still to go out)."""
    feed = session.get(Feed, post.feed_id)
    assert feed is not None
    own = session.exec(
        select(Delivery)
        .join(Account, col(Account.id) == col(Delivery.account_id))
        .where(
            col(Delivery.post_id) == post.id,
            col(Delivery.kind) == ReshareKind.ANNOUNCE,
            col(Account.member_id) == feed.owner_id,
            col(Account.network) == account.network,
        )
    ).first()
    if own is None:
        return None, None
    if own.state == DeliveryState.SENT:
        # Confirmed by hand (or a dry run): no remote id to point at.
        return (own, None) if own.remote_id else (None, None)
    if own.state in (DeliveryState.QUEUED, DeliveryState.SENDING):
        return None, own
    return None, None  # held, unconfirmed, failed or cancelled: do not wait on it


def _target_id(target: Delivery | None, account: Account, session: Session) -> str | None:
    if target is None:
        return None
    if account.network == Network.MASTODON:
        # A status id is only good on its own instance; elsewhere the instance looks
        # the post up by its URL.
        origin = session.get(Account, target.account_id)
        if origin is not None and origin.base_url != account.base_url:
            return target.remote_url
    return target.remote_id


def job_for(
    session: Session,
    claim: Claim,
    delivery: Delivery,
    account: Account,
    post: Post,
    *,
    kind: ReshareKind,
    target: Delivery | None,
    timeout: float,
    policy: AddressPolicy,
    vault: Vault | None,
    lease: timedelta,
) -> Job:
    assert account.id is not None
    credentials: Credentials = {}
    if account.credentials and vault is not None:
        credentials = vault.open(account.credentials)
    context = AccountContext(
        account_id=account.id,
        handle=account.handle,
        remote_user_id=account.remote_user_id,
        base_url=account.base_url,
        credentials=credentials,
        timeout=timeout,
        refresh=credential_updater(vault, account.id, policy=policy, timeout=timeout),
    )
    publication = Publication(
        delivery_id=claim.delivery_id,
        kind=kind,
        text=delivery.text,
        link=post.url,
        title=post.title,
        summary=post.summary,
        target_id=_target_id(target, account, session),
        target_cid=target.remote_cid if target else None,
        key=delivery.key,
        created_at=delivery.first_started_at or delivery.created_at,
        progress=dict(delivery.progress or {}),
        keep=progress_keeper(claim, lease),
    )
    return Job(claim, account.network, context, publication)


def begin_check(
    claim: Claim, *, timeout: float, policy: AddressPolicy, vault: Vault | None, lease: timedelta
) -> Job | None:
    """Gather what looking for an unconfirmed delivery needs (no state change)."""
    with session_scope() as session:
        delivery = session.get(Delivery, claim.delivery_id)
        if (
            delivery is None
            or delivery.lease_token != claim.token
            or delivery.state != DeliveryState.UNCONFIRMED
        ):
            return None
        account = session.get(Account, delivery.account_id)
        post = session.get(Post, delivery.post_id)
        assert account is not None
        assert post is not None
        target = None
        if delivery.kind == ReshareKind.REPOST:
            target, _pending = find_target(session, account, post)
        kind = (
            ReshareKind.POST
            if delivery.kind == ReshareKind.REPOST and not target
            else delivery.kind
        )
        return job_for(
            session,
            claim,
            delivery,
            account,
            post,
            kind=kind,
            target=target,
            timeout=timeout,
            policy=policy,
            vault=vault,
            lease=lease,
        )


def credential_updater(
    vault: Vault | None, account_id: int, *, policy: AddressPolicy, timeout: float
) -> Callable[[Callable[[Credentials], Credentials | None]], Credentials]:
    """`AccountContext.refresh`: read, update and save one account's credentials under a lock.

    The lock is the account row's (and an advisory lock on PostgreSQL; SQLite's write
    lock on SQLite), held while `update` runs, so two workers never both spend a
    single-use refresh token. A Bluesky session may name a new PDS on refresh: it must
    be a server `policy` allows, as at connect time, or nothing of it is stored.
    """

    def refresh(update_: Callable[[Credentials], Credentials | None]) -> Credentials:
        if vault is None:
            raise NeedsReconnect("credentials cannot be refreshed without TRIBE_SECRET_KEYS")
        with session_scope() as session:
            serialize(session, f"tribe.account.{account_id}.credentials")
            account = session.get(Account, account_id, with_for_update=True)
            assert account is not None
            current = vault.open(account.credentials) if account.credentials else {}
            new = update_(current)
            if new is None:
                return current
            moved_to = new.get("pds_url")
            if moved_to and moved_to != current.get("pds_url"):
                try:
                    check_server(str(moved_to), policy, timeout)
                except TribeError as error:
                    raise NeedsReconnect(
                        f"the account's server moved to {moved_to}: {error}"
                    ) from None
            account.credentials = vault.seal(new)
            account.token_expires_at = runs_out(new)
            return new

    return refresh


def progress_keeper(claim: Claim, lease: timedelta) -> Callable[[Mapping[str, Any]], None]:
    """`Publication.keep`: merge what a call did so far into its delivery's `progress`,
    committed at once, and give the call a fresh lease for its next step (a call in
    steps may outlast one lease). A claim that lost the delivery meanwhile (its lease ran
    out and another worker took over) must stop before its next step, which could post
    a second time: `keep` raises Transient, and nothing it did so far is a post."""

    def keep(done: Mapping[str, Any]) -> None:
        with session_scope() as session:
            delivery = session.get(Delivery, claim.delivery_id, with_for_update=True)
            if (
                delivery is None
                or delivery.lease_token != claim.token
                or delivery.state not in (DeliveryState.SENDING, DeliveryState.UNCONFIRMED)
            ):
                raise Transient("this try lost its turn to another; it goes no further")
            delivery.progress = {**(delivery.progress or {}), **done}
            delivery.lease_until = datetime.now(UTC) + lease

    return keep
