"""Who shares whom in a tribe, for the operator: members by email, every number."""

from __future__ import annotations

from dataclasses import dataclass, replace

import click

from tribe.cli.base import json_option, main, print_table


@dataclass(frozen=True)
class PairLine:
    """One ordered pair as the CLI prints it: sharer → author, by email."""

    sharer: str
    author: str
    sent: int
    pending: int
    skipped: int
    expired: int
    reach: int  # followers reached by the sent reshares whose reach is known
    reach_unknown: int  # sent reshares of unknown reach
    dry_run: int  # logged by a dry run, never posted: not in `sent`, no reach
    sharer_left: bool
    author_left: bool


COLUMNS = (
    "sharer",
    "author",
    "sent",
    "pending",
    "skipped",
    "expired",
    "reach",
    "reach_unknown",
    "dry_run",
)


@main.command()
@click.argument("slug")
@click.option(
    "--days", type=int, default=30, show_default=True, help="The window: days before now (1-365)."
)
@json_option
def reciprocity(slug: str, days: int, as_json: bool) -> None:
    """Who shares whom in a tribe: per sharer and author, the reshares sent, pending,
    skipped and expired, and the reach given (followers of the sharer's account when
    each reshare went out)."""
    from tribe.alliance.reciprocity import tribe_reciprocity
    from tribe.infra.db import read_scope
    from tribe.members.people import get_tribe

    with read_scope() as session:
        numbers = tribe_reciprocity(session, get_tribe(session, slug), days=days)
    lines = [
        PairLine(
            sharer=row.sharer_email,
            author=row.author_email,
            sent=row.sent,
            pending=row.pending,
            skipped=row.skipped,
            expired=row.expired,
            reach=row.reach,
            reach_unknown=row.reach_unknown,
            dry_run=row.dry_run,
            sharer_left=row.sharer_left,
            author_left=row.author_left,
        )
        for row in numbers.rows
    ]
    if not as_json:  # the table says who left beside their email
        lines = [
            replace(
                line,
                sharer=line.sharer + " (left)" * line.sharer_left,
                author=line.author + " (left)" * line.author_left,
            )
            for line in lines
        ]
    empty = f"no reshares and no decisions in {numbers.slug} in the last {days} days"
    print_table(lines, as_json, COLUMNS, empty)
    total, reach = numbers.total, numbers.reach
    summary = [f"{numbers.slug}, last {days} days: {total.sent} sent"]
    summary.append(f"reaching {total.reach:,} followers")
    if total.reach_unknown:
        summary.append(f"{_n(total.reach_unknown, 'reshare')} of unknown reach")
    if total.dry_run:
        summary.append(f"{_n(total.dry_run, 'dry run')} (logged, not posted)")
    now = [f"tribe reach now: {reach.followers:,} followers across {_n(reach.accounts, 'account')}"]
    if reach.unknown:
        now.append(f"{_n(reach.unknown, 'account')} unknown")
    click.echo(", ".join(summary), err=True)
    click.echo(", ".join(now), err=True)


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
