"""memberships remember when they ended

Revision ID: 0011
Revises: 0010
A tribe's reciprocity counts only what happened while both members were in it, so a
membership needs its end as well as its start. Members who left before this revision
keep a null `left_at`: when they left was never recorded, and reciprocity counts nothing
in such a membership rather than guess (a guess too late would show the tribe what they
did elsewhere after leaving).
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("left_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_column("left_at")
