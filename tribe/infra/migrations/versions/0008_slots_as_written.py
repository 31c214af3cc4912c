"""schedule slots are kept as the member wrote them: compact the lists written one day a line

Revision ID: 0008
Revises: 0007
Until now saving "mon-fri 09:00,12:30; sat 10:00" stored one line per day ("mon 09:00,12:30",
"tue 09:00,12:30", ...). From now on the member's own groups are stored; lists written the
old way become the compact form ("mon-fri 09:00,12:30", "sat 10:00"), the same slots.
No column changes: `account.slots` keeps its JSON list of groups.
Create Date: 2026-11-30 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
account = sa.table("account", sa.column("id", sa.Integer), sa.column("slots", sa.JSON))


def _runs(days: list[int]) -> str:
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ",".join(
        f"{DAYS[r[0]]}-{DAYS[r[-1]]}" if len(r) > 2 else ",".join(DAYS[d] for d in r) for r in runs
    )


def compact(lines: list[str]) -> list[str] | None:
    """["mon 09:00", "tue 09:00", "sat 10:00"] -> ["mon-tue 09:00", "sat 10:00"]; None for
    a list that is not one line per day (nothing to change)."""
    by_times: dict[str, list[int]] = {}
    for line in lines:
        day, _, times = line.strip().partition(" ")
        if day not in DAYS or not times:
            return None
        by_times.setdefault(times.strip(), []).append(DAYS.index(day))
    return [f"{_runs(days)} {times}" for times, days in by_times.items()]


def upgrade() -> None:
    connection = op.get_bind()
    for row in connection.execute(sa.select(account.c.id, account.c.slots)).all():
        if not row.slots:
            continue
        tidy = compact(list(row.slots))
        if tidy is not None and tidy != row.slots:
            connection.execute(account.update().where(account.c.id == row.id).values(slots=tidy))


def downgrade() -> None:
    # The compact lists parse the same with the code before this revision ("; " joins
    # them into one spec): nothing to undo.
    pass
