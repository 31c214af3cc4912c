"""Social accounts: records, connecting for real, how they reshare."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from config import get_settings
from tribe.cli.base import json_option, main, print_table
from tribe.core.kinds import Network

if TYPE_CHECKING:
    from tribe.networks.base import Connector


@main.group()
def account() -> None:
    """Social accounts: add, connect, list, set how they reshare, disconnect."""


@account.command("add")
@click.argument("email")
@click.argument("network")
@click.argument("handle")
@click.option("--max-characters", type=int, help="The instance's post limit (Mastodon).")
def account_add(email: str, network: str, handle: str, max_characters: int | None) -> None:
    """Add an account: NETWORK is x, mastodon, bluesky, linkedin, facebook or threads."""
    from tribe.infra.db import session_scope
    from tribe.members.accounts import add_account
    from tribe.members.people import get_member

    with session_scope() as session:
        info = add_account(
            session,
            member=get_member(session, email),
            network=network,
            handle=handle,
            max_characters=max_characters,
        )
    click.echo(f"added {info.network.value} account {info.handle} (#{info.id})")


@account.command("list")
@click.argument("email")
@json_option
def account_list(email: str, as_json: bool) -> None:
    """A member's accounts and their schedules."""
    from tribe.infra.db import session_scope
    from tribe.members.accounts import list_accounts
    from tribe.members.people import get_member

    with session_scope() as session:
        accounts = list_accounts(session, member=get_member(session, email))
    print_table(
        accounts,
        as_json,
        ("id", "network", "handle", "state", "reshare", "paused", "schedule", "note"),
        "no accounts yet",
    )


@account.command("connect")
@click.argument("email")
@click.argument("network", type=click.Choice([n.value for n in Network]))
@click.option("--instance", help="Mastodon: the server, e.g. https://mastodon.social")
@click.option("--handle", help="Bluesky: the handle, e.g. alice.bsky.social")
@click.option("--pds", default="https://bsky.social", show_default=True, help="Bluesky: the PDS.")
@click.option("--oauth2", is_flag=True, help="X: OAuth 2.0 with PKCE instead of OAuth 1.0a.")
@click.option("--page", help="Facebook: the Page (its name or id) when you manage several.")
def account_connect(
    email: str,
    network: str,
    instance: str | None,
    handle: str | None,
    pds: str,
    oauth2: bool,
    page: str | None,
) -> None:
    """Connect an account for real: walks the sign-in in this terminal."""
    from datetime import UTC, datetime

    from tribe.alliance.snapshots import ReachConfig, snapshot_account
    from tribe.delivery.placing import PlacementConfig
    from tribe.infra.db import read_scope, session_scope
    from tribe.members.people import get_member
    from tribe.networks import connect
    from tribe.networks.base import Step

    settings = get_settings()
    with read_scope() as session:  # no such member: say so before any sign-in step
        member = get_member(session, email)
        session.expunge(member)
    flow = connect.flow(Network(network), settings)  # the one branch on the network
    options = {"instance": instance or "", "handle": handle or "", "pds": pds, "page": page or ""}
    begun = flow.begin(_given(flow.connector, {**options, "oauth2": "yes" if oauth2 else "no"}))
    if isinstance(begun, Step):
        click.echo(f"1. Open this address, sign in and authorize tribe:\n   {begun.url}")
        begun = flow.finish(begun.state, click.prompt(f"2. {begun.ask}"))
    with session_scope() as session:
        info, released = connect.store_connection(
            session, member=member, connected=begun, vault=flow.apps.vault,
            config=PlacementConfig.from_settings(settings),
        )  # fmt: skip
    click.echo(f"connected {info.network.value} {info.handle} (#{info.id})")
    if released:
        click.echo(f"{released} held reshare(s) queued again")
    # Connecting is when an account is first read (then daily: tribe/alliance/snapshots.py).
    reading = snapshot_account(
        info.id, now=datetime.now(UTC), config=ReachConfig.from_settings(settings),
        vault=flow.apps.vault,
    )  # fmt: skip
    if reading is not None:
        said = reading.followers if reading.followers is not None else f"unknown ({reading.note})"
        click.echo(f"followers: {said}")


def _given(connector: Connector, options: dict[str, str]) -> dict[str, str]:
    """What the member gives the network's first step: the options its fields need (one
    missing is a usage error), then its secrets, asked for without echo."""
    for field in connector.fields:
        if field.required and not field.secret and not options.get(field.name):
            raise click.UsageError(
                f"{connector.title} needs --{field.name}, e.g. --{field.name} {field.example}"
            )
    given = dict(options)
    for field in connector.fields:
        if field.secret:
            asked = f"{field.label} ({field.hint})" if field.hint else field.label
            given[field.name] = click.prompt(asked, hide_input=True)
    return given


@account.command("set")
@click.argument("email")
@click.argument("account_id", type=int)
@click.option(
    "--reshare",
    type=click.Choice(["post", "repost"]),
    help="post: your own words with the link; repost: the network's native reshare of the "
    "author's own post (X's default).",
)
@click.option(
    "--announce/--no-announce",
    default=None,
    help="Also post your own new articles through this account (tribemates repost them).",
)
def account_set(email: str, account_id: int, reshare: str | None, announce: bool | None) -> None:
    """How an account reshares, and whether it announces your own posts."""
    from tribe.infra.db import session_scope
    from tribe.members.accounts import set_sharing
    from tribe.members.people import get_member

    if reshare is None and announce is None:
        raise click.UsageError("say what to change: --reshare and/or --announce/--no-announce")
    with session_scope() as session:
        info = set_sharing(
            session,
            member=get_member(session, email),
            account_id=account_id,
            reshare=reshare,
            announce_own=announce,
        )
    click.echo(f"{info.network.value} {info.handle}: reshares by {info.reshare}")


@account.command("disconnect")
@click.argument("email")
@click.argument("account_id", type=int)
def account_disconnect(email: str, account_id: int) -> None:
    """Forget an account's credentials; its queue is held until it is connected again."""
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member
    from tribe.networks.connect import disconnect

    with session_scope() as session:
        info = disconnect(session, member=get_member(session, email), account_id=account_id)
    click.echo(f"disconnected {info.network.value} {info.handle}; its queued reshares are held")
