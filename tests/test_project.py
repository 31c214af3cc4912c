"""The project's own promises: migrations match the models, settings are documented,
the compose file is valid."""

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from config import Settings, get_settings
from tests.conftest import BACKEND, POSTGRES_URL
from tribe.infra.db import dispose_engines
from tribe.infra.migrate import upgrade
from workers.run import commands

ROOT = Path(__file__).parent.parent


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    if BACKEND != "postgres":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"tribe_migrate_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrations_build_exactly_the_models(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert tables >= {"member", "tribe", "membership", "feed", "post", "streamitem"}
    upgrade(empty_database_url)  # running it again is harmless


def test_the_cli_upgrades_the_configured_database(tribe_env: Path) -> None:
    from click.testing import CliRunner

    from tribe.cli import main

    if BACKEND == "postgres":
        pytest.skip("covered by test_migrations_build_exactly_the_models on PostgreSQL")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tribe_env / "tribe.db").exists()
    engine = create_engine(get_settings().TRIBE_DATABASE_URL)
    assert "feed" in inspect(engine).get_table_names()
    engine.dispose()


def test_env_example_lists_every_setting() -> None:
    documented = set(re.findall(r"^(TRIBE_[A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert set(Settings.model_fields) <= documented
    assert documented - set(Settings.model_fields) == {"TRIBE_POSTGRES_PASSWORD"}


def test_the_configuration_page_documents_every_setting() -> None:
    """docs/configure.md holds the table of settings (the README only points to it)."""
    page = (ROOT / "docs" / "configure.md").read_text()
    env_example = (ROOT / ".env.example").read_text()
    names = set(Settings.model_fields) | set(re.findall(r"^(TRIBE_[A-Z_]+)=", env_example, re.M))
    missing = sorted(name for name in names if f"`{name}`" not in page)
    assert missing == []


def test_docker_compose_file_is_valid(tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's package)")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    env = {"PATH": "/usr/bin:/bin", "TRIBE_POSTGRES_PASSWORD": "not-a-real-one"}
    check = subprocess.run(
        ["docker-compose", "config", "-q"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    services = subprocess.run(
        ["docker-compose", "config", "--services"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    unset = subprocess.run(
        ["docker-compose", "config", "-q"],
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert unset.returncode != 0
    assert "set TRIBE_POSTGRES_PASSWORD in .env" in unset.stderr


def test_compose_runs_the_worker_and_beat_that_tribe_run_starts() -> None:
    """One definition of their command lines (workers/run.py), so the two cannot drift."""
    compose = (ROOT / "docker-compose.yml").read_text()
    for service in ("worker", "beat"):
        block = re.search(rf"^  {service}:\n((?:    .*\n|\s*\n)+)", compose, re.M)
        assert block is not None
        assert f'command: ["tribe", "{service}"]' in block[1]
    worker = commands(get_settings())["worker"]
    assert {"--pool", "threads", "--without-mingle", "--without-gossip"} <= set(worker)


def test_upgrading_a_database_with_data_keeps_it(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0001")
    engine = create_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO member (email, display_name, timezone, created_at) "
                "VALUES ('old@example.com', 'Old', 'UTC', CURRENT_TIMESTAMP)"
            )
        )
    upgrade(empty_database_url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT email, queue_paused, templates FROM member")).one()
    engine.dispose()
    assert row[0] == "old@example.com"
    assert not row[1]
    assert row[2] in ({}, "{}")
