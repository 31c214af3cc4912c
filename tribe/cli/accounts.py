"""Social accounts: records, connecting for real, how they reshare."""

from __future__ import annotations

import click

from config import get_settings
from tribe.cli.base import json_option, main, print_table


@main.group()
def account() -> None:
    """Social accounts: add, connect, list, set how they reshare, disconnect."""


@account.command("add")
@click.argument("email")
@click.argument("network")
@click.argument("handle")
@click.option("--max-characters", type=int, help="The instance's post limit (Mastodon).")
def account_add(email: str, network: str, handle: str, max_characters: int | None) -> None:
    """Add an account: NETWORK is x, mastodon or bluesky."""
    from tribe.infra.db import session_scope
    from tribe.members.accounts import add_account

    with session_scope() as session:
        info = add_account(
            session, email=email, network=network, handle=handle, max_characters=max_characters
        )
    click.echo(f"added {info.network.value} account {info.handle} (#{info.id})")


@account.command("list")
@click.argument("email")
@json_option
def account_list(email: str, as_json: bool) -> None:
    """A member's accounts and their schedules."""
    from tribe.infra.db import session_scope
    from tribe.members.accounts import list_accounts

    with session_scope() as session:
        accounts = list_accounts(session, email=email)
    print_table(
        accounts,
        as_json,
        ("id", "network", "handle", "state", "reshare", "paused", "schedule", "note"),
        "no accounts yet",
    )


@account.command("connect")
@click.argument("email")
@click.argument("network", type=click.Choice(["x", "mastodon", "bluesky"]))
@click.option("--instance", help="Mastodon: the server, e.g. https://mastodon.social")
@click.option("--handle", help="Bluesky: the handle, e.g. alice.bsky.social")
@click.option("--pds", default="https://bsky.social", show_default=True, help="Bluesky: the PDS.")
@click.option("--oauth2", is_flag=True, help="X: OAuth 2.0 with PKCE instead of OAuth 1.0a.")
def account_connect(
    email: str, network: str, instance: str | None, handle: str | None, pds: str, oauth2: bool
) -> None:
    """Connect an account for real: walks the sign-in in this terminal."""
    from tribe.core.outcomes import PublishError

    try:
        _connect_account(email, network, instance, handle, pds, oauth2)
    except PublishError as exc:  # a network refused a sign-in step: one line, exit 1
        raise click.ClickException(str(exc)) from None


def _connect_account(
    email: str, network: str, instance: str | None, handle: str | None, pds: str, oauth2: bool
) -> None:
    from tribe.networks import connect

    settings = get_settings()
    connect.check_member(email)
    from tribe.infra.vault import Vault

    Vault.from_settings(settings)  # no point signing in if it cannot be stored
    timeout = settings.TRIBE_PUBLISH_TIMEOUT.total_seconds()
    if network == "mastodon":
        if not instance:
            raise click.UsageError("Mastodon needs --instance, e.g. --instance mastodon.social")
        base, app = connect.mastodon_app(instance, settings)
        from tribe.networks.mastodon import authorize_url

        url = authorize_url(base, app, redirect_uri=settings.TRIBE_MASTODON_REDIRECT_URL)
        click.echo(f"1. Open this address, sign in and authorize tribe:\n   {url}")
        code = click.prompt("2. Paste the authorization code it shows")
        connected = connect.mastodon_connected(base, app, code, settings)
    elif network == "bluesky":
        if not handle:
            raise click.UsageError("Bluesky needs --handle, e.g. --handle alice.bsky.social")
        password = click.prompt(
            "App password (Bluesky: Settings > Privacy and security > App passwords)",
            hide_input=True,
        )
        connected = connect.bluesky_connected(pds, handle, password, settings)
    else:
        from tribe.networks.registry import x_app
        from tribe.networks.x import oauth1_finish, oauth1_start, oauth2_finish, oauth2_start

        app_keys = x_app(settings)
        if oauth2:
            if not settings.TRIBE_X_REDIRECT_URL:
                raise click.UsageError(
                    "OAuth 2.0 needs TRIBE_X_REDIRECT_URL (your X app's callback)"
                )
            url, state = oauth2_start(app_keys, redirect_uri=settings.TRIBE_X_REDIRECT_URL)
            click.echo(f"1. Open this address, sign in and authorize tribe:\n   {url}")
            answer = click.prompt("2. Paste the whole address X sent you back to")
            credentials = oauth2_finish(app_keys, state, answer, timeout=timeout)
        else:
            url, state = oauth1_start(app_keys, callback="oob", timeout=timeout)
            click.echo(f"1. Open this address, sign in and authorize tribe:\n   {url}")
            pin = click.prompt("2. Type the PIN X shows")
            credentials = oauth1_finish(app_keys, state, pin, timeout=timeout)
        connected = connect.x_connected(credentials, settings)
    info, released = connect.finish(email, connected, settings)
    click.echo(f"connected {info.network.value} {info.handle} (#{info.id})")
    if released:
        click.echo(f"{released} held reshare(s) queued again")


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

    if reshare is None and announce is None:
        raise click.UsageError("say what to change: --reshare and/or --announce/--no-announce")
    with session_scope() as session:
        info = set_sharing(
            session, email=email, account_id=account_id, reshare=reshare, announce_own=announce
        )
    click.echo(f"{info.network.value} {info.handle}: reshares by {info.reshare}")


@account.command("disconnect")
@click.argument("email")
@click.argument("account_id", type=int)
def account_disconnect(email: str, account_id: int) -> None:
    """Forget an account's credentials; its queue is held until it is connected again."""
    from tribe.infra.db import session_scope
    from tribe.networks.connect import disconnect

    with session_scope() as session:
        info = disconnect(session, email=email, account_id=account_id)
    click.echo(f"disconnected {info.network.value} {info.handle}; its queued reshares are held")
