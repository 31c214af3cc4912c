"""The keys that encrypt stored credentials and sign links."""

from __future__ import annotations

import click

from config import get_settings
from tribe.cli.base import main


@main.group()
def keys() -> None:
    """The keys that encrypt stored tokens and passwords (TRIBE_SECRET_KEYS)."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key for TRIBE_SECRET_KEYS."""
    from tribe.infra.vault import generate_key

    click.echo(generate_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the first key of TRIBE_SECRET_KEYS."""
    from tribe.infra.db import session_scope
    from tribe.infra.vault import Vault, rotate_all

    vault = Vault.from_settings(get_settings())
    with session_scope() as session:
        count = rotate_all(session, vault)
    click.echo(f"re-encrypted {count} secret(s) with the first key; older keys can now go")
