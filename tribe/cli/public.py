"""`tribe tribe set SLUG --public|--private`: the operator opens or closes a tribe's
public page (its chief does it on the tribe's page)."""

from __future__ import annotations

import click

from config import get_settings
from tribe.cli.members import tribe_group


@tribe_group.command("set")
@click.argument("slug")
@click.option(
    "--public/--private",
    "public",
    default=None,
    help="Give the tribe a public page, Atom feed and member list at /t/SLUG, or take them away.",
)
def tribe_set(slug: str, public: bool | None) -> None:
    """Make a tribe public or private."""
    from tribe.alliance.public import make_public
    from tribe.infra.db import session_scope
    from tribe.members.people import get_tribe

    if public is None:
        raise click.UsageError("say --public or --private")
    with session_scope() as session:
        tribe = get_tribe(session, slug)
        make_public(tribe, public=public)
        found = tribe.slug
    if public:
        click.echo(f"{found} is public: {get_settings().TRIBE_BASE_URL}/t/{found}")
    else:
        click.echo(f"{found} is private: its public page, feed and member list answer 404")
