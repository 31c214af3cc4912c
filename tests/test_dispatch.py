"""The delivery state machine: claim, call, record, and every way a call can end.

A scripted publisher stands in for the networks here (the adapters have their own
tests against local servers); the database is the real one of the run's backend.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlmodel import col, select

from tests import builders as b
from tests.conftest import TEST_SECRET_KEY
from tribe.core.kinds import Connection, DeliveryState, Network, ReshareKind
from tribe.core.outcomes import (
    AccountContext,
    NeedsReconnect,
    Publication,
    Publisher,
    PublishError,
    RateLimited,
    Rejected,
    Sent,
    Transient,
    Unknown,
)
from tribe.delivery.calls import credential_updater
from tribe.delivery.claims import Claim
from tribe.delivery.dispatch import PublishConfig, begin, claim_due, run_claims
from tribe.infra.db import session_scope
from tribe.infra.models import Account, Delivery, Post
from tribe.infra.vault import Vault
from tribe.members.accounts import add_account
from tribe.members.people import get_member
from tribe.networks.dryrun import DryRunPublisher

pytestmark = pytest.mark.usefixtures("db")

CONFIG = PublishConfig(
    dry_run=False,
    timeout=1.0,
    lease=timedelta(minutes=2),
    max_attempts=3,
    retry_base=timedelta(minutes=1),
    batch=50,
    x_daily_per_account=100,
    x_daily_per_app=1000,
)
VAULT = Vault([TEST_SECRET_KEY])


@dataclass
class Script:
    """A publisher that answers from a list (or a function), and remembers every call."""

    idempotent: bool = True
    answers: list[Sent | PublishError] = field(default_factory=list)
    found: list[Sent | PublishError | None] = field(default_factory=list)
    calls: list[Publication] = field(default_factory=list)
    contexts: list[AccountContext] = field(default_factory=list)

    def publish(self, account: AccountContext, item: Publication) -> Sent:
        self.calls.append(item)
        self.contexts.append(account)
        answer = self.answers.pop(0) if self.answers else Sent(f"r{item.delivery_id}", "u")
        if isinstance(answer, PublishError):
            raise answer
        return answer

    def find(self, account: AccountContext, item: Publication) -> Sent | None:
        answer = self.found.pop(0)
        if isinstance(answer, PublishError):
            raise answer
        return answer


def publishers(script: Script) -> Callable[[Network], Publisher]:
    return lambda network: script


_counter = itertools.count(1)


def make_delivery(
    network: str = "mastodon",
    handle: str = "@bob@mastodon.social",
    *,
    due: datetime | None = None,
    connected: bool = True,
    email: str | None = None,
    kind: ReshareKind = ReshareKind.POST,
    post_id: int | None = None,
) -> int:
    with session_scope() as s:
        n = next(_counter)
        if email is None:
            author = b.member(s, f"Author{n}")
            feed = b.feed(s, author, f"https://a{n}.blog/feed")
            email = b.member(s, f"Reader{n}").email
        if post_id is None:
            feed_id = s.exec(select(col(Post.feed_id))).first() or b.pk(feed)
            post = Post(feed_id=feed_id, entry_key=f"k{n}", url="https://a.blog/1", title="T")
            s.add(post)
            s.flush()
            post_id = b.pk(post)
        info = add_account(s, member=get_member(s, email), network=network, handle=handle)
        account = s.get(Account, info.id)
        assert account is not None
        if connected:
            account.connection = Connection.CONNECTED
            account.credentials = VAULT.seal({"access_token": "tok"})
        delivery = Delivery(
            account_id=b.pk(info),
            post_id=post_id,
            text="Read this https://a.blog/1",
            due_at=due or datetime.now(UTC) - timedelta(seconds=1),
            kind=kind,
        )
        s.add(delivery)
        s.flush()
        assert delivery.id is not None
        return delivery.id


def dispatch(script: Script, now: datetime | None = None) -> list[DeliveryState]:
    with session_scope() as s:
        claims = claim_due(s, now=now or datetime.now(UTC), config=CONFIG)
    return run_claims(claims, publishers=publishers(script), config=CONFIG, vault=VAULT)


def load(delivery_id: int) -> Delivery:
    with session_scope() as s:
        delivery = s.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery


def account_of(delivery_id: int) -> Account:
    account_id = load(delivery_id).account_id
    with session_scope() as s:
        account = s.get(Account, account_id)
        assert account is not None
        return account


def test_a_due_delivery_is_sent_once_with_its_key_and_credentials() -> None:
    delivery_id = make_delivery()
    not_due = make_delivery(
        handle="@carol@mastodon.social", due=datetime.now(UTC) + timedelta(hours=1)
    )
    script = Script()
    assert dispatch(script) == [DeliveryState.SENT]
    assert dispatch(script) == []  # nothing is sent twice
    sent = load(delivery_id)
    assert (sent.state, sent.remote_id, sent.attempts) == (DeliveryState.SENT, f"r{delivery_id}", 1)
    assert sent.sent_at is not None
    assert sent.lease_token is None
    assert [c.key for c in script.calls] == [sent.key]
    assert script.contexts[0].credentials == {"access_token": "tok"}
    assert load(not_due).state == DeliveryState.QUEUED


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://m.social/@bob/1", "https://m.social/@bob/1"),
        ("javascript:alert(document.domain)//", None),
        ("https://m.social/" + "x" * 600, None),  # longer than the column
        ("//evil.example/x", None),
        ("", None),
    ],
)
def test_a_reshares_address_is_kept_only_as_a_web_link(given: str, kept: str | None) -> None:
    """Another member's server says where the reshare lives; members see it as a link."""
    delivery_id = make_delivery()
    assert dispatch(Script(answers=[Sent("r1", given)])) == [DeliveryState.SENT]
    assert load(delivery_id).remote_url == kept


def test_unconnected_paused_and_rate_limited_accounts_are_skipped() -> None:
    unconnected = make_delivery(connected=False)
    paused = make_delivery(handle="@carol@mastodon.social")
    limited = make_delivery(handle="@dave@mastodon.social")
    paused_account, limited_account = load(paused).account_id, load(limited).account_id
    with session_scope() as s:
        s.get_one(Account, paused_account).paused = True
        s.get_one(Account, limited_account).rate_limited_until = datetime.now(UTC) + timedelta(
            minutes=5
        )
    assert dispatch(Script()) == []
    assert dispatch(Script(), now=datetime.now(UTC) + timedelta(minutes=6)) == [DeliveryState.SENT]
    assert load(limited).state == DeliveryState.SENT
    assert load(unconnected).state == load(paused).state == DeliveryState.QUEUED


def test_dry_run_sends_for_unconnected_accounts_too() -> None:
    delivery_id = make_delivery(connected=False)
    dry = PublishConfig(**{**CONFIG.__dict__, "dry_run": True})
    with session_scope() as s:
        claims = claim_due(s, now=datetime.now(UTC), config=dry)
    assert [c.delivery_id for c in claims] == [delivery_id]


def test_a_transient_error_retries_with_backoff_then_fails_with_the_reason() -> None:
    delivery_id = make_delivery()
    script = Script(answers=[Transient("mastodon.social is unreachable")] * 3)
    assert dispatch(script) == [DeliveryState.QUEUED]
    first = load(delivery_id)
    wait = first.due_at - datetime.now(UTC)
    assert timedelta(seconds=25) < wait < timedelta(seconds=95)  # 1 min x [0.5, 1.5)
    assert "mastodon.social is unreachable" in first.reason
    assert dispatch(script, now=first.due_at) == [DeliveryState.QUEUED]
    second = load(delivery_id)
    wait = second.due_at - datetime.now(UTC)
    assert timedelta(seconds=55) < wait < timedelta(seconds=185)  # 2 min x [0.5, 1.5)
    assert dispatch(script, now=second.due_at) == [DeliveryState.FAILED]
    failed = load(delivery_id)
    assert failed.attempts == 3
    assert failed.reason.startswith("gave up after 3 tries: mastodon.social is unreachable")
    assert len({c.key for c in script.calls}) == 1  # every try used the same key


def test_an_unknown_outcome_is_retried_where_the_network_is_idempotent() -> None:
    delivery_id = make_delivery()
    script = Script(idempotent=True, answers=[Unknown("timed out"), Sent("s1", "u1")])
    assert dispatch(script) == [DeliveryState.QUEUED]
    assert dispatch(script, now=load(delivery_id).due_at) == [DeliveryState.SENT]
    assert script.calls[0].key == script.calls[1].key
    assert script.calls[0].created_at == script.calls[1].created_at


def test_an_unknown_outcome_on_x_is_looked_for_and_found() -> None:
    delivery_id = make_delivery("x", "@bob", kind=ReshareKind.POST)
    script = Script(
        idempotent=False, answers=[Unknown("X answered 503")], found=[Sent("t1", "x/1")]
    )
    assert dispatch(script) == [DeliveryState.UNCONFIRMED]
    check_at = load(delivery_id).lease_until
    assert check_at is not None
    assert dispatch(script, now=check_at) == [DeliveryState.SENT]
    assert load(delivery_id).remote_id == "t1"
    assert len(script.calls) == 1  # found, so never sent again


def test_an_unconfirmed_post_provably_absent_is_sent_again() -> None:
    delivery_id = make_delivery("x", "@bob")
    script = Script(idempotent=False, answers=[Unknown("503"), Sent("t2", "x/2")], found=[None])
    dispatch(script)
    assert dispatch(script, now=load(delivery_id).lease_until) == [DeliveryState.QUEUED]
    assert dispatch(script, now=load(delivery_id).due_at) == [DeliveryState.SENT]
    assert len(script.calls) == 2


def test_when_x_cannot_tell_the_member_is_asked() -> None:
    delivery_id = make_delivery("x", "@bob")
    script = Script(
        idempotent=False, answers=[Unknown("503")], found=[Unknown("timeline down")] * 5
    )
    dispatch(script)
    for _ in range(5):
        check_at = load(delivery_id).lease_until
        if check_at is None:
            break
        dispatch(script, now=check_at)
    left = load(delivery_id)
    assert left.state == DeliveryState.UNCONFIRMED
    assert left.lease_until is None  # no more automatic checks
    assert "History page, or tribe queue confirm / retry" in left.reason
    assert len(script.calls) == 1


def test_a_rate_limit_waits_until_the_reset_without_counting_a_try() -> None:
    delivery_id = make_delivery()
    reset = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=7)
    script = Script(answers=[RateLimited("429 from mastodon.social", reset)])
    assert dispatch(script) == [DeliveryState.QUEUED]
    delivery, account = load(delivery_id), account_of(delivery_id)
    assert delivery.due_at == reset
    assert account.rate_limited_until == reset
    assert delivery.attempts == 0
    assert dispatch(script, now=reset - timedelta(seconds=1)) == []
    assert dispatch(script, now=reset) == [DeliveryState.SENT]


def test_refused_credentials_hold_the_account_and_its_queue() -> None:
    first = make_delivery()
    account_id = load(first).account_id
    with session_scope() as s:
        feed_id = s.exec(select(col(Post.feed_id))).one()
        post = Post(feed_id=feed_id, entry_key="later", url="https://a.blog/2", title="Later")
        s.add(post)
        s.flush()
        later = Delivery(
            account_id=account_id,
            post_id=b.pk(post),
            text="later",
            due_at=datetime.now(UTC) + timedelta(days=1),
        )
        s.add(later)
        s.flush()
        later_id = b.pk(later)
    script = Script(answers=[NeedsReconnect("The access token was revoked")])
    assert dispatch(script) == [DeliveryState.HELD]
    account = account_of(first)
    assert account.connection == Connection.NEEDS_RECONNECT
    assert "revoked" in account.connection_note
    assert "reconnect" in load(first).reason
    assert load(later_id).state == DeliveryState.HELD
    assert dispatch(script, now=datetime.now(UTC) + timedelta(days=2)) == []


def test_a_rejected_post_fails_at_once_with_the_networks_words() -> None:
    delivery_id = make_delivery("x", "@bob")
    script = Script(idempotent=False, answers=[Rejected("X refused it as a duplicate")])
    assert dispatch(script) == [DeliveryState.FAILED]
    assert load(delivery_id).reason == "X refused it as a duplicate"
    assert dispatch(script, now=datetime.now(UTC) + timedelta(days=1)) == []


def test_a_lost_message_is_claimed_again_after_its_lease() -> None:
    delivery_id = make_delivery()
    with session_scope() as s:
        lost = claim_due(s, now=datetime.now(UTC), config=CONFIG)
    assert [c.delivery_id for c in lost] == [delivery_id]
    assert dispatch(Script()) == []  # leased: nobody else takes it
    script = Script()
    assert dispatch(script, now=datetime.now(UTC) + CONFIG.lease) == [DeliveryState.SENT]
    # The lost message turns up late: its token is spent, nothing is sent twice.
    assert begin(lost[0], now=datetime.now(UTC), config=CONFIG, vault=VAULT) is None
    assert len(script.calls) == 1


@pytest.mark.parametrize(
    ("network", "handle", "after", "reconcile"),
    [
        # Mastodon dedupes by Idempotency-Key: sent again, with the same key.
        ("mastodon", "@bob@mastodon.social", DeliveryState.SENDING, False),
        # X has no key: looked for on the account first.
        ("x", "@bob", DeliveryState.UNCONFIRMED, True),
    ],
)
def test_a_worker_dying_mid_call_never_means_a_blind_resend(
    network: str, handle: str, after: DeliveryState, reconcile: bool
) -> None:
    delivery_id = make_delivery(network, handle)
    with session_scope() as s:
        (claim,) = claim_due(s, now=datetime.now(UTC), config=CONFIG)
    assert begin(claim, now=datetime.now(UTC), config=CONFIG, vault=VAULT) is not None
    # ... and the process dies here, before recording anything.
    with session_scope() as s:
        (again,) = claim_due(s, now=datetime.now(UTC) + CONFIG.lease, config=CONFIG)
    assert (again.delivery_id, again.reconcile) == (delivery_id, reconcile)
    assert again.token != claim.token
    assert load(delivery_id).state == after


def test_two_dispatchers_never_claim_one_delivery_twice() -> None:
    ids = [make_delivery(handle=f"@u{i}@mastodon.social") for i in range(30)]
    claimed: list[Claim] = []
    lock = threading.Lock()

    def claimer() -> None:
        for _ in range(5):
            with session_scope() as s:
                got = claim_due(
                    s,
                    now=datetime.now(UTC),
                    config=PublishConfig(**{**CONFIG.__dict__, "batch": 4}),
                )
            with lock:
                claimed.extend(got)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed_ids = [c.delivery_id for c in claimed]
    assert sorted(claimed_ids) == sorted(set(claimed_ids))
    assert set(claimed_ids) <= set(ids)
    assert len(claimed_ids) == 30


def test_x_daily_limits_per_app_hold_within_one_claim_and_across_claims() -> None:
    for i in range(3):
        make_delivery("x", f"@u{i}")
    tight = PublishConfig(**{**CONFIG.__dict__, "x_daily_per_app": 2})
    with session_scope() as s:
        claims = claim_due(s, now=datetime.now(UTC), config=tight)
    assert len(claims) == 2  # the app's budget, even inside one claim
    run_claims(claims, publishers=publishers(Script()), config=tight, vault=VAULT)
    with session_scope() as s:
        assert claim_due(s, now=datetime.now(UTC), config=tight) == []
    # Mastodon has no app-wide limit.
    make_delivery("mastodon", "@z@mastodon.social")
    with session_scope() as s:
        assert len(claim_due(s, now=datetime.now(UTC), config=tight)) == 1


def test_x_daily_limits_per_account_count_what_is_on_its_way() -> None:
    first = make_delivery("x", "@bob")
    account_id, post_feed = load(first).account_id, None
    with session_scope() as s:
        post_feed = s.exec(select(col(Post.feed_id)).limit(1)).one()
        for n in range(3):
            post = Post(
                feed_id=post_feed, entry_key=f"more{n}", url=f"https://a.blog/m{n}", title="M"
            )
            s.add(post)
            s.flush()
            s.add(
                Delivery(
                    account_id=account_id,
                    post_id=b.pk(post),
                    text=f"more {n}",
                    due_at=datetime.now(UTC) - timedelta(seconds=1),
                )
            )
    tight = PublishConfig(**{**CONFIG.__dict__, "x_daily_per_account": 3})
    with session_scope() as s:
        assert len(claim_due(s, now=datetime.now(UTC), config=tight)) == 3
    with session_scope() as s:  # three are on their way: no room for the fourth
        assert claim_due(s, now=datetime.now(UTC), config=tight) == []


def test_a_repost_points_at_the_authors_own_post_or_falls_back_to_text() -> None:
    with session_scope() as s:
        alice = b.member(s, "Alice")
        bob = b.member(s, "Bob")
        carol = b.member(s, "Carol")
        feed = b.feed(s, alice, "https://alice.blog/feed")
        post = Post(feed_id=b.pk(feed), entry_key="k", url="https://alice.blog/1", title="T")
        s.add(post)
        s.flush()
        ids = (alice.email, bob.email, carol.email, post.id)
    alice_email, bob_email, carol_email, post_id = ids
    soon = datetime.now(UTC) - timedelta(seconds=1)
    announce = make_delivery(
        "x",
        "@alice",
        email=alice_email,
        post_id=post_id,
        kind=ReshareKind.ANNOUNCE,
        due=soon + timedelta(hours=1),
    )
    repost = make_delivery("x", "@bob", email=bob_email, post_id=post_id, kind=ReshareKind.REPOST)
    script = Script(idempotent=False)
    # The author's post is still queued: the repost waits for it.
    assert dispatch(script) == []
    assert load(repost).state == DeliveryState.QUEUED
    assert "waiting for the author's own post" in load(repost).reason
    # ... at a time its schedule allows, after the author's post and the stagger.
    assert load(repost).due_at >= load(announce).due_at + CONFIG.placement.stagger
    dispatch(script, now=load(announce).due_at)  # the announcement goes out
    assert load(announce).state == DeliveryState.SENT
    dispatch(script, now=load(repost).due_at)
    assert load(repost).state == DeliveryState.SENT
    assert script.calls[-1].kind == ReshareKind.REPOST
    assert script.calls[-1].target_id == load(announce).remote_id
    # No own post of the author on Mastodon: a repost there becomes a post in own words.
    fallback = make_delivery(
        "mastodon", "@carol@m.social", email=carol_email, post_id=post_id, kind=ReshareKind.REPOST
    )
    dispatch(script, now=datetime.now(UTC) + timedelta(hours=3))
    assert load(fallback).kind == ReshareKind.POST
    (last,) = script.calls[-1:]
    assert last.kind == ReshareKind.POST


def test_refreshed_credentials_are_saved_encrypted_under_a_lock() -> None:
    delivery_id = make_delivery()
    account_id = load(delivery_id).account_id
    refresh = credential_updater(VAULT, account_id, policy=CONFIG.policy, timeout=CONFIG.timeout)
    calls = []

    def update(current: dict[str, str]) -> dict[str, str] | None:
        calls.append(current)
        if current.get("access_token") == "fresh":
            return None  # somebody else refreshed already
        return {"access_token": "fresh"}

    threads = [threading.Thread(target=refresh, args=(update,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = account_of(delivery_id).credentials
    assert stored is not None
    assert "fresh" not in stored  # encrypted at rest
    assert VAULT.open(stored) == {"access_token": "fresh"}
    assert [c["access_token"] for c in calls].count("tok") == 1  # refreshed once


def test_a_delivery_whose_calls_keep_killing_workers_is_left_for_the_member() -> None:
    delivery_id = make_delivery()
    now = datetime.now(UTC)
    for n in range(CONFIG.max_attempts):
        with session_scope() as s:
            (claim,) = claim_due(s, now=now + n * CONFIG.lease, config=CONFIG)
        assert begin(claim, now=now + n * CONFIG.lease, config=CONFIG, vault=VAULT) is not None
        # ... the worker dies during the call, every time.
    with session_scope() as s:
        assert claim_due(s, now=now + CONFIG.max_attempts * CONFIG.lease, config=CONFIG) == []
    left = load(delivery_id)
    assert (left.state, left.lease_until) == (DeliveryState.UNCONFIRMED, None)
    assert "History page, or tribe queue confirm / retry" in left.reason


def test_a_late_task_renews_its_lease_when_the_call_starts() -> None:
    delivery_id = make_delivery("x", "@bob")
    t0 = datetime.now(UTC)
    with session_scope() as s:
        (claim,) = claim_due(s, now=t0, config=CONFIG)
    # The task waited in the broker almost the whole lease, then starts its call ...
    assert begin(claim, now=t0 + CONFIG.lease - timedelta(seconds=1), config=CONFIG, vault=VAULT)
    # ... which is still running just after the first lease would have ended.
    with session_scope() as s:
        assert claim_due(s, now=t0 + CONFIG.lease + timedelta(seconds=5), config=CONFIG) == []
    assert load(delivery_id).state == DeliveryState.SENDING


def test_a_dry_run_logs_and_leaves_no_remote_id_for_reposts_to_point_at() -> None:
    delivery_id = make_delivery(connected=False)
    dry = PublishConfig(**{**CONFIG.__dict__, "dry_run": True})
    with session_scope() as s:
        claims = claim_due(s, now=datetime.now(UTC), config=dry)
    run_claims(
        claims, publishers=lambda network: DryRunPublisher(network.value), config=dry, vault=None
    )
    logged = load(delivery_id)
    assert (logged.state, logged.remote_id) == (DeliveryState.SENT, None)
    assert logged.reason == "dry run: logged, not sent"
    assert logged.dry_run


def test_credentials_that_cannot_be_decrypted_hold_the_delivery_with_the_reason() -> None:
    delivery_id = make_delivery()
    other_vault = Vault([Fernet.generate_key().decode()])
    with session_scope() as s:
        claims = claim_due(s, now=datetime.now(UTC), config=CONFIG)
    assert run_claims(
        claims, publishers=publishers(Script()), config=CONFIG, vault=other_vault
    ) == [DeliveryState.HELD]
    held = load(delivery_id)
    assert "cannot be decrypted" in held.reason
    assert held.lease_token is None
    with session_scope() as s:  # not claimed again and again
        assert claim_due(s, now=datetime.now(UTC) + timedelta(hours=1), config=CONFIG) == []


def test_an_old_mastodon_key_is_not_trusted_to_deduplicate() -> None:
    delivery_id = make_delivery()
    with session_scope() as s:
        s.get_one(Delivery, delivery_id).first_started_at = datetime.now(UTC) - timedelta(hours=2)
    script = Script(idempotent=True, answers=[Unknown("timed out")], found=[Sent("s9", "u9")])
    assert dispatch(script) == [DeliveryState.UNCONFIRMED]  # looked for, not blindly resent
    assert dispatch(script, now=load(delivery_id).lease_until) == [DeliveryState.SENT]
    assert len(script.calls) == 1


def test_a_rate_limit_moves_what_fell_due_meanwhile_past_the_reset() -> None:
    first = make_delivery()
    account_id = load(first).account_id
    with session_scope() as s:
        feed_id = s.exec(select(col(Post.feed_id)).limit(1)).one()
        post = Post(feed_id=feed_id, entry_key="second", url="https://a.blog/2", title="2")
        s.add(post)
        s.flush()
        second = Delivery(
            account_id=account_id,
            post_id=b.pk(post),
            text="two",
            due_at=datetime.now(UTC) + timedelta(minutes=5),
        )
        s.add(second)
        s.flush()
        second_id = b.pk(second)
    reset = datetime.now(UTC) + timedelta(minutes=30)
    dispatch(Script(answers=[RateLimited("429", reset)]))
    assert load(second_id).due_at > reset


def test_a_session_that_moves_to_an_internal_server_is_not_stored() -> None:
    delivery_id = make_delivery("bluesky", "bob.bsky.social")
    refresh = credential_updater(
        VAULT, load(delivery_id).account_id, policy=CONFIG.policy, timeout=CONFIG.timeout
    )

    def moved(current: dict[str, str]) -> dict[str, str]:
        return {**current, "access_token": "new", "pds_url": "http://169.254.169.254"}

    with pytest.raises(NeedsReconnect, match=r"moved to http://169\.254\.169\.254"):
        refresh(moved)
    stored = account_of(delivery_id).credentials
    assert stored is not None
    assert VAULT.open(stored) == {"access_token": "tok"}  # nothing of the move was kept
