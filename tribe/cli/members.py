"""Members and tribes, as the operator runs them."""

from __future__ import annotations

import click

from config import get_settings
from tribe.cli.base import main


@main.group()
def member() -> None:
    """Members of this tribe instance."""


@member.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone, e.g. Europe/Paris.")
def member_add(email: str, name: str, timezone: str) -> None:
    """Add a member."""
    from tribe.infra.db import session_scope
    from tribe.members.people import add_member

    with session_scope() as session:
        created = add_member(session, email=email, display_name=name, timezone=timezone)
        click.echo(f"added member {created.email} (#{created.id})")


@member.command("login-link")
@click.argument("email")
@click.option("--operator", is_flag=True, help="Make them an operator now, on this host.")
def member_login_link(email: str, operator: bool) -> None:
    """Print a link where a member sets their password (and is signed in).

    For members who came in with `tribe import` or `tribe member add`, and for a
    forgotten password. The link works once, for TRIBE_RESET_TTL. `--operator` gives
    the member the operator's pages right away: no link ever carries that power.
    """
    from tribe.infra.db import session_scope
    from tribe.infra.keys import keyring_for
    from tribe.members.auth import make_operator, reset_token
    from tribe.members.people import get_member

    settings = get_settings()
    with session_scope() as session:
        member = get_member(session, email)
        if operator:
            make_operator(session, member=member)
        token = reset_token(member=member, keys=keyring_for(settings))
    hours = settings.TRIBE_RESET_TTL.total_seconds() / 3600
    click.echo(f"{settings.TRIBE_BASE_URL}/reset/{token}")
    if operator:
        click.echo(f"{email} is an operator now", err=True)
    click.echo(f"(works once, for {hours:g} hour{'s' * (hours != 1)})", err=True)


@main.group("tribe")
def tribe_group() -> None:
    """Tribes and who is in them."""


@tribe_group.command("create")
@click.argument("name")
@click.option("--chief", required=True, help="Email of the member who leads the tribe.")
@click.option("--description", default="", help="What the tribe is about.")
def tribe_create(name: str, chief: str, description: str) -> None:
    """Create a tribe; prints its slug."""
    from tribe.infra.db import session_scope
    from tribe.members.people import create_tribe, get_member

    with session_scope() as session:
        leader = get_member(session, chief)
        created = create_tribe(session, name=name, chief=leader, description=description)
        click.echo(created.slug)


@tribe_group.command("add-member")
@click.argument("slug")
@click.argument("email")
def tribe_add_member(slug: str, email: str) -> None:
    """Add a member to a tribe."""
    from tribe.infra.db import session_scope
    from tribe.members.people import add_to_tribe, get_member, get_tribe

    with session_scope() as session:
        add_to_tribe(session, tribe=get_tribe(session, slug), member=get_member(session, email))
    click.echo(f"{email} joined {slug}")
