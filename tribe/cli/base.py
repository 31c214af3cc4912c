"""The `tribe` command's frame: the top-level group, one-line errors, tables and JSON."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import click
from sqlalchemy.exc import DBAPIError, IntegrityError

from config import SettingsError
from tribe.core.errors import TribeError

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


class _UsageLine(click.ClickException):
    """A misused command line, in one line (click's own usage error takes four)."""

    exit_code = 2


def _one_line(exc: click.UsageError, ctx: click.Context) -> _UsageLine:
    path = exc.ctx.command_path if exc.ctx else ctx.command_path
    return _UsageLine(f"{exc.format_message()} (see `{path} --help`)")


class _Group(click.Group):
    """Turns our errors into one line on stderr and exit status 1, never a traceback; a
    misused command line is one line too, with exit status 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:  # the top level's own options (subcommands are parsed inside invoke)
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise _one_line(exc, ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise _one_line(exc, ctx) from None
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


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def records(items: Sequence[Any]) -> list[dict[str, Any]]:
    return [{k: plain(v) for k, v in dataclasses.asdict(item).items()} for item in items]


def print_table(items: Sequence[Any], as_json: bool, columns: Sequence[str], empty: str) -> None:
    rows = records(items)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo(empty)
        return

    def cell(value: Any) -> str:
        if isinstance(value, list):
            return ",".join(map(str, value))
        if isinstance(value, str) and len(value) > 19 and value[:4].isdigit() and "T" in value:
            return value[:16].replace("T", " ")  # ISO time, to the minute
        return "" if value is None else str(value)

    table = [[cell(r[c]) for c in columns] for r in rows]
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
