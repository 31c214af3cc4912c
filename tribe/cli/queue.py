"""A member's queue: what goes out when, and what to do about what did not."""

from __future__ import annotations

from typing import Any

import click

from tribe.cli.base import json_option, main, print_table


class _QueueGroup(click.Group):
    """`tribe queue EMAIL` shows the queue; `tribe queue move ...` and friends act on it."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands and "@" in args[0]:
            args = ["show", *args]
        return super().resolve_command(ctx, args)


@main.group(cls=_QueueGroup)
def queue() -> None:
    """A member's queue: tribe queue EMAIL [--json]; move, next, edit, cancel, pause, resume."""


@queue.command("show")
@click.argument("email")
@click.option("--all", "everything", is_flag=True, help="Include sent, failed and cancelled.")
@json_option
def queue_show(email: str, everything: bool, as_json: bool) -> None:
    """Deliveries with account, post, text, state and due time (UTC and local)."""
    from tribe.delivery.placing import placement_config
    from tribe.delivery.queue import list_queue, member_notices
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member

    with session_scope() as session:
        member = get_member(session, email)
        entries = list_queue(session, member=member, everything=everything)
        notices = member_notices(session, member=member, config=placement_config())
    columns: tuple[str, ...] = ("id", "network", "handle", "state", "due_local", "title", "text")
    if everything:  # what went out too: say which of it a dry run only logged
        columns = ("id", "network", "handle", "state", "dry_run", "due_local", "title", "text")
    print_table(entries, as_json, columns, "the queue is empty")
    for notice in notices:
        click.echo(f"note: {notice}", err=True)


@queue.command("move")
@click.argument("email")
@click.argument("delivery_id", type=int)
@click.argument("direction", type=click.Choice(["up", "down"]))
def queue_move(email: str, delivery_id: int, direction: str) -> None:
    """Swap a delivery's time with its neighbour's."""
    from tribe.delivery.changes import move
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member

    with session_scope() as session:
        member = get_member(session, email)
        entry = move(session, member=member, delivery_id=delivery_id, direction=direction)
    click.echo(f"#{entry.id} now goes out {entry.due_local}")


@queue.command("next")
@click.argument("email")
@click.argument("delivery_id", type=int)
def queue_next(email: str, delivery_id: int) -> None:
    """Move a delivery to its account's next allowed time (cap and stagger still hold)."""
    from tribe.delivery.changes import send_next
    from tribe.delivery.placing import placement_config
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member

    with session_scope() as session:
        member = get_member(session, email)
        entry = send_next(
            session, member=member, delivery_id=delivery_id, config=placement_config()
        )
    click.echo(f"#{entry.id} goes out next: {entry.due_local} ({entry.reason})")


@queue.command("edit")
@click.argument("email")
@click.argument("delivery_id", type=int)
@click.argument("text")
def queue_edit(email: str, delivery_id: int, text: str) -> None:
    """Your own words for a queued delivery (never cut: too long is refused)."""
    from tribe.delivery.changes import edit_text
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member

    with session_scope() as session:
        member = get_member(session, email)
        entry = edit_text(session, member=member, delivery_id=delivery_id, text=text)
    click.echo(f"#{entry.id} will say: {entry.text}")


@queue.command("cancel")
@click.argument("email")
@click.argument("delivery_id", type=int)
def queue_cancel(email: str, delivery_id: int) -> None:
    """Cancel a queued delivery."""
    from tribe.delivery.changes import cancel
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member

    with session_scope() as session:
        cancel(session, member=get_member(session, email), delivery_id=delivery_id)
    click.echo(f"cancelled #{delivery_id}")


@queue.command("pause")
@click.argument("email")
@click.option("--account", "account_id", type=int, help="Only this account.")
def queue_pause(email: str, account_id: int | None) -> None:
    """Send nothing until resumed (the whole queue, or one account)."""
    from tribe.delivery.changes import pause
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member

    with session_scope() as session:
        pause(session, member=get_member(session, email), account_id=account_id)
    click.echo(f"account #{account_id} paused" if account_id else "queue paused")


@queue.command("resume")
@click.argument("email")
@click.option("--account", "account_id", type=int, help="Only this account.")
def queue_resume(email: str, account_id: int | None) -> None:
    """Resume; deliveries whose time passed get new times (no burst)."""
    from tribe.delivery.changes import resume
    from tribe.delivery.placing import placement_config
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member

    with session_scope() as session:
        member = get_member(session, email)
        moved, dropped = resume(
            session, member=member, config=placement_config(), account_id=account_id
        )
    click.echo(f"queue resumed; {moved} overdue deliveries rescheduled")
    if dropped:
        click.echo(
            f"{dropped} found no time within the horizon and were cancelled (see tribe queue --all)"
        )


@queue.command("confirm")
@click.argument("email")
@click.argument("delivery_id", type=int)
def queue_confirm(email: str, delivery_id: int) -> None:
    """An unconfirmed delivery is on the network after all: record it as sent."""
    from tribe.delivery.changes import confirm
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member

    with session_scope() as session:
        confirm(session, member=get_member(session, email), delivery_id=delivery_id)
    click.echo(f"#{delivery_id} recorded as sent")


@queue.command("retry")
@click.argument("email")
@click.argument("delivery_id", type=int)
def queue_retry(email: str, delivery_id: int) -> None:
    """Queue a failed, held or unconfirmed (and absent) delivery again."""
    from tribe.delivery.changes import retry
    from tribe.delivery.placing import placement_config
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member

    with session_scope() as session:
        member = get_member(session, email)
        entry = retry(session, member=member, delivery_id=delivery_id, config=placement_config())
    click.echo(f"#{entry.id} queued again for {entry.due_local}")
