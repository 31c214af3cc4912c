"""Revision 0005 on a database with data: stream items can be withdrawn, and pending
items between people who no longer share a tribe are withdrawn by the upgrade."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from tests.conftest import BACKEND, POSTGRES_URL
from tribe.infra.db import dispose_engines
from tribe.infra.migrate import upgrade


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
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


ROWS = [
    "INSERT INTO member (id, email, display_name, timezone, templates, queue_paused, "
    "created_at, is_operator) VALUES "
    "(1, 'a@example.com', 'A', 'UTC', '{}', false, CURRENT_TIMESTAMP, false), "
    "(2, 'b@example.com', 'B', 'UTC', '{}', false, CURRENT_TIMESTAMP, false), "
    "(3, 'c@example.com', 'C', 'UTC', '{}', false, CURRENT_TIMESTAMP, false)",
    "INSERT INTO tribe (id, name, slug, description, chief_id, created_at, is_open, "
    "invite_epoch) VALUES (1, 'T', 't', '', 1, CURRENT_TIMESTAMP, false, 0)",
    # a and b are active; c left before this revision.
    "INSERT INTO membership (tribe_id, member_id, role, status, joined_at) VALUES "
    "(1, 1, 'chief', 'active', CURRENT_TIMESTAMP), (1, 2, 'member', 'active', "
    "CURRENT_TIMESTAMP), (1, 3, 'member', 'left', CURRENT_TIMESTAMP)",
    "INSERT INTO feed (id, owner_id, url, host, title, site_url, status, error_count, "
    "created_at) VALUES (1, 1, 'https://a.blog/feed', 'a.blog', '', '', 'active', 0, "
    "CURRENT_TIMESTAMP)",
    "INSERT INTO post (id, feed_id, entry_key, url, title, summary, categories, "
    "discovered_at, announced) VALUES (1, 1, 'k1', 'https://a.blog/1', 'One', '', '[]', "
    "CURRENT_TIMESTAMP, true), (2, 1, 'k2', 'https://a.blog/2', 'Two', '', '[]', "
    "CURRENT_TIMESTAMP, true)",
    "INSERT INTO streamitem (id, post_id, member_id, state, created_at, auto) VALUES "
    "(1, 1, 2, 'pending', CURRENT_TIMESTAMP, false), "
    "(2, 1, 3, 'pending', CURRENT_TIMESTAMP, false), "
    "(3, 2, 3, 'approved', CURRENT_TIMESTAMP, false)",
]


def test_the_upgrade_withdraws_what_a_former_member_still_had_and_allows_the_state(
    database_url: str,
) -> None:
    upgrade(database_url, "0004")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        for row in ROWS:
            conn.execute(text(row))
    upgrade(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, state, decided_at IS NOT NULL FROM streamitem ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, "pending", False),  # b still shares the tribe with a
        (2, "withdrawn", True),  # c left: kept, withdrawn, with the time of the upgrade
        (3, "approved", False),  # what c decided stays as they decided
    ]
    with engine.begin() as conn:  # the CHECK constraint knows the new state, and only it
        conn.execute(text("UPDATE streamitem SET state = 'withdrawn' WHERE id = 1"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE streamitem SET state = 'bogus' WHERE id = 1"))
    engine.dispose()
