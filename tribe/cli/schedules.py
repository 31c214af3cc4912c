"""Share templates and posting schedules."""

from __future__ import annotations

import json

import click

from tribe.cli.base import json_option, main, print_table


@main.group()
def template() -> None:
    """Share templates: {title} {url} {author} {tags}."""


@template.command("set")
@click.argument("email")
@click.argument("network")
@click.argument("text")
def template_set(email: str, network: str, text: str) -> None:
    """Set the member's template for one network."""
    from tribe.infra.db import session_scope
    from tribe.members.accounts import set_template
    from tribe.members.people import get_member

    with session_scope() as session:
        set_template(session, member=get_member(session, email), network=network, template=text)
    click.echo(f"template for {network} set")


@template.command("show")
@click.argument("email")
@json_option
def template_show(email: str, as_json: bool) -> None:
    """The member's template for each network."""
    from tribe.infra.db import session_scope
    from tribe.members.accounts import templates_of
    from tribe.members.people import get_member

    with session_scope() as session:
        templates = templates_of(get_member(session, email))
    if as_json:
        click.echo(json.dumps(templates, indent=2, ensure_ascii=False))
        return
    for network, text in templates.items():
        click.echo(f"{network}: {text!r}")


@main.group()
def schedule() -> None:
    """When each account's reshares go out."""


@schedule.command("show")
@click.argument("email")
@json_option
def schedule_show(email: str, as_json: bool) -> None:
    """Each account's schedule, in the member's time zone."""
    from tribe.infra.db import session_scope
    from tribe.members.accounts import list_accounts
    from tribe.members.people import get_member

    with session_scope() as session:
        accounts = list_accounts(session, member=get_member(session, email))
    print_table(
        accounts, as_json, ("id", "network", "handle", "paused", "schedule"), "no accounts yet"
    )


@schedule.command("set")
@click.argument("email")
@click.option("--account", "account_id", type=int, help="Only this account (default: all).")
@click.option("--slots", help='Weekly times, e.g. "mon-fri 09:00,12:30,17:00; sat 10:00".')
@click.option("--every", help="Minimum gap in interval mode, e.g. 90m or 1h30m (90: minutes).")
@click.option("--between", help="Posting hours in interval mode, e.g. 08:00-21:00.")
@click.option("--daily-cap", type=int, help="At most this many a day.")
@click.option("--timezone", help="The member's IANA zone, e.g. Europe/Paris.")
def schedule_set(
    email: str,
    account_id: int | None,
    slots: str | None,
    every: str | None,
    between: str | None,
    daily_cap: int | None,
    timezone: str | None,
) -> None:
    """Change the schedule (slots, or --every/--between), cap or time zone.

    Queued deliveries that no longer fit the new schedule get the next times it allows.
    """
    from tribe.core.schedule import parse_gap, parse_window
    from tribe.delivery.changes import save_schedule
    from tribe.delivery.placing import placement_config
    from tribe.infra.db import session_scope
    from tribe.members.accounts import ScheduleChange
    from tribe.members.people import get_member

    if not any((slots, every, between, daily_cap, timezone)):
        raise click.UsageError(
            "nothing to change: give --slots, --every/--between, --daily-cap or --timezone"
        )
    gap = parse_gap(every) if every else None
    window = parse_window(between) if between else None
    change = ScheduleChange(
        slots=slots,
        every=gap,
        between=(f"{window[0]:%H:%M}", f"{window[1]:%H:%M}") if window else None,
        daily_cap=daily_cap,
        timezone=timezone,
    )
    with session_scope() as session:
        saved = save_schedule(
            session,
            member=get_member(session, email),
            change=change,
            account_id=account_id,
            config=placement_config(),
        )
    for info in saved.accounts:
        click.echo(f"{info.network.value} {info.handle}: {info.schedule}")
    if saved.retimed.message():
        click.echo(saved.retimed.message())
