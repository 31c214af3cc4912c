"""The `tribe` command: what an operator (or a member in a terminal) can do."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import DBAPIError, IntegrityError

from config import SettingsError, get_settings
from tribe.errors import TribeError

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


class _Group(click.Group):
    """Turns our errors into one line on stderr and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (TribeError, SettingsError) as exc:
            raise click.ClickException(str(exc)) from None
        except IntegrityError:
            raise click.ClickException(
                "that already exists (someone else may have just added it); nothing was changed"
            ) from None
        except DBAPIError as exc:
            missing = "no such table" in str(exc) or "does not exist" in str(exc)
            hint = " - run `tribe db upgrade` first" if missing else ""
            first_line = str(exc.orig).strip().splitlines()[0]
            raise click.ClickException(f"database error: {first_line}{hint}") from None
        except OSError as exc:
            raise click.ClickException(str(exc)) from None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _records(items: Sequence[Any]) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in dataclasses.asdict(item).items()} for item in items]


def _print(items: Sequence[Any], as_json: bool, columns: Sequence[str], empty: str) -> None:
    records = _records(items)
    if as_json:
        click.echo(json.dumps(records, indent=2, ensure_ascii=False))
        return
    if not records:
        click.echo(empty)
        return

    def cell(value: Any) -> str:
        if isinstance(value, list):
            return ",".join(map(str, value))
        if isinstance(value, str) and len(value) > 19 and value[:4].isdigit() and "T" in value:
            return value[:16].replace("T", " ")  # ISO time, to the minute
        return "" if value is None else str(value)

    table = [[cell(r[c]) for c in columns] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(columns)]
    header = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    click.echo(header.rstrip())
    for row in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (INFO level).")
def main(verbose: bool) -> None:
    """tribe: bloggers band together and amplify each other's posts."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


# --- database ---------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the latest schema."""
    from tribe.migrate import upgrade

    upgrade()
    click.echo("database is up to date")


# --- members and tribes -----------------------------------------------------------------


@main.group()
def member() -> None:
    """Members of this tribe instance."""


@member.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone, e.g. Europe/Paris.")
def member_add(email: str, name: str, timezone: str) -> None:
    """Add a member."""
    from tribe.db import session_scope
    from tribe.members import add_member

    with session_scope() as session:
        created = add_member(session, email=email, display_name=name, timezone=timezone)
        click.echo(f"added member {created.email} (#{created.id})")


@main.group("tribe")
def tribe_group() -> None:
    """Tribes and who is in them."""


@tribe_group.command("create")
@click.argument("name")
@click.option("--chief", required=True, help="Email of the member who leads the tribe.")
@click.option("--description", default="", help="What the tribe is about.")
def tribe_create(name: str, chief: str, description: str) -> None:
    """Create a tribe; prints its slug."""
    from tribe.db import session_scope
    from tribe.members import create_tribe

    with session_scope() as session:
        created = create_tribe(session, name=name, chief_email=chief, description=description)
        click.echo(created.slug)


@tribe_group.command("add-member")
@click.argument("slug")
@click.argument("email")
def tribe_add_member(slug: str, email: str) -> None:
    """Add a member to a tribe."""
    from tribe.db import session_scope
    from tribe.members import add_to_tribe

    with session_scope() as session:
        add_to_tribe(session, slug=slug, email=email)
    click.echo(f"{email} joined {slug}")


# --- feeds ------------------------------------------------------------------------------


@main.group()
def feed() -> None:
    """Members' blog feeds."""


@feed.command("add")
@click.argument("email")
@click.argument("url")
def feed_add(email: str, url: str) -> None:
    """Add a member's feed; it is fetched once to check that it is a feed."""
    from tribe.feeds import poll_config, process_fetcher
    from tribe.feeds.registry import add_feed

    added = add_feed(email=email, url=url, fetcher=process_fetcher(), config=poll_config())
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
    from tribe.db import session_scope
    from tribe.feeds.registry import list_feeds

    with session_scope() as session:
        feeds = list_feeds(session, owner_email=owner)
    columns = ("id", "url", "title", "owner_email", "last_outcome", "error", "next_poll_at")
    _print(feeds, as_json, columns, "no feeds yet")


@main.command()
@click.option(
    "--feed", "feed_ids", type=int, multiple=True, help="Poll this feed now (repeatable)."
)
@click.option("--all", "everything", is_flag=True, help="Poll every feed now.")
@click.option("--workers", type=click.IntRange(1, 256), default=32, show_default=True)
def poll(feed_ids: tuple[int, ...], everything: bool, workers: int) -> None:
    """Poll feeds in this process: the due ones, the given ones, or all of them."""
    from tribe.feeds import poll_config, process_fetcher
    from tribe.feeds.sweep import prepare, sweep

    if feed_ids and everything:
        raise click.UsageError("use either --feed or --all, not both")
    ids = list(feed_ids) if feed_ids else None
    due = prepare(feed_ids=ids, everything=everything)
    with click.progressbar(length=due, label="polling", file=sys.stderr) as bar:
        summary = sweep(
            fetcher=process_fetcher(),
            config=poll_config(),
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
    from tribe.db import session_scope
    from tribe.importer import import_rows, read_rows

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


@main.command()
@click.argument("email")
@json_option
def stream(email: str, as_json: bool) -> None:
    """A member's pending stream items, newest first."""
    from tribe.db import session_scope
    from tribe.stream import pending_stream

    with session_scope() as session:
        items = pending_stream(session, email=email)
    columns = ("item_id", "title", "author_name", "tribes", "published_at", "url")
    _print(items, as_json, columns, "nothing waiting in this stream")


# --- running --------------------------------------------------------------------------------


@main.command()
def run() -> None:
    """Start the worker and beat in the foreground (Ctrl-C stops them)."""
    from tribe.runner import run as run_all

    settings = get_settings()
    broker = settings.TRIBE_BROKER_URL or f"embedded ({settings.broker_path})"
    click.echo(f"tribe: database {settings.TRIBE_DATABASE_URL}, broker {broker}")
    sys.exit(run_all(settings))


@main.command()
@click.option("--within", default=60, show_default=True, help="Seconds since the last sweep.")
def health(within: int) -> None:
    """Exit 0 when beat and a worker swept the feeds recently (for container health checks)."""
    from datetime import timedelta

    from tribe.db import session_scope
    from tribe.health import SWEEP_HEARTBEAT, is_alive

    with session_scope() as session:
        alive = is_alive(session, SWEEP_HEARTBEAT, within=timedelta(seconds=within))
    if not alive:
        raise click.ClickException(f"no feed sweep in the last {within} seconds")
    click.echo("ok")
