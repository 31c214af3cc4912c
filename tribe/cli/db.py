"""Creating and migrating the database."""

from __future__ import annotations

import click

from tribe.cli.base import main


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the latest schema."""
    from tribe.infra.migrate import upgrade

    upgrade()
    click.echo("database is up to date")
