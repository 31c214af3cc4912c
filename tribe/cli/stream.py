"""A member's stream and their decisions: approve, skip, mute, auto-approve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from tribe.cli.base import json_option, main, print_table


@main.command()
@click.argument("email")
@json_option
def stream(email: str, as_json: bool) -> None:
    """A member's pending stream items, newest first."""
    from tribe.delivery.placing import placement_config
    from tribe.delivery.queue import member_notices
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member
    from tribe.stream.items import pending_stream

    with session_scope() as session:
        member = get_member(session, email)
        items = pending_stream(session, member=member)
        notices = member_notices(session, member=member, config=placement_config())
    columns = (
        "item_id",
        "post_id",
        "title",
        "author_name",
        "author_email",
        "tribes",
        "published_at",
        "url",
    )
    print_table(items, as_json, columns, "nothing waiting in this stream")
    for notice in notices:
        click.echo(f"note: {notice}", err=True)


def _parse_texts(pairs: Sequence[str]) -> dict[Any, str]:
    from tribe.members.accounts import check_network

    texts = {}
    for pair in pairs:
        network, sep, text = pair.partition("=")
        if not sep:
            raise click.UsageError(f"--text takes NETWORK=TEXT, got {pair!r}")
        texts[check_network(network)] = text
    return texts


def _echo_decision(decision: Any) -> None:
    if decision.repeated:
        click.echo(f"item #{decision.item_id} was already {decision.state.value}")
    for queued in decision.queued:
        click.echo(
            f"  queued #{queued.delivery_id} on {queued.network.value} {queued.handle} "
            f"at {queued.due_at:%Y-%m-%d %H:%M} UTC ({queued.reason})"
        )
    for full in decision.full:
        click.echo(f"  not queued: {full}")


@main.command()
@click.argument("email")
@click.argument("item_id", type=int, required=False)
@click.option("--text", "texts", multiple=True, metavar="NETWORK=TEXT", help="Your own words.")
@click.option("--all", "everything", is_flag=True, help="Approve every pending item.")
def approve(email: str, item_id: int | None, texts: tuple[str, ...], everything: bool) -> None:
    """Approve a stream item: it is queued on each of your accounts."""
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member
    from tribe.stream.approvals import approval_config, approve_all
    from tribe.stream.approvals import approve as approve_item
    from tribe.stream.items import pending_stream

    if everything == (item_id is not None):
        raise click.UsageError("give an ITEM_ID or --all")
    if everything and texts:
        raise click.UsageError("--text goes with one item, not --all")
    config = approval_config()
    with session_scope() as session:
        member = get_member(session, email)
        if everything:
            ids = [i.item_id for i in pending_stream(session, member=member)]
            outcome = approve_all(session, member=member, item_ids=ids, config=config)
            for decision in outcome.decisions:
                click.echo(f"approved #{decision.item_id}")
                _echo_decision(decision)
            for error in outcome.errors:
                click.echo(f"not approved {error}")
            return
        assert item_id is not None
        decision = approve_item(
            session, member=member, item_id=item_id, own=_parse_texts(texts), config=config
        )
    if not decision.repeated:
        click.echo(f"approved #{item_id}")
    _echo_decision(decision)


@main.command()
@click.argument("email")
@click.argument("item_id", type=int)
def skip(email: str, item_id: int) -> None:
    """Skip a stream item."""
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member
    from tribe.stream.approvals import skip as skip_item

    with session_scope() as session:
        decision = skip_item(session, member=get_member(session, email), item_id=item_id)
    click.echo(
        f"item #{item_id} was already skipped" if decision.repeated else f"skipped #{item_id}"
    )


@main.command()
@click.argument("email")
@click.argument("author_email")
@click.option("--off", is_flag=True, help="Unmute.")
def mute(email: str, author_email: str, off: bool) -> None:
    """Stop (or, with --off, resume) a tribemate's posts reaching your stream."""
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member
    from tribe.stream.preferences import set_muted

    with session_scope() as session:
        member, author = get_member(session, email), get_member(session, author_email)
        set_muted(session, member=member, author=author, muted=not off)
    click.echo(f"{author_email} {'unmuted' if off else 'muted'} for {email}")


@main.command("auto-approve")
@click.argument("email")
@click.argument("author_email")
@click.option("--daily-cap", type=int, default=3, show_default=True)
@click.option("--off", is_flag=True, help="Stop approving automatically.")
def auto_approve(email: str, author_email: str, daily_cap: int, off: bool) -> None:
    """Approve a tribemate's new posts automatically (at most --daily-cap in 24 hours)."""
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member
    from tribe.stream.preferences import set_auto_approve

    with session_scope() as session:
        member, author = get_member(session, email), get_member(session, author_email)
        set_auto_approve(
            session, member=member, author=author, enabled=not off, daily_cap=daily_cap
        )
    state = "off" if off else f"on, at most {daily_cap} a day"
    click.echo(f"auto-approve of {author_email} for {email}: {state}")
