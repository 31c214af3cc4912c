"""Revision 0008 on a database with data: slot lists written one line per day become the
member's compact groups, the same slots; other lists are left as they are."""

import json
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.test_migration_withdrawn import database_url  # noqa: F401 - the fixture
from tribe.core.schedule import parse_slots
from tribe.infra.migrate import upgrade

ACCOUNTS = {
    1: [f"{day} 09:00,12:30" for day in ("mon", "tue", "wed", "thu", "fri")]
    + ["sat 10:00", "sun 10:00"],
    2: ["mon 07:15", "wed 07:15"],
    3: [],
    4: ["mon-fri 08:00"],  # already compact (written after this revision's code): kept
}


def migrate(url: str) -> dict[int, list[str]]:
    """The accounts above at revision 0007, then upgraded: their slots by id."""
    upgrade(url, "0007")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO member (id, email, display_name, timezone, templates, queue_paused, "
                "created_at, is_operator) VALUES (1, 'a@example.com', 'A', 'UTC', '{}', false, "
                "CURRENT_TIMESTAMP, false)"
            )
        )
        for account_id, slots in ACCOUNTS.items():
            conn.execute(
                text(
                    "INSERT INTO account (id, member_id, network, handle, active, "
                    "schedule_mode, slots, min_gap_minutes, window_start, window_end, "
                    "daily_cap, paused, created_at) VALUES (:id, 1, 'x', :handle, true, "
                    "'slots', :slots, 90, '08:00', '21:00', 6, false, CURRENT_TIMESTAMP)"
                ),
                {"id": account_id, "handle": f"a{account_id}", "slots": json.dumps(slots)},
            )
    upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, slots FROM account ORDER BY id")).all()
    engine.dispose()
    return {r[0]: r[1] if isinstance(r[1], list) else json.loads(r[1]) for r in rows}


def test_slots_written_one_line_a_day_become_the_compact_groups(database_url: str) -> None:  # noqa: F811
    migrated = migrate(database_url)
    assert migrated == {
        1: ["mon-fri 09:00,12:30", "sat,sun 10:00"],
        2: ["mon,wed 07:15"],
        3: [],
        4: ["mon-fri 08:00"],
    }
    for account_id, before in ACCOUNTS.items():  # the same slots as before
        if before:
            assert parse_slots("; ".join(migrated[account_id])) == parse_slots("; ".join(before))


def test_the_upgrade_is_harmless_on_an_empty_database(tmp_path: Path) -> None:
    upgrade(f"sqlite:///{tmp_path / 'empty.db'}")
