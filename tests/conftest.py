"""Test set-up: one backend per run (SQLite + embedded broker, or PostgreSQL + Redis).

`make test` runs the suite once per backend; TRIBE_TEST_BACKEND picks it:
- sqlite   (default): a fresh SQLite file per test, the embedded broker.
- postgres: one throw-away database per run on TRIBE_TEST_POSTGRES_URL (emptied
  between tests), Redis at TRIBE_TEST_REDIS_URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import tribe.infra.models  # noqa: F401 - registers the tables
from config import get_settings
from tests.fakenet.common import HOST
from tests.fakenet.feeds import FeedServer
from tribe.infra.db import dispose_engines
from tribe.infra.vault import process_vault
from tribe.networks.registry import process_publishers

BACKEND = os.environ.get("TRIBE_TEST_BACKEND", "sqlite")
POSTGRES_URL = os.environ.get(
    "TRIBE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# A Fernet key for tests only (never a real deployment's).
TEST_SECRET_KEY = "yUcAXOVa5fOdhuShSrCk_HMHvQkjwSWiT5PG79jvpjk="
REDIS_URL = os.environ.get("TRIBE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def pytest_report_header() -> str:
    if BACKEND == "postgres":
        return f"tribe backend: PostgreSQL ({POSTGRES_URL}) + Redis ({REDIS_URL})"
    return "tribe backend: SQLite + embedded broker"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A database of our own for this run, dropped at the end."""
    if BACKEND != "postgres":
        yield None
        return
    # pre-ping: a test restarts the server, which kills this pooled connection.
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    name = f"tribe_test_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    yield url
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(autouse=True)
def tribe_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, postgres_url: str | None
) -> Iterator[Path]:
    """Settings for one test: its own data folder and database, feeds only on 127.0.0.2."""
    monkeypatch.chdir(tmp_path)  # no developer .env leaks in
    data = tmp_path / "data"
    values = {
        "TRIBE_DATA_DIR": str(data),
        "TRIBE_DATABASE_URL": postgres_url or f"sqlite:///{data / 'tribe.db'}",
        "TRIBE_ALLOW_PRIVATE_ADDRESSES": "false",
        "TRIBE_ALLOWED_NETWORKS": f"{HOST}/32",
        "TRIBE_CONTACT_URL": "mailto:operator@example.org",
        "TRIBE_FETCH_DEADLINE": "3s",
        "TRIBE_FETCH_TIMEOUT": "2s",
        "TRIBE_LOG_LEVEL": "INFO",
        "TRIBE_SECRET_KEYS": TEST_SECRET_KEY,
        # Tests' posts link to made-up blogs (https://author.blog/1): no card fetch may
        # look them up. tests/networks/test_cards.py gives publishers their cards itself.
        "TRIBE_LINK_CARDS": "false",
    }
    if BACKEND == "postgres":
        values["TRIBE_BROKER_URL"] = REDIS_URL
    for name in [
        n for n in os.environ if n.startswith("TRIBE_") and not n.startswith("TRIBE_TEST")
    ]:
        monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    _clear_process_caches()
    dispose_engines()
    yield data
    dispose_engines()
    _clear_process_caches()


def _clear_process_caches() -> None:
    get_settings.cache_clear()
    process_vault.cache_clear()
    process_publishers.cache_clear()


@pytest.fixture
def db(tribe_env: Path) -> None:
    """An empty database with the current schema."""
    url = get_settings().TRIBE_DATABASE_URL
    engine = create_engine(url)
    if BACKEND == "postgres":
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    else:
        tribe_env.mkdir(parents=True, exist_ok=True)
        SQLModel.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running
