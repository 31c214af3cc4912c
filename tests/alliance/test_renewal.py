"""Renewing long-lived sign-ins ahead of time (tribe/alliance/renewal.py): renewed and
stored, or the member told once "reconnect within N days", or held once it ran out.

The renewer here is a stand-in that answers as told: each network's own renewer, speaking
to its fake server, is tested in tests/networks/test_<network>.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from tests import builders as b
from tribe.alliance.renewal import KIND, Renewal, RenewConfig, renew_account, renewals_due
from tribe.core.kinds import Connection, DeliveryState, Network
from tribe.core.outcomes import AccountContext, Credentials, NeedsReconnect, Transient
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Account, Delivery, Mail, Post
from tribe.infra.netguard import AddressPolicy
from tribe.infra.vault import Vault, process_vault
from tribe.networks.base import Renewer

pytestmark = pytest.mark.usefixtures("db")

NOW = datetime(2031, 5, 1, 9, 0, tzinfo=UTC)
AHEAD = timedelta(days=10)
_numbers = itertools.count()


@dataclass
class StandIn:
    """Renews (a new token, 60 more days) or raises what it is told to."""

    refuse: Exception | None = None
    calls: list[int] = field(default_factory=list)

    def renew(self, account: AccountContext) -> Credentials:
        self.calls.append(account.account_id)
        if self.refuse is not None:
            raise self.refuse
        until = int((NOW + timedelta(days=60)).timestamp())
        return account.refresh(
            lambda current: {**current, "access_token": "new", "expires_at": until}
        )


def vault() -> Vault:
    kept = process_vault()
    assert kept is not None
    return kept


def config(renewer: Renewer | None) -> RenewConfig:
    renewers: Callable[[Network], Renewer | None] = lambda _network: renewer  # noqa: E731
    return RenewConfig(
        ahead=AHEAD, timeout=3.0, policy=AddressPolicy(), renewers=renewers,
        base_url="https://tribe.example", sender="tribe@tribe.example",
    )  # fmt: skip


def account(ends_in: timedelta, *, network: Network = Network.LINKEDIN) -> int:
    """A connected account whose token runs out `ends_in` after NOW, one reshare queued."""
    ends = NOW + ends_in
    n = next(_numbers)
    with session_scope() as session:
        alice = b.member(session, f"alice{n}")
        bob = b.member(session, f"bob{n}")
        feed = b.feed(session, bob, f"https://bob{n}.example/feed")
        row = Account(
            member_id=b.pk(alice), network=network, handle="Alice Writes",
            connection=Connection.CONNECTED, token_expires_at=ends,
            credentials=vault().seal({"access_token": "old", "expires_at": int(ends.timestamp())}),
        )  # fmt: skip
        session.add(row)
        session.flush()
        post = Post(feed_id=b.pk(feed), entry_key="1", url=f"https://bob{n}.example/1", title="1")
        session.add(post)
        session.flush()
        session.add(Delivery(account_id=b.pk(row), post_id=b.pk(post), text="t", due_at=NOW))
        return b.pk(row)


def stored(account_id: int) -> tuple[Account, dict[str, object]]:
    with read_scope() as session:
        row = session.get(Account, account_id)
        assert row is not None
        session.expunge(row)
    assert row.credentials is not None
    return row, vault().open(row.credentials)


def mails() -> list[Mail]:
    with read_scope() as session:
        found = list(session.exec(select(Mail).where(col(Mail.kind) == KIND)).all())
        session.expunge_all()
    return found


def test_a_sign_in_near_its_end_is_renewed_and_its_new_end_kept() -> None:
    account_id = account(timedelta(days=3))
    renewer = StandIn()
    assert renew_account(account_id, now=NOW, config=config(renewer), vault=vault()) == (
        Renewal.RENEWED
    )
    row, creds = stored(account_id)
    assert creds["access_token"] == "new"
    assert row.token_expires_at is not None
    assert row.token_expires_at.replace(tzinfo=UTC) == NOW + timedelta(days=60)
    assert row.connection_note == ""
    # No longer due: the next pass leaves it alone.
    assert renew_account(account_id, now=NOW, config=config(renewer), vault=vault()) is None
    assert renewer.calls == [account_id]


def test_only_connected_accounts_of_renewing_networks_near_their_end_are_due() -> None:
    soon = account(timedelta(days=9))
    later = account(timedelta(days=11), network=Network.THREADS)
    x = account(timedelta(hours=1), network=Network.X)  # X renews as it posts
    with read_scope() as session:
        assert renewals_due(session, now=NOW, ahead=AHEAD) == [soon]
        assert renewals_due(session, now=NOW + timedelta(days=2), ahead=AHEAD) == [soon, later]
    assert renew_account(x, now=NOW, config=config(StandIn()), vault=vault()) is None


def test_a_sign_in_that_cannot_be_renewed_is_told_once_within_five_days() -> None:
    account_id = account(timedelta(days=7))
    refusing = StandIn(NeedsReconnect("LinkedIn does not let this app renew sign-ins"))
    # A week ahead: too early to say.
    assert renew_account(account_id, now=NOW, config=config(refusing), vault=vault()) == (
        Renewal.NOT_YET
    )
    assert mails() == []
    later = NOW + timedelta(days=3)  # four days left
    for _ in range(2):  # a second pass (or a second worker) sends nothing more
        assert renew_account(account_id, now=later, config=config(refusing), vault=vault()) == (
            Renewal.WARNED
        )
    [mail] = mails()
    assert mail.subject == "Reconnect your LinkedIn account within 4 days"
    assert "LinkedIn does not let this app renew sign-ins" in mail.text
    assert "https://tribe.example/accounts" in mail.text
    row, _creds = stored(account_id)
    assert row.connection == Connection.CONNECTED  # it still posts until the end
    assert "reconnect within 4 days" in row.connection_note


def test_a_sign_in_that_ran_out_unrenewed_holds_the_queue_until_reconnected() -> None:
    account_id = account(timedelta(days=1))
    refusing = StandIn(NeedsReconnect("Threads refused to renew the token"))
    after = NOW + timedelta(days=1, minutes=1)
    assert renew_account(account_id, now=after, config=config(refusing), vault=vault()) == (
        Renewal.HELD
    )
    row, _creds = stored(account_id)
    assert row.connection == Connection.NEEDS_RECONNECT
    assert "ran out" in row.connection_note
    with read_scope() as session:
        states = {d.state for d in session.exec(select(Delivery)).all()}
    assert states == {DeliveryState.HELD}


def test_a_network_that_cannot_be_asked_now_is_asked_again_next_pass() -> None:
    account_id = account(timedelta(days=2))
    flaky = StandIn(Transient("could not reach LinkedIn: connection refused"))
    assert renew_account(account_id, now=NOW, config=config(flaky), vault=vault()) == (
        Renewal.AGAIN
    )
    row, creds = stored(account_id)
    assert creds["access_token"] == "old"
    assert row.connection == Connection.CONNECTED
    assert mails() == []
    with read_scope() as session:
        assert renewals_due(session, now=NOW, ahead=AHEAD) == [account_id]
