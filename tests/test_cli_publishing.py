"""Keys, account sharing options, disconnecting, and the unconfirmed/failed queue commands."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlmodel import select

from config import get_settings
from tests import builders as b
from tests.cli import fails, ok
from tests.conftest import TEST_SECRET_KEY
from tribe.core.kinds import Connection, DeliveryState, Network
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Delivery, Post
from tribe.infra.vault import Vault
from workers.run import start_notices

pytestmark = pytest.mark.usefixtures("db")


def connected_account_with(state: DeliveryState) -> tuple[int, int]:
    """bob's connected Mastodon account with one delivery in `state`; (account, delivery)."""
    with session_scope() as s:
        alice, bob = b.member(s, "Alice"), b.member(s, "Bob")
        feed = b.feed(s, alice, "https://alice.blog/feed")
        post = Post(feed_id=b.pk(feed), entry_key="k", url="https://alice.blog/1", title="Tomatoes")
        account = Account(
            member_id=b.pk(bob),
            network=Network.MASTODON,
            handle="bob@mastodon.social",
            connection=Connection.CONNECTED,
            credentials=Vault([TEST_SECRET_KEY]).seal({"access_token": "t"}),
        )
        s.add_all([post, account])
        s.flush()
        delivery = Delivery(
            account_id=b.pk(account),
            post_id=b.pk(post),
            text="Tomatoes https://alice.blog/1",
            due_at=datetime.now(UTC) - timedelta(hours=1),
            state=state,
        )
        s.add(delivery)
        s.flush()
        return b.pk(account), b.pk(delivery)


def state_of(delivery_id: int) -> Delivery:
    with session_scope() as s:
        delivery = s.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery


def test_keys_generate_prints_a_usable_key_and_rotate_reencrypts_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account_id, _ = connected_account_with(DeliveryState.QUEUED)
    new_key = ok("keys", "generate").strip()
    Fernet(new_key)  # a real key
    monkeypatch.setenv("TRIBE_SECRET_KEYS", f"{new_key},{TEST_SECRET_KEY}")
    get_settings.cache_clear()
    assert "re-encrypted 1 secret(s)" in ok("keys", "rotate")
    with session_scope() as s:
        token = s.exec(select(Account.credentials).where(Account.id == account_id)).one()
    assert token is not None
    assert Vault([new_key]).open(token) == {"access_token": "t"}  # the old key is no longer needed


def test_a_missing_or_placeholder_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBE_SECRET_KEYS", "change-me")
    get_settings.cache_clear()
    assert "placeholder or not a Fernet key" in fails("keys", "rotate")
    monkeypatch.setenv("TRIBE_SECRET_KEYS", "")
    monkeypatch.setenv("TRIBE_DATABASE_URL", "postgresql://nowhere/tribe")  # not `make run`
    get_settings.cache_clear()
    assert "TRIBE_SECRET_KEYS is not set" in fails("keys", "rotate")


def test_the_worker_refuses_to_start_with_a_placeholder_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIBE_SECRET_KEYS", "change-me")
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool", "solo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "TRIBE_SECRET_KEYS key #1 is a placeholder" in result.stdout + result.stderr


def test_make_run_without_keys_uses_its_local_key_in_dry_run_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIBE_SECRET_KEYS", "")
    monkeypatch.setenv("TRIBE_DATABASE_URL", "sqlite:///data/tribe.db")  # what `make run` uses
    get_settings.cache_clear()
    notices = " ".join(start_notices(get_settings()))
    assert "using the local key in" in notices
    assert "dry run" in notices
    assert (get_settings().TRIBE_DATA_DIR / "secret.key").exists()  # made before the children
    monkeypatch.setenv("TRIBE_SECRET_KEYS", TEST_SECRET_KEY)
    get_settings.cache_clear()
    assert start_notices(get_settings()) == []


def test_account_list_shows_state_and_what_to_do() -> None:
    ok("member", "add", "bob@example.com", "--name", "Bob")
    ok("account", "add", "bob@example.com", "x", "@bob")
    (listed,) = json.loads(ok("account", "list", "bob@example.com", "--json"))
    assert (listed["state"], listed["reshare"]) == ("unconnected", "repost")
    assert "tribe account connect" in listed["note"]
    out = ok("account", "set", "bob@example.com", "1", "--reshare", "post", "--announce")
    assert "reshares by post + announce" in out
    assert "say what to change" in fails("account", "set", "bob@example.com", "1")
    assert "no account #9" in fails("account", "set", "bob@example.com", "9", "--announce")


def test_disconnecting_holds_the_queue() -> None:
    account_id, delivery_id = connected_account_with(DeliveryState.QUEUED)
    ok("account", "disconnect", "bob@example.com", str(account_id))
    assert state_of(delivery_id).state == DeliveryState.HELD
    (listed,) = json.loads(ok("account", "list", "bob@example.com", "--json"))
    assert listed["state"] == "unconnected"
    assert "connect it first" in fails("queue", "retry", "bob@example.com", str(delivery_id))


def test_an_unconfirmed_delivery_is_confirmed_or_retried_by_the_member() -> None:
    _, delivery_id = connected_account_with(DeliveryState.UNCONFIRMED)
    assert "only unconfirmed" not in ok("queue", "confirm", "bob@example.com", str(delivery_id))
    assert state_of(delivery_id).state == DeliveryState.SENT
    assert "only unconfirmed ones" in fails("queue", "confirm", "bob@example.com", str(delivery_id))


def test_a_failed_delivery_is_retried_at_the_next_free_time() -> None:
    _, delivery_id = connected_account_with(DeliveryState.FAILED)
    out = ok("queue", "retry", "bob@example.com", str(delivery_id))
    assert "queued again for" in out
    retried = state_of(delivery_id)
    assert retried.state == DeliveryState.QUEUED
    assert retried.due_at > datetime.now(UTC)
    assert retried.attempts == 0
    assert "only failed, held or unconfirmed" in fails(
        "queue", "retry", "bob@example.com", str(delivery_id)
    )


def test_the_member_is_told_about_accounts_to_reconnect_and_posts_to_settle() -> None:
    account_id, delivery_id = connected_account_with(DeliveryState.UNCONFIRMED)
    with session_scope() as s:
        account = s.get(Account, account_id)
        assert account is not None
        account.connection = Connection.NEEDS_RECONNECT
        account.connection_note = "The access token was revoked"
    out = ok("queue", "bob@example.com")
    assert "@bob@mastodon.social needs reconnecting (The access token was revoked)" in out
    assert f"could not tell whether #{delivery_id} went out" in out
    assert "needs reconnecting" in ok("stream", "bob@example.com")


def test_an_authors_own_new_post_is_queued_on_accounts_that_announce() -> None:
    from tribe.stream.approvals import ApprovalConfig, announce_own_posts

    with session_scope() as s:
        alice = b.member(s, "Alice")
        feed = b.feed(s, alice, "https://alice.blog/feed")
        quiet = Account(member_id=b.pk(alice), network=Network.MASTODON, handle="alice@m.social")
        loud = Account(member_id=b.pk(alice), network=Network.X, handle="alice", announce_own=True)
        post = Post(feed_id=b.pk(feed), entry_key="k", url="https://alice.blog/1", title="Tomatoes")
        s.add_all([quiet, loud, post])
        s.flush()
        assert (
            announce_own_posts(s, [b.pk(post)], now=datetime.now(UTC), config=ApprovalConfig()) == 1
        )
        (delivery,) = s.exec(select(Delivery)).all()
        assert (delivery.account_id, delivery.kind) == (loud.id, "announce")
        assert "https://alice.blog/1" in delivery.text
