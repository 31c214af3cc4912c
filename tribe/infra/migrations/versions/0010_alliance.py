"""alliance: reach, the outbox, digest and nudge preferences

Revision ID: 0010
Revises: 0009
Members already here get the new members' defaults: a daily digest at 08:00 their time
(the first one says how to change it), nudges and reminders on.
Create Date: 2026-11-30 14:46:28.940743
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("to", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "sending",
                "handed",
                "sent",
                "failed",
                name="mail_state",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lease_token", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_mail_member_id_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail")),
        sa.UniqueConstraint("key", name=op.f("uq_mail_key")),
    )
    with op.batch_alter_table("mail", schema=None) as batch_op:
        batch_op.create_index("ix_mail_due", ["state", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_member_id"), ["member_id"], unique=False)

    op.create_table(
        "reachsnapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("followers", sa.Integer(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("taken_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_reachsnapshot_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reachsnapshot")),
        sa.UniqueConstraint("account_id", "day", name=op.f("uq_reachsnapshot_account_id_day")),
    )
    with op.batch_alter_table("reachsnapshot", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reachsnapshot_account_id"), ["account_id"], unique=False
        )

    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "digest_mode",
                sa.Enum(
                    "daily",
                    "weekly",
                    "off",
                    name="digest_mode",
                    native_enum=False,
                    create_constraint=True,
                    length=16,
                ),
                nullable=False,
                server_default="daily",
            )
        )
        batch_op.add_column(
            sa.Column(
                "digest_hour",
                sqlmodel.sql.sqltypes.AutoString(length=5),
                nullable=False,
                server_default="08:00",
            )
        )
        batch_op.add_column(
            sa.Column("digest_weekday", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("digest_sent_once", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("nudges", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("nudged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reminders", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("reminded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("reminders")
        batch_op.drop_column("nudged_at")
        batch_op.drop_column("nudges")
        batch_op.drop_column("digest_sent_once")
        batch_op.drop_column("digest_weekday")
        batch_op.drop_column("digest_hour")
        batch_op.drop_column("digest_mode")

    with op.batch_alter_table("reachsnapshot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reachsnapshot_account_id"))

    op.drop_table("reachsnapshot")
    with op.batch_alter_table("mail", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_member_id"))
        batch_op.drop_index("ix_mail_due")

    op.drop_table("mail")
