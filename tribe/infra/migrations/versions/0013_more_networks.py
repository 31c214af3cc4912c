"""LinkedIn, Facebook Pages and Threads; what a call did before its answer

Revision ID: 0013
Revises: 0012
Accounts and OAuth apps may be on LinkedIn, Facebook (a Page) or Threads. A delivery
keeps what its network call did before the answer came back (a Threads container
created but not published, a Bluesky card's uploaded image) so a retry goes on from
there instead of doing it twice. An account keeps when its sign-in runs out (not a
secret: the token itself stays sealed), so tokens are renewed before they do. Nothing
stored changes; accounts connected before keep an unknown expiry.
Create Date: 2026-11-30 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("x", "mastodon", "bluesky")
AFTER = (*BEFORE, "linkedin", "facebook", "threads")


def _network(values: Sequence[str]) -> sa.Enum:
    # The CHECK constraint is named ck_<table>_network (naming convention in
    # tribe/infra/models.py); batch mode on SQLite copies the table with the new one.
    return sa.Enum(*values, name="network", native_enum=False, create_constraint=True, length=16)


def _alter(table: str, before: Sequence[str], after: Sequence[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(
            "network",
            existing_type=_network(before),
            type_=_network(after),
            existing_nullable=False,
        )


def upgrade() -> None:
    _alter("account", BEFORE, AFTER)
    _alter("networkapp", BEFORE, AFTER)
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("progress", sa.JSON(), nullable=True))
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    # Refuse rather than delete a member's accounts (and their deliveries, their history).
    bind = op.get_bind()
    kept = bind.execute(
        sa.text("SELECT count(*) FROM account WHERE network IN ('linkedin', 'facebook', 'threads')")
    ).scalar()
    if kept:
        raise RuntimeError(
            f"{kept} LinkedIn, Facebook or Threads accounts are stored: remove them "
            "before going back to a tribe without those networks"
        )
    op.execute(
        sa.text("DELETE FROM networkapp WHERE network IN ('linkedin', 'facebook', 'threads')")
    )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("token_expires_at")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("progress")
    _alter("networkapp", AFTER, BEFORE)
    _alter("account", AFTER, BEFORE)
