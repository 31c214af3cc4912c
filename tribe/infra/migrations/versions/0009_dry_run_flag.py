"""deliveries a dry run only logged are flagged as such

Revision ID: 0009
Revises: 0008
Dry run marked what it logged `sent` with the reason "dry run: logged, not sent" and no
remote id; history, the feeds page and the tribe's numbers now read a flag instead.
Create Date: 2026-11-30 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        "UPDATE delivery SET dry_run = TRUE WHERE state = 'sent' AND remote_id IS NULL "
        "AND reason LIKE 'dry run:%'"
    )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("dry_run")
