"""stable invite links: a tribe keeps the time its current invite link was made

Revision ID: 0007
Revises: 0006
The chief sees one link until they renew it. Existing tribes' links start now (the
column keeps that default: dropping it would make SQLite copy the whole table).
Create Date: 2026-11-30 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tribe", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "invite_issued_at",
                sqlmodel.sql.sqltypes.UTCDateTime(),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("tribe", schema=None) as batch_op:
        batch_op.drop_column("invite_issued_at")
