"""Keys come from TRIBE_SECRET_KEYS (or the local key file on `make run`), never from the
database: a copy of the database signs nobody in, and no link makes an operator."""

from __future__ import annotations

import multiprocessing
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from config import Settings, SettingsError, get_settings
from tests import builders as b
from tests.cli import ok
from tests.conftest import TEST_SECRET_KEY
from tribe.core.errors import LinkError
from tribe.infra.db import get_engine, session_scope
from tribe.infra.keys import KEY_FILE, load_keyring, parse_keys
from tribe.infra.models import Member
from tribe.members import auth
from tribe.members.people import get_member

HOUR = timedelta(hours=1)


def settings(**values: str) -> Settings:
    """Settings as the environment would give them, on top of the test's."""
    return Settings(**{**get_settings().model_dump(), **values})


def test_each_purpose_gets_its_own_key_and_none_is_the_configured_key_itself() -> None:
    keys = load_keyring(get_settings())
    derived = {purpose: keys.current(purpose) for purpose in ("cookies", "csrf", "links", "device")}
    assert len(set(derived.values())) == 4
    raw = Fernet(TEST_SECRET_KEY)._signing_key + Fernet(TEST_SECRET_KEY)._encryption_key
    assert raw not in derived.values()


def test_links_verify_with_any_configured_key_while_the_newest_signs() -> None:
    old, new = TEST_SECRET_KEY, Fernet.generate_key().decode()
    before = load_keyring(settings(TRIBE_SECRET_KEYS=old))
    link = auth.sign_link(before, "reset", {"m": 1})
    rotated = load_keyring(settings(TRIBE_SECRET_KEYS=f"{new},{old}"))
    assert auth.read_link(rotated, "reset", link, max_age=HOUR) == {"m": 1}
    fresh = auth.sign_link(rotated, "reset", {"m": 2})
    assert auth.read_link(
        load_keyring(settings(TRIBE_SECRET_KEYS=new)), "reset", fresh, max_age=HOUR
    )
    with pytest.raises(LinkError):  # the old key removed: what it signed stops working
        auth.read_link(load_keyring(settings(TRIBE_SECRET_KEYS=new)), "reset", link, max_age=HOUR)


def test_a_key_that_is_not_a_fernet_key_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(SettingsError, match=r"key #2 is a placeholder.*tribe keys generate"):
        parse_keys(f"{TEST_SECRET_KEY},change-me")


def test_the_embedded_default_makes_a_private_key_file_once(tribe_env: Path) -> None:
    local = settings(TRIBE_SECRET_KEYS="", TRIBE_DATABASE_URL="sqlite:///data/tribe.db")
    assert local.embedded_default
    first = load_keyring(local)
    path = tribe_env / KEY_FILE
    assert (first.source, first.path) == ("file", path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(local).keys == first.keys  # kept, not made again


def _load_key(data_dir: str) -> str:
    base = Settings(
        TRIBE_DATA_DIR=Path(data_dir),
        TRIBE_SECRET_KEYS="",
        TRIBE_DATABASE_URL=f"sqlite:///{data_dir}/tribe.db",
    )
    return load_keyring(base).keys[0]


def test_processes_starting_together_share_one_key_file(tmp_path: Path) -> None:
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        keys = pool.map(_load_key, [str(tmp_path / "data")] * 12)
    assert len(set(keys)) == 1
    assert (tmp_path / "data" / KEY_FILE).read_text().strip() == keys[0]


def test_outside_the_embedded_default_a_missing_key_is_an_error() -> None:
    production = settings(TRIBE_SECRET_KEYS="", TRIBE_DATABASE_URL="postgresql://db/tribe")
    with pytest.raises(SettingsError, match="TRIBE_SECRET_KEYS is not set"):
        load_keyring(production)
    assert not production.dry_run  # the worker refuses to start instead of idling


@pytest.mark.parametrize(
    ("database", "keys", "flag", "dry_run"),
    [
        ("sqlite:///x.db", "", None, True),  # a fresh checkout: practice first
        ("sqlite:///x.db", TEST_SECRET_KEY, None, False),
        ("sqlite:///x.db", "", "false", False),  # publishing for real on the local key
        ("postgresql://db/tribe", "", None, False),
        ("postgresql://db/tribe", TEST_SECRET_KEY, "true", True),
    ],
)
def test_dry_run_is_the_default_only_on_a_fresh_local_checkout(
    database: str, keys: str, flag: str | None, dry_run: bool
) -> None:
    values = {"TRIBE_DATABASE_URL": database, "TRIBE_SECRET_KEYS": keys}
    if flag is not None:
        values["TRIBE_DRY_RUN"] = flag
    assert settings(**values).dry_run is dry_run


@pytest.mark.usefixtures("db")
def test_a_copy_of_the_database_holds_nothing_that_signs_a_link() -> None:
    """Whatever is stored, used as a signing key, forges no password link."""
    with session_scope() as s:
        bob = b.member(s, "Bob")
        auth.set_password(s, bob, "a long enough password")
        auth.start_session(s, member=bob, ttl=HOUR)
        auth.create_token(s, member=get_member(s, bob.email), name="script")
        auth.reset_token(member=get_member(s, bob.email), keys=b.keys())
        stamp = auth._password_stamp(bob)
        bob_id = bob.id
    stored: set[str] = set()
    with get_engine().connect() as conn:
        for table in inspect(conn).get_table_names():
            if table not in SQLModel.metadata.tables:
                continue
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                stored |= {str(value) for value in row if value is not None}
    assert len(stored) > 10
    for candidate in stored:
        for salt in ("tribe.reset", "tribe.links"):
            forged = URLSafeTimedSerializer(candidate, salt=salt).dumps(
                {"m": bob_id, "s": stamp, "op": True}
            )
            with pytest.raises(LinkError), session_scope() as s:
                auth.reset_password(s, token=forged, password="x" * 12, keys=b.keys(), max_age=HOUR)


@pytest.mark.usefixtures("db")
def test_no_link_makes_an_operator_even_one_signed_with_the_real_key() -> None:
    with session_scope() as s:
        bob = b.member(s, "Bob")
        payload = {"m": bob.id, "s": auth._password_stamp(bob), "op": True}
        link = auth.sign_link(b.keys(), "reset", payload)
    with session_scope() as s:
        member = auth.reset_password(
            s, token=link, password="a long enough password", keys=b.keys(), max_age=HOUR
        )
        assert member.is_operator is False


@pytest.mark.usefixtures("db")
def test_the_operator_is_made_on_the_host_by_the_command_line() -> None:
    with session_scope() as s:
        b.member(s, "Bob")
    out = ok("member", "login-link", "bob@example.com", "--operator")
    assert "/reset/" in out
    with session_scope() as s:
        bob = s.get(Member, 1)
        assert bob is not None
        assert bob.is_operator
