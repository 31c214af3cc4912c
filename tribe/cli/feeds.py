"""Feeds: add, list, poll now, import a tribe from a file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from tribe.cli.base import json_option, main, print_table


@main.group()
def feed() -> None:
    """Members' blog feeds."""


@feed.command("add")
@click.argument("email")
@click.argument("url")
def feed_add(email: str, url: str) -> None:
    """Add a member's feed; it is fetched once to check that it is a feed."""
    from tribe.infra.db import read_scope
    from tribe.ingest import poll_config, process_fetcher
    from tribe.ingest.feeds import add_feed
    from tribe.members.people import get_member

    with read_scope() as session:
        owner_id = get_member(session, email).id
    assert owner_id is not None
    added = add_feed(owner_id=owner_id, url=url, fetcher=process_fetcher(), config=poll_config())
    info, first = added.info, added.first_poll
    click.echo(f"added feed #{info.id}: {info.title or info.url}")
    click.echo(f"  {first.new_posts} entries recorded, {first.announced} announced to tribemates")
    if info.warning:
        click.echo(f"  warning: {info.warning}")


@feed.command("list")
@click.option("--owner", help="Only this member's feeds.")
@json_option
def feed_list(owner: str | None, as_json: bool) -> None:
    """Feeds with their last status, error and next poll time."""
    from tribe.infra.db import session_scope
    from tribe.ingest.feeds import list_feeds
    from tribe.members.people import get_member

    with session_scope() as session:
        feeds = list_feeds(session, owner=None if owner is None else get_member(session, owner))
    columns = ("id", "url", "title", "owner_email", "last_outcome", "error", "next_poll_at")
    print_table(feeds, as_json, columns, "no feeds yet")


@main.command()
@click.option(
    "--feed", "feed_ids", type=int, multiple=True, help="Poll this feed now (repeatable)."
)
@click.option("--all", "everything", is_flag=True, help="Poll every feed now.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=32,
    show_default=True,
    help="Fetching threads in each process.",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=lambda: os.cpu_count() or 1,
    show_default="one per core",
    help="Processes polling side by side (fewer for a small sweep).",
)
def poll(feed_ids: tuple[int, ...], everything: bool, workers: int, processes: int) -> None:
    """Poll feeds now: the due ones, the given ones, or all of them."""
    from tribe.ingest import poll_config, process_fetcher
    from tribe.ingest.sweep import prepare, processes_for, sweep, sweep_in_processes

    if feed_ids and everything:
        raise click.UsageError("use either --feed or --all, not both")
    ids = list(feed_ids) if feed_ids else None
    due = prepare(feed_ids=ids, everything=everything)
    config = poll_config()
    processes = processes_for(due, wanted=processes, batch=config.batch, feed_ids=ids)
    with click.progressbar(length=due, label="polling", file=sys.stderr) as bar:
        if processes > 1:
            summary = sweep_in_processes(
                processes, workers=workers, on_done=lambda _: bar.update(1)
            )
        else:
            summary = sweep(
                fetcher=process_fetcher(),
                config=config,
                workers=workers,
                feed_ids=ids,
                on_done=lambda _: bar.update(1),
            )
    click.echo(
        f"polled {summary.polled}: {summary.not_modified} not modified, "
        f"{summary.new_posts} new posts ({summary.announced} announced), {summary.errors} errors"
    )


@main.command("import")
@click.argument("path", type=click.Path(path_type=Path))
def import_csv(path: Path) -> None:
    """Import members, tribes and feeds from CSV (email,name,feed_url,tribe)."""
    from tribe.infra.db import session_scope
    from tribe.ingest.importer import import_rows, read_rows

    rows = read_rows(path)
    with (
        click.progressbar(length=len(rows), label="importing", file=sys.stderr) as bar,
        session_scope() as session,
    ):
        summary = import_rows(session, rows, on_progress=bar.update)
    click.echo(
        f"{summary.rows} rows: {summary.members} new members, {summary.tribes} new tribes, "
        f"{summary.memberships} new memberships, {summary.feeds} new feeds"
    )
