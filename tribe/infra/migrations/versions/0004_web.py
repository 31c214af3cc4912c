"""web app: sign-in, sessions, API tokens, join requests, feed removal

Revision ID: 0004
Revises: 0003
Existing members have no password (an operator hands them a sign-in link) and are not
operators; existing tribes are invite-only.
Create Date: 2026-11-26 10:53:39.246356
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loginfailure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loginfailure")),
    )
    with op.batch_alter_table("loginfailure", schema=None) as batch_op:
        batch_op.create_index("ix_loginfailure_key_at", ["key", "at"], unique=False)

    op.create_table(
        "sitesecret",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sitesecret")),
    )
    op.create_table(
        "apitoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_apitoken_member_id_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apitoken")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_apitoken_token_hash")),
    )
    with op.batch_alter_table("apitoken", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_apitoken_member_id"), ["member_id"], unique=False)

    op.create_table(
        "websession",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_websession_member_id_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_websession")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_websession_token_hash")),
    )
    with op.batch_alter_table("websession", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_websession_member_id"), ["member_id"], unique=False)

    op.create_table(
        "joinrequest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tribe_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_joinrequest_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["tribe_id"], ["tribe.id"], name=op.f("fk_joinrequest_tribe_id_tribe")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_joinrequest")),
        sa.UniqueConstraint(
            "tribe_id", "member_id", name=op.f("uq_joinrequest_tribe_id_member_id")
        ),
    )
    with op.batch_alter_table("joinrequest", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_joinrequest_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_joinrequest_tribe_id"), ["tribe_id"], unique=False)

    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("removed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )

    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.add_column(
            sa.Column("is_operator", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("tribe", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_open", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("invite_epoch", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("tribe", schema=None) as batch_op:
        batch_op.drop_column("invite_epoch")
        batch_op.drop_column("is_open")

    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("is_operator")
        batch_op.drop_column("password_hash")

    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.drop_column("removed_at")

    with op.batch_alter_table("joinrequest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_joinrequest_tribe_id"))
        batch_op.drop_index(batch_op.f("ix_joinrequest_member_id"))

    op.drop_table("joinrequest")
    with op.batch_alter_table("websession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_websession_member_id"))

    op.drop_table("websession")
    with op.batch_alter_table("apitoken", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apitoken_member_id"))

    op.drop_table("apitoken")
    op.drop_table("sitesecret")
    with op.batch_alter_table("loginfailure", schema=None) as batch_op:
        batch_op.drop_index("ix_loginfailure_key_at")

    op.drop_table("loginfailure")
