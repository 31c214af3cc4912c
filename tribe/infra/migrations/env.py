"""Alembic environment: the database from settings (or the caller's config), our models."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import tribe.infra.models  # noqa: F401 - registers the tables on SQLModel.metadata
from config import get_settings
from tribe.infra.db import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().TRIBE_DATABASE_URL


def run_migrations_offline() -> None:
    context.configure(
        url=url,
        target_metadata=SQLModel.metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode copies a table, drops the old one and renames the copy: with
            # foreign keys on, dropping a table others point at fails. Off for the
            # migration (outside any transaction, or SQLite ignores it), checked after.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            # SQLite cannot ALTER most things; batch mode copies the table instead.
            render_as_batch=sqlite,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:5]}")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
