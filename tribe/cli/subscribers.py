"""`tribe subscribers`: who reads a tribe's letter from its public page, for the
operator. Counts by default; the addresses are the subscribers' own and are printed
only when asked for (`--show-addresses`), so a shared terminal or log shows none."""

from __future__ import annotations

import json

import click

from tribe.cli.base import json_option, main, print_table, records

COLUMNS = ("email", "state", "since", "refusals", "reason")


@main.command("subscribers")
@click.argument("slug")
@click.option(
    "--show-addresses",
    is_flag=True,
    help="Also list each address, with its state, since when, refusals in a row and why.",
)
@json_option
def subscribers_command(slug: str, show_addresses: bool, as_json: bool) -> None:
    """How many people subscribe to the letter of tribe SLUG, by state: pending (not
    confirmed yet), confirmed, unsubscribed, set aside (their server refused the letter
    3 times in a row)."""
    from tribe.alliance.subscribers import subscriber_counts, subscriber_lines
    from tribe.infra.db import read_scope
    from tribe.members.people import get_tribe

    with read_scope() as session:
        tribe = get_tribe(session, slug)
        assert tribe.id is not None
        name, slug = tribe.name, tribe.slug
        counts = subscriber_counts(session, tribe_id=tribe.id)
        lines = subscriber_lines(session, tribe_id=tribe.id) if show_addresses else []
    if as_json:
        found: dict[str, object] = {"tribe": slug, "counts": counts}
        if show_addresses:
            found["subscribers"] = records(lines)
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    click.echo(f"Subscribers to the letter of {name} ({slug}):")
    width = max(len(state) for state in counts)
    for state, count in counts.items():
        click.echo(f"  {state.replace('_', ' ').ljust(width)}  {count}")
    if show_addresses:
        click.echo("")
        print_table(lines, False, COLUMNS, empty="nobody has subscribed yet")
