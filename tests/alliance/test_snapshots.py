"""Reach snapshots: followers read through the real client libraries (tweepy, Mastodon.py,
atproto) from the fake networks, one row per account and UTC day."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import col, select

from config import get_settings
from tests import builders as b
from tests.fakenet.bluesky import FakeBluesky
from tests.fakenet.common import closed_port
from tests.fakenet.mastodon import FakeMastodon
from tests.fakenet.x import ACCESS_LEVEL, CLIENT_NOT_ENROLLED, FakeUser, FakeX
from tests.integration.cluster import cluster
from tribe.alliance.snapshots import (
    NOTE_LENGTH,
    ReachConfig,
    Reading,
    keep_reading,
    snapshot_account,
    snapshot_due,
)
from tribe.cli import main
from tribe.core.kinds import Connection, Network
from tribe.core.outcomes import AccountContext
from tribe.delivery.placing import PlacementConfig
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Account, Member, ReachSnapshot
from tribe.infra.vault import Vault, process_vault
from tribe.networks.base import Connected, Followers
from tribe.networks.connect import store_connection
from tribe.networks.dryrun import DRY_RUN_NOTE

pytestmark = pytest.mark.usefixtures("db")

# Readings are by day and their time is injected: a fixed morning, after every
# `connected_at` the real clock writes.
MORNING = datetime(2031, 5, 1, 9, 0, tzinfo=UTC)


@dataclass
class Fakes:
    x: FakeX
    mastodon: FakeMastodon
    bluesky: FakeBluesky


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    """The three fake networks, with tribe's X settings pointing at the fake X."""
    with FakeX() as x, FakeMastodon(domain="fake.social") as mastodon, FakeBluesky() as bluesky:
        for name, value in {
            "TRIBE_X_API_URL": x.base_url,
            "TRIBE_X_API_KEY": x.consumer_key,
            "TRIBE_X_API_SECRET": x.consumer_secret,
            "TRIBE_X_CLIENT_ID": x.client_id,
            "TRIBE_X_CLIENT_SECRET": x.client_secret or "",
            "TRIBE_PUBLISH_TIMEOUT": "3s",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield Fakes(x, mastodon, bluesky)


def vault() -> Vault:
    kept = process_vault()
    assert kept is not None
    return kept


def config() -> ReachConfig:
    return ReachConfig.from_settings(get_settings())


def connect(connected: Connected, email: str = "bob@example.com") -> int:
    """Store a connection the way `tribe account connect` and the Accounts page do."""
    with session_scope() as s:
        member = s.exec(select(Member).where(col(Member.email) == email)).first()
        member = member or b.member(s, email.partition("@")[0].title())
        info, _ = store_connection(
            s, member=member, connected=connected, vault=vault(),
            config=PlacementConfig.from_settings(get_settings()),
        )  # fmt: skip
        return info.id


def on_x(fake: FakeX, user: FakeUser) -> Connected:
    return Connected(Network.X, user.username, fake.issue_oauth2(user), remote_user_id=user.id)


def on_mastodon(fake: FakeMastodon, username: str) -> Connected:
    token = fake.token_for(username)
    return Connected(
        Network.MASTODON, f"{username}@fake.social", {"access_token": token},
        remote_user_id=fake.users[username].id, base_url=fake.base_url,
    )  # fmt: skip


def on_bluesky(fake: FakeBluesky, handle: str, *, pds: str | None = None) -> Connected:
    account = fake.add_account(handle)
    tokens = fake.session_for(account.did)
    server = pds or fake.base_url
    credentials = {
        "did": account.did, "handle": handle, "pds_url": server,
        "access_jwt": tokens["accessJwt"], "refresh_jwt": tokens["refreshJwt"],
    }  # fmt: skip
    return Connected(
        Network.BLUESKY, handle, credentials, remote_user_id=account.did, base_url=server
    )


def read(account_id: int, now: datetime = MORNING, cfg: ReachConfig | None = None) -> Reading:
    reading = snapshot_account(account_id, now=now, config=cfg or config(), vault=vault())
    assert reading is not None, "the account was not due a reading"
    return reading


def rows(account_id: int) -> list[tuple[date, int | None, str]]:
    with read_scope() as s:
        found = s.exec(
            select(ReachSnapshot)
            .where(col(ReachSnapshot.account_id) == account_id)
            .order_by(col(ReachSnapshot.day))
        ).all()
        return [(r.day, r.followers, r.note) for r in found]


def due(now: datetime = MORNING) -> list[int]:
    with read_scope() as s:
        return snapshot_due(s, now=now, limit=100)


def set_account(account_id: int, **fields: Any) -> None:
    with session_scope() as s:
        account = s.get(Account, account_id)
        assert account is not None
        for name, value in fields.items():
            setattr(account, name, value)


# Reading each network ---------------------------------------------------------------------


def test_each_network_gives_the_count_its_api_answers(fakes: Fakes) -> None:
    alice = fakes.x.add_user("alice")
    fakes.x.set_followers(alice, 1234)
    fakes.mastodon.set_followers("bob", 56)
    x = connect(on_x(fakes.x, alice))
    mastodon = connect(on_mastodon(fakes.mastodon, "bob"))
    bluesky_creds = on_bluesky(fakes.bluesky, "carol.example.org")
    fakes.bluesky.set_followers(str(bluesky_creds.remote_user_id), 789)
    bluesky = connect(bluesky_creds)

    readings = [read(x), read(mastodon), read(bluesky)]

    assert [(r.followers, r.kept) for r in readings] == [(1234, True), (56, True), (789, True)]
    assert rows(x) == [(MORNING.date(), 1234, "")]
    assert rows(mastodon) == [(MORNING.date(), 56, "")]
    assert rows(bluesky) == [(MORNING.date(), 789, "")]
    # The wire contracts: what each real library asked.
    (me,) = fakes.x.calls("GET", r"/2/users/me")
    assert me.query["user.fields"] == "public_metrics"
    assert fakes.mastodon.hits("/api/v1/accounts/verify_credentials") == 1
    (profile,) = fakes.bluesky.calls("GET", r"/xrpc/app\.bsky\.actor\.getProfile")
    assert profile.query["actor"] == bluesky_creds.remote_user_id
    assert profile.header("Authorization") is not None
    assert due() == []  # each read once today


@pytest.mark.parametrize("body", [CLIENT_NOT_ENROLLED, ACCESS_LEVEL], ids=["v2", "453"])
def test_x_below_the_access_level_is_unknown_in_x_words(fakes: Fakes, body: Any) -> None:
    alice = fakes.x.add_user("alice")
    fakes.x.set_followers(alice, 1234)  # X knows, but will not tell this app
    fakes.x.limit_access(body)
    x = connect(on_x(fakes.x, alice))

    reading = read(x)

    assert (reading.followers, reading.kept) == (None, True)
    assert reading.note.startswith("X does not give this app follower counts")
    said = (body.get("errors") or [body])[0].get("message") or body["detail"]
    assert said[:40] in reading.note
    ((day, followers, note),) = rows(x)
    assert (day, followers, note) == (MORNING.date(), None, reading.note)
    assert len(note) <= NOTE_LENGTH
    assert due() == []  # the same answer all day: not asked again
    with read_scope() as s:
        account = s.get(Account, x)
        assert account is not None
        assert account.connection == Connection.CONNECTED  # nothing to reconnect


def test_an_expired_sign_in_is_renewed_and_stored_as_for_a_post(fakes: Fakes) -> None:
    alice = fakes.x.add_user("alice")
    fakes.x.set_followers(alice, 7)
    connected = on_x(fakes.x, alice)
    x = connect(connected)
    fakes.x.expire(connected.credentials["access_token"])  # X answers 401 to it now
    carol = on_bluesky(fakes.bluesky, "carol.example.org")
    fakes.bluesky.set_followers(str(carol.remote_user_id), 8)
    bluesky = connect(carol)
    fakes.bluesky.expire_access(str(carol.remote_user_id))  # ExpiredToken now

    assert (read(x).followers, read(bluesky).followers) == (7, 8)

    assert (fakes.x.token_refreshes, fakes.bluesky.refresh_count) == (1, 1)
    with read_scope() as s:
        for account_id, old in ((x, connected), (bluesky, carol)):
            account = s.get(Account, account_id)
            assert account is not None
            assert account.credentials is not None
            assert vault().open(account.credentials) != old.credentials  # the new ones kept


def test_a_profile_without_a_count_or_a_refused_token_leaves_the_day_unknown(
    fakes: Fakes,
) -> None:
    carol = on_bluesky(fakes.bluesky, "carol.example.org")
    fakes.bluesky.set_followers(str(carol.remote_user_id), None)
    bluesky = connect(carol)
    connected = on_mastodon(fakes.mastodon, "bob")
    mastodon = connect(connected)
    fakes.mastodon.revoke(connected.credentials["access_token"])

    no_count, refused = read(bluesky), read(mastodon)

    assert (no_count.followers, no_count.kept) == (None, True)
    assert "no follower count" in no_count.note
    assert (refused.followers, refused.kept) == (None, True)
    assert "revoked" in refused.note
    assert rows(mastodon) == [(MORNING.date(), None, refused.note)]
    with read_scope() as s:
        account = s.get(Account, mastodon)
        assert account is not None
        # Publishing finds a refused sign-in and holds the queue; a reading changes nothing.
        assert account.connection == Connection.CONNECTED


def test_an_impossible_count_from_a_members_own_server_is_unknown(fakes: Fakes) -> None:
    """A Mastodon instance is whatever its owner makes it say: a count beyond any real
    account (and the column) is not stored as a count, and the reading does not fail."""
    fakes.mastodon.set_followers("bob", 2**63)
    account_id = connect(on_mastodon(fakes.mastodon, "bob"))
    impossible = read(account_id)
    assert impossible.followers is None
    assert "without the account's follower count" in impossible.note
    assert rows(account_id) == [(MORNING.date(), None, impossible.note)]


# One row per account and day ------------------------------------------------------------------


def test_a_second_reading_the_same_day_replaces_the_count_and_the_next_day_adds_one(
    fakes: Fakes,
) -> None:
    fakes.mastodon.set_followers("bob", 10)
    account_id = connect(on_mastodon(fakes.mastodon, "bob"))
    assert read(account_id).followers == 10
    fakes.mastodon.set_followers("bob", 12)
    assert account_id not in due(MORNING + timedelta(hours=5))

    set_account(account_id, connected_at=MORNING + timedelta(hours=1))  # connected again
    assert account_id in due(MORNING + timedelta(hours=2))
    assert read(account_id, MORNING + timedelta(hours=2)).followers == 12
    assert rows(account_id) == [(MORNING.date(), 12, "")]

    fakes.mastodon.set_followers("bob", 15)
    tomorrow = MORNING + timedelta(days=1)
    assert due(tomorrow) == [account_id]
    assert read(account_id, tomorrow).followers == 15
    assert rows(account_id) == [(MORNING.date(), 12, ""), (tomorrow.date(), 15, "")]


def test_an_unknown_never_replaces_a_count_read_the_same_day() -> None:
    with session_scope() as s:
        info = b.member(s, "Bob")
        account = Account(member_id=b.pk(info), network=Network.MASTODON, handle="bob@a.b")
        s.add(account)
        s.flush()
        account_id = b.pk(account)
    with session_scope() as s:
        keep_reading(s, account_id=account_id, followers=Followers(40), now=MORNING)
        keep_reading(
            s, account_id=account_id, followers=Followers(None, "refused"),
            now=MORNING + timedelta(hours=1),
        )  # fmt: skip
    assert rows(account_id) == [(MORNING.date(), 40, "")]
    with session_scope() as s:
        keep_reading(
            s, account_id=account_id, followers=Followers(None, "refused"),
            now=MORNING + timedelta(days=1),
        )  # fmt: skip
        keep_reading(
            s, account_id=account_id, followers=Followers(None, "still refused"),
            now=MORNING + timedelta(days=1, hours=1),
        )  # fmt: skip
        keep_reading(
            s, account_id=account_id, followers=Followers(41),
            now=MORNING + timedelta(days=1, hours=2),
        )  # fmt: skip
    assert rows(account_id) == [(MORNING.date(), 40, ""), (MORNING.date() + timedelta(1), 41, "")]


# Which accounts are read ---------------------------------------------------------------------


def test_only_active_connected_accounts_not_held_by_a_rate_limit_are_due(fakes: Fakes) -> None:
    ids = {
        name: connect(on_mastodon(fakes.mastodon, name), f"{name}@example.com")
        for name in ("ready", "limited", "lifted", "off", "signed_out", "read")
    }
    set_account(ids["limited"], rate_limited_until=MORNING + timedelta(minutes=5))
    set_account(ids["lifted"], rate_limited_until=MORNING - timedelta(minutes=5))
    set_account(ids["off"], active=False)
    set_account(ids["signed_out"], connection=Connection.NEEDS_RECONNECT)
    read(ids["read"])

    assert sorted(due()) == sorted([ids["ready"], ids["lifted"]])
    assert ids["limited"] in due(MORNING + timedelta(minutes=6))  # later, once it lifts
    with read_scope() as s, pytest.raises(ValueError, match="limit"):
        snapshot_due(s, now=MORNING, limit=0)
    assert snapshot_account(ids["off"], now=MORNING, config=config(), vault=vault()) is None


def test_connecting_reads_the_account_at_once(fakes: Fakes) -> None:
    fakes.bluesky.add_account("dora.example.org", "abcd-efgh-ijkl-mnop")
    did = next(iter(fakes.bluesky.accounts))
    fakes.bluesky.set_followers(did, 321)
    with session_scope() as s:
        b.member(s, "Dora")

    result = CliRunner().invoke(
        main,
        ["account", "connect", "dora@example.com", "bluesky", "--handle", "dora.example.org",
         "--pds", fakes.bluesky.base_url],
        input="abcd-efgh-ijkl-mnop\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "followers: 321" in result.output
    with read_scope() as s:
        assert s.exec(select(col(ReachSnapshot.followers))).all() == [321]


def test_connecting_again_makes_the_account_due_again_the_same_day(fakes: Fakes) -> None:
    connected = on_mastodon(fakes.mastodon, "bob")
    account_id = connect(connected)
    now = datetime.now(UTC)
    assert due(now) == [account_id]  # connecting is what first makes it due
    read(account_id, now)
    assert due(now) == []
    connect(connected)  # the member connects it again later
    assert due(datetime.now(UTC)) == [account_id]


# Failures ---------------------------------------------------------------------------------


class Broken:
    """A counter whose network answered something no adapter foresaw."""

    def followers(self, account: AccountContext) -> Followers:
        raise RuntimeError("an answer nobody foresaw")


def test_an_account_failing_does_not_stop_the_others(
    fakes: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    fakes.mastodon.set_followers("fine", 5)
    fine = connect(on_mastodon(fakes.mastodon, "fine"), "fine@example.com")
    unreachable = connect(
        on_bluesky(fakes.bluesky, "gone.example.org", pds=f"http://127.0.0.2:{closed_port()}"),
        "gone@example.com",
    )
    alice = fakes.x.add_user("alice")
    x_down = connect(on_x(fakes.x, alice), "alice@example.com")
    fakes.x.fail(503, match="GET /2/users/me")
    limited = connect(on_mastodon(fakes.mastodon, "busy"), "busy@example.com")
    fakes.mastodon.rate_limited(
        datetime.now(UTC) + timedelta(minutes=5), match="GET /api/v1/accounts/verify_credentials"
    )
    now = datetime.now(UTC)
    from workers.tasks import snapshot_reach  # the Celery task, called as a worker does

    # The 429 queued above is the next verify_credentials' answer: `limited` goes first.
    for account_id in sorted(due(now), key=lambda found: found != limited):
        snapshot_reach(account_id)

    assert [followers for _, followers, _ in rows(fine)] == [5]
    for failed in (unreachable, x_down, limited):
        assert rows(failed) == [], failed  # nothing kept: the last count read stands
    assert sorted(due(now)) == sorted([unreachable, x_down, limited])  # read again next pass

    broken = ReachConfig(timeout=1.0, policy=config().policy, counters=lambda network: Broken())
    with caplog.at_level(logging.ERROR, logger="tribe.reach"):
        reading = read(x_down, now, broken)
    assert (reading.followers, reading.kept) == (None, False)
    assert "an answer nobody foresaw" in caplog.text


def test_a_network_unreachable_in_trouble_or_slowing_tribe_down_is_unknown_for_now(
    fakes: Fakes,
) -> None:
    gone = connect(
        on_bluesky(fakes.bluesky, "gone.example.org", pds=f"http://127.0.0.2:{closed_port()}")
    )
    alice = fakes.x.add_user("alice")
    x_down = connect(on_x(fakes.x, alice), "alice@example.com")
    fakes.x.fail(503, match="GET /2/users/me", body={"title": "Service Unavailable"})
    busy = connect(on_mastodon(fakes.mastodon, "busy"))
    fakes.mastodon.rate_limited(MORNING + timedelta(minutes=5), match="GET /api/v1/accounts/")

    readings = [read(gone), read(x_down), read(busy)]

    assert [(r.followers, r.kept) for r in readings] == [(None, False)] * 3
    assert "could not reach Bluesky" in readings[0].note
    assert "X had a problem (HTTP 503" in readings[1].note
    assert "limits how often tribe may read" in readings[2].note
    assert sorted(due()) == sorted([gone, x_down, busy])


def test_dry_run_asks_no_network(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = fakes.x.add_user("alice")
    accounts = [
        connect(on_x(fakes.x, alice), "alice@example.com"),
        connect(on_mastodon(fakes.mastodon, "bob")),
        connect(on_bluesky(fakes.bluesky, "carol.example.org"), "carol@example.com"),
    ]
    asked = len(fakes.x.requests), len(fakes.mastodon.requests), len(fakes.bluesky.requests)
    monkeypatch.setenv("TRIBE_DRY_RUN", "true")
    get_settings.cache_clear()

    readings = [read(account_id) for account_id in accounts]

    assert {(r.followers, r.note, r.kept) for r in readings} == {(None, DRY_RUN_NOTE, True)}
    assert (len(fakes.x.requests), len(fakes.mastodon.requests), len(fakes.bluesky.requests)) == (
        asked
    )


# With a real worker -------------------------------------------------------------------------


@pytest.mark.integration
def test_a_real_worker_reads_every_due_account_once(fakes: Fakes, tmp_path: Path) -> None:
    """The pass (`tribe.reach.daily`, as beat sends it) through the real broker: it
    enqueues one `tribe.reach.snapshot` per due account, which the worker runs."""
    from workers.app import make_app  # the producer, on this test's broker

    alice = fakes.x.add_user("alice")
    fakes.x.set_followers(alice, 3)
    fakes.mastodon.set_followers("bob", 4)
    carol = on_bluesky(fakes.bluesky, "carol.example.org")
    fakes.bluesky.set_followers(str(carol.remote_user_id), 5)
    accounts = [
        connect(on_x(fakes.x, alice), "alice@example.com"),
        connect(on_mastodon(fakes.mastodon, "bob")),
        connect(carol, "carol@example.com"),
    ]
    producer = make_app(get_settings())

    def counts() -> list[int | None]:
        return [followers for account_id in accounts for _, followers, _ in rows(account_id)]

    with cluster(tmp_path / "procs") as running:
        running.start_worker("one")
        producer.send_task("tribe.reach.daily")
        running.wait_for(
            "a reading of each account", lambda: len(counts()) == 3, timeout=90,
            explain=lambda: f"readings so far: {counts()}",
        )  # fmt: skip
    producer.close()
    assert counts() == [3, 4, 5]
    assert due(datetime.now(UTC)) == []
    read_calls = [
        fakes.x.calls("GET", r"/2/users/me"),
        fakes.mastodon.calls("GET", r"/api/v1/accounts/verify_credentials"),
        fakes.bluesky.calls("GET", r"/xrpc/app\.bsky\.actor\.getProfile"),
    ]
    assert [len(calls) for calls in read_calls] == [1, 1, 1]
