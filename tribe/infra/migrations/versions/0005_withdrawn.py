"""stream items can be withdrawn: membership is checked where it is used

Revision ID: 0005
Revises: 0004

A pending stream item whose member and author no longer share an active tribe (one of
them left or was removed before this revision) is withdrawn, with decided_at set to the
time of the upgrade; nothing is deleted.
Create Date: 2026-11-30 12:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("pending", "approved", "skipped", "expired")
AFTER = (*BEFORE, "withdrawn")


def _state(values: Sequence[str]) -> sa.Enum:
    # The CHECK constraint is named ck_streamitem_stream_state (naming convention in
    # tribe/models.py); batch mode on SQLite copies the table with the new one.
    return sa.Enum(
        *values, name="stream_state", native_enum=False, create_constraint=True, length=16
    )


membership = sa.table(
    "membership", sa.column("tribe_id", sa.Integer), sa.column("member_id", sa.Integer),
    sa.column("status", sa.String),
)  # fmt: skip
post = sa.table("post", sa.column("id", sa.Integer), sa.column("feed_id", sa.Integer))
feed = sa.table("feed", sa.column("id", sa.Integer), sa.column("owner_id", sa.Integer))
streamitem = sa.table(
    "streamitem", sa.column("id", sa.Integer), sa.column("post_id", sa.Integer),
    sa.column("member_id", sa.Integer), sa.column("state", sa.String),
    sa.column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime()),
)  # fmt: skip


def _withdraw_unshared() -> None:
    mine, theirs = membership.alias("mine"), membership.alias("theirs")
    author = (
        sa.select(feed.c.owner_id)
        .join(post, post.c.feed_id == feed.c.id)
        .where(post.c.id == streamitem.c.post_id)
        .correlate(streamitem)
        .scalar_subquery()
    )
    shared = (
        sa.select(sa.literal(1))
        .select_from(mine.join(theirs, theirs.c.tribe_id == mine.c.tribe_id))
        .where(
            mine.c.member_id == streamitem.c.member_id,
            mine.c.status == "active",
            theirs.c.member_id == author,
            theirs.c.status == "active",
        )
        .exists()
    )
    op.execute(
        streamitem.update()
        .where(streamitem.c.state == "pending", ~shared)
        .values(state="withdrawn", decided_at=datetime.now(UTC))
    )


def upgrade() -> None:
    with op.batch_alter_table("streamitem", schema=None) as batch_op:
        batch_op.alter_column(
            "state", existing_type=_state(BEFORE), type_=_state(AFTER), existing_nullable=False
        )
    _withdraw_unshared()


def downgrade() -> None:
    # Withdrawn items were pending before; they stay out of sight only with this revision.
    op.execute(streamitem.update().where(streamitem.c.state == "withdrawn").values(state="expired"))
    with op.batch_alter_table("streamitem", schema=None) as batch_op:
        batch_op.alter_column(
            "state", existing_type=_state(AFTER), type_=_state(BEFORE), existing_nullable=False
        )
