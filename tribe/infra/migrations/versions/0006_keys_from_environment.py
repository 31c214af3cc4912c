"""signing keys come from TRIBE_SECRET_KEYS: drop the keys the instance kept in its database

Revision ID: 0006
Revises: 0005
A database copy must not sign anybody in. Links and cookies signed with the dropped keys
stop working: members sign in again, chiefs' invite links are shown anew (old ones no
longer open), and password links need asking for again.
Create Date: 2026-11-30 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("sitesecret")


def downgrade() -> None:
    op.create_table(
        "sitesecret",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sitesecret")),
    )
