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


@member.command("login-link")
@click.argument("email")
@click.option("--operator", is_flag=True, help="Make them an operator now, on this host.")
def member_login_link(email: str, operator: bool) -> None:
    """Print a link where a member sets their password (and is signed in).

    For members who came in with `tribe import` or `tribe member add`, and for a
    forgotten password. The link works once, for TRIBE_RESET_TTL. `--operator` gives
    the member the operator's pages right away: no link ever carries that power.
    """
    from tribe.auth import make_operator, reset_token
    from tribe.db import session_scope
    from tribe.keys import keyring_for

    settings = get_settings()
    with session_scope() as session:
        if operator:
            make_operator(session, email=email)
        token = reset_token(session, email=email, keys=keyring_for(settings))
    hours = settings.TRIBE_RESET_TTL.total_seconds() / 3600
    click.echo(f"{settings.TRIBE_BASE_URL}/reset/{token}")
    if operator:
        click.echo(f"{email} is an operator now", err=True)
    click.echo(f"(works once, for {hours:g} hour{'s' * (hours != 1)})", err=True)


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
    from tribe.approvals import approval_config
    from tribe.db import session_scope
    from tribe.queue import member_notices
    from tribe.stream import pending_stream

    with session_scope() as session:
        items = pending_stream(session, email=email)
        notices = member_notices(session, email=email, config=approval_config())
    columns = ("item_id", "post_id", "title", "author_name", "author_email", "tribes",
               "published_at", "url")  # fmt: skip
    _print(items, as_json, columns, "nothing waiting in this stream")
    for notice in notices:
        click.echo(f"note: {notice}", err=True)


# --- decisions ------------------------------------------------------------------------------


def _parse_texts(pairs: Sequence[str]) -> dict[Any, str]:
    from tribe.accounts import check_network

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
    from tribe.approvals import approval_config, approve_all
    from tribe.approvals import approve as approve_item
    from tribe.db import session_scope
    from tribe.stream import pending_stream

    if everything == (item_id is not None):
        raise click.UsageError("give an ITEM_ID or --all")
    if everything and texts:
        raise click.UsageError("--text goes with one item, not --all")
    with session_scope() as session:
        if everything:
            ids = [i.item_id for i in pending_stream(session, email=email)]
            outcome = approve_all(session, email=email, item_ids=ids, config=approval_config())
            for decision in outcome.decisions:
                click.echo(f"approved #{decision.item_id}")
                _echo_decision(decision)
            for error in outcome.errors:
                click.echo(f"not approved {error}")
            return
        assert item_id is not None
        decision = approve_item(
            session, email=email, item_id=item_id, own=_parse_texts(texts), config=approval_config()
        )
    if not decision.repeated:
        click.echo(f"approved #{item_id}")
    _echo_decision(decision)


@main.command()
@click.argument("email")
@click.argument("item_id", type=int)
def skip(email: str, item_id: int) -> None:
    """Skip a stream item."""
    from tribe.approvals import skip as skip_item
    from tribe.db import session_scope

    with session_scope() as session:
        decision = skip_item(session, email=email, item_id=item_id)
    click.echo(
        f"item #{item_id} was already skipped" if decision.repeated else f"skipped #{item_id}"
    )


@main.command()
@click.argument("email")
@click.argument("author_email")
@click.option("--off", is_flag=True, help="Unmute.")
def mute(email: str, author_email: str, off: bool) -> None:
    """Stop (or, with --off, resume) a tribemate's posts reaching your stream."""
    from tribe.approvals import set_muted
    from tribe.db import session_scope

    with session_scope() as session:
        set_muted(session, email=email, author_email=author_email, muted=not off)
    click.echo(f"{author_email} {'unmuted' if off else 'muted'} for {email}")


@main.command("auto-approve")
@click.argument("email")
@click.argument("author_email")
@click.option("--daily-cap", type=int, default=3, show_default=True)
@click.option("--off", is_flag=True, help="Stop approving automatically.")
def auto_approve(email: str, author_email: str, daily_cap: int, off: bool) -> None:
    """Approve a tribemate's new posts automatically (at most --daily-cap in 24 hours)."""
    from tribe.approvals import set_auto_approve
    from tribe.db import session_scope

    with session_scope() as session:
        set_auto_approve(
            session, email=email, author_email=author_email, enabled=not off, daily_cap=daily_cap
        )
    state = "off" if off else f"on, at most {daily_cap} a day"
    click.echo(f"auto-approve of {author_email} for {email}: {state}")


# --- accounts, templates, schedules, queue --------------------------------------------------


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
    from tribe.accounts import add_account
    from tribe.db import session_scope

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
    from tribe.accounts import list_accounts
    from tribe.db import session_scope

    with session_scope() as session:
        accounts = list_accounts(session, email=email)
    _print(
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
    from tribe.publishing.base import PublishError

    try:
        _connect_account(email, network, instance, handle, pds, oauth2)
    except PublishError as exc:  # a network refused a sign-in step: one line, exit 1
        raise click.ClickException(str(exc)) from None


def _connect_account(
    email: str, network: str, instance: str | None, handle: str | None, pds: str, oauth2: bool
) -> None:
    from tribe import connect

    settings = get_settings()
    connect.check_member(email)
    from tribe.vault import Vault

    Vault.from_settings(settings)  # no point signing in if it cannot be stored
    timeout = settings.TRIBE_PUBLISH_TIMEOUT.total_seconds()
    if network == "mastodon":
        if not instance:
            raise click.UsageError("Mastodon needs --instance, e.g. --instance mastodon.social")
        base, app = connect.mastodon_app(instance, settings)
        from tribe.publishing.mastodon import authorize_url

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
        from tribe.publishing.registry import x_app
        from tribe.publishing.x import oauth1_finish, oauth1_start, oauth2_finish, oauth2_start

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
    from tribe.accounts import set_sharing
    from tribe.db import session_scope

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
    from tribe.connect import disconnect
    from tribe.db import session_scope

    with session_scope() as session:
        info = disconnect(session, email=email, account_id=account_id)
    click.echo(f"disconnected {info.network.value} {info.handle}; its queued reshares are held")


@main.group()
def template() -> None:
    """Share templates: {title} {url} {author} {tags}."""


@template.command("set")
@click.argument("email")
@click.argument("network")
@click.argument("text")
def template_set(email: str, network: str, text: str) -> None:
    """Set the member's template for one network."""
    from tribe.accounts import set_template
    from tribe.db import session_scope

    with session_scope() as session:
        set_template(session, email=email, network=network, template=text)
    click.echo(f"template for {network} set")


@template.command("show")
@click.argument("email")
@json_option
def template_show(email: str, as_json: bool) -> None:
    """The member's template for each network."""
    from tribe.accounts import templates_of
    from tribe.db import session_scope

    with session_scope() as session:
        templates = templates_of(session, email=email)
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
    from tribe.accounts import list_accounts
    from tribe.db import session_scope

    with session_scope() as session:
        accounts = list_accounts(session, email=email)
    _print(accounts, as_json, ("id", "network", "handle", "paused", "schedule"), "no accounts yet")


@schedule.command("set")
@click.argument("email")
@click.option("--account", "account_id", type=int, help="Only this account (default: all).")
@click.option("--slots", help='Weekly times, e.g. "mon-fri 09:00,12:30,17:00; sat 10:00".')
@click.option("--every", help="Minimum gap in interval mode, e.g. 90m.")
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
    from config.settings import parse_duration
    from tribe.accounts import ScheduleChange
    from tribe.approvals import approval_config
    from tribe.db import session_scope
    from tribe.errors import InvalidInputError
    from tribe.queue import save_schedule
    from tribe.schedule import parse_window

    if not any((slots, every, between, daily_cap, timezone)):
        raise click.UsageError(
            "nothing to change: give --slots, --every/--between, --daily-cap or --timezone"
        )
    try:
        gap = parse_duration(every) if every else None
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
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
            session, email=email, change=change, account_id=account_id, config=approval_config()
        )
    for info in saved.accounts:
        click.echo(f"{info.network.value} {info.handle}: {info.schedule}")
    if saved.retimed.message():
        click.echo(saved.retimed.message())


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
    from tribe.approvals import approval_config
    from tribe.db import session_scope
    from tribe.queue import list_queue, member_notices

    with session_scope() as session:
        entries = list_queue(session, email=email, everything=everything)
        notices = member_notices(session, email=email, config=approval_config())
    columns: tuple[str, ...] = ("id", "network", "handle", "state", "due_local", "title", "text")
    if everything:  # what went out too: say which of it a dry run only logged
        columns = ("id", "network", "handle", "state", "dry_run", "due_local", "title", "text")
    _print(entries, as_json, columns, "the queue is empty")
    for notice in notices:
        click.echo(f"note: {notice}", err=True)


@queue.command("move")
@click.argument("email")
@click.argument("delivery_id", type=int)
@click.argument("direction", type=click.Choice(["up", "down"]))
def queue_move(email: str, delivery_id: int, direction: str) -> None:
    """Swap a delivery's time with its neighbour's."""
    from tribe.db import session_scope
    from tribe.queue import move

    with session_scope() as session:
        entry = move(session, email=email, delivery_id=delivery_id, direction=direction)
    click.echo(f"#{entry.id} now goes out {entry.due_local}")


@queue.command("next")
@click.argument("email")
@click.argument("delivery_id", type=int)
def queue_next(email: str, delivery_id: int) -> None:
    """Move a delivery to its account's next allowed time (cap and stagger still hold)."""
    from tribe.approvals import approval_config
    from tribe.db import session_scope
    from tribe.queue import send_next

    with session_scope() as session:
        entry = send_next(session, email=email, delivery_id=delivery_id, config=approval_config())
    click.echo(f"#{entry.id} goes out next: {entry.due_local} ({entry.reason})")


@queue.command("edit")
@click.argument("email")
@click.argument("delivery_id", type=int)
@click.argument("text")
def queue_edit(email: str, delivery_id: int, text: str) -> None:
    """Your own words for a queued delivery (never cut: too long is refused)."""
    from tribe.db import session_scope
    from tribe.queue import edit_text

    with session_scope() as session:
        entry = edit_text(session, email=email, delivery_id=delivery_id, text=text)
    click.echo(f"#{entry.id} will say: {entry.text}")


@queue.command("cancel")
@click.argument("email")
@click.argument("delivery_id", type=int)
def queue_cancel(email: str, delivery_id: int) -> None:
    """Cancel a queued delivery."""
    from tribe.db import session_scope
    from tribe.queue import cancel

    with session_scope() as session:
        cancel(session, email=email, delivery_id=delivery_id)
    click.echo(f"cancelled #{delivery_id}")


@queue.command("pause")
@click.argument("email")
@click.option("--account", "account_id", type=int, help="Only this account.")
def queue_pause(email: str, account_id: int | None) -> None:
    """Send nothing until resumed (the whole queue, or one account)."""
    from tribe.db import session_scope
    from tribe.queue import pause

    with session_scope() as session:
        pause(session, email=email, account_id=account_id)
    click.echo(f"account #{account_id} paused" if account_id else "queue paused")


@queue.command("resume")
@click.argument("email")
@click.option("--account", "account_id", type=int, help="Only this account.")
def queue_resume(email: str, account_id: int | None) -> None:
    """Resume; deliveries whose time passed get new times (no burst)."""
    from tribe.approvals import approval_config
    from tribe.db import session_scope
    from tribe.queue import resume

    with session_scope() as session:
        moved, dropped = resume(
            session, email=email, config=approval_config(), account_id=account_id
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
    from tribe.db import session_scope
    from tribe.queue import confirm

    with session_scope() as session:
        confirm(session, email=email, delivery_id=delivery_id)
    click.echo(f"#{delivery_id} recorded as sent")


@queue.command("retry")
@click.argument("email")
@click.argument("delivery_id", type=int)
def queue_retry(email: str, delivery_id: int) -> None:
    """Queue a failed, held or unconfirmed (and absent) delivery again."""
    from tribe.approvals import approval_config
    from tribe.db import session_scope
    from tribe.queue import retry

    with session_scope() as session:
        entry = retry(session, email=email, delivery_id=delivery_id, config=approval_config())
    click.echo(f"#{entry.id} queued again for {entry.due_local}")


# --- keys -----------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """The keys that encrypt stored tokens and passwords (TRIBE_SECRET_KEYS)."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key for TRIBE_SECRET_KEYS."""
    from tribe.vault import generate_key

    click.echo(generate_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the first key of TRIBE_SECRET_KEYS."""
    from tribe.db import session_scope
    from tribe.vault import Vault, rotate_all

    vault = Vault.from_settings(get_settings())
    with session_scope() as session:
        count = rotate_all(session, vault)
    click.echo(f"re-encrypted {count} secret(s) with the first key; older keys can now go")


# --- running --------------------------------------------------------------------------------


@main.command()
@click.option("--host", help="Address to listen on (default: TRIBE_WEB_HOST).")
@click.option("--port", type=int, help="Port to listen on (default: TRIBE_WEB_PORT).")
def web(host: str | None, port: int | None) -> None:
    """Serve the web app and the JSON API (what `tribe run` starts beside the workers)."""
    import uvicorn

    from tribe.keys import keyring_for

    settings = get_settings()
    keyring_for(settings)  # no key, no signed cookie: say so now, not at the first page
    logging.getLogger().setLevel(settings.TRIBE_LOG_LEVEL.upper())
    # No access log: invite and password links carry a token in their path. The app logs
    # each request itself, with the route's pattern instead of the path.
    uvicorn.run(
        "tribe.web.app:create_app",
        factory=True,
        host=host or settings.TRIBE_WEB_HOST,
        port=port or settings.TRIBE_WEB_PORT,
        access_log=False,
        log_level=settings.TRIBE_LOG_LEVEL.lower(),
        # The client's address (sign-in limits) comes from X-Forwarded-For only when the
        # request comes through one of these proxies.
        proxy_headers=True,
        forwarded_allow_ips=settings.TRIBE_TRUSTED_PROXIES,
    )


def _exec(process: str) -> None:
    """Become one of the processes `tribe run` starts, with exactly its command line."""
    import os

    from tribe.runner import commands

    command = commands(get_settings())[process]
    sys.stdout.flush()
    os.execv(command[0], command)  # noqa: S606 - our own command line, no shell


@main.command()
def worker() -> None:
    """Run a Celery worker as `tribe run` does (what docker compose's worker runs)."""
    _exec("worker")


@main.command()
def beat() -> None:
    """Run Celery beat as `tribe run` does (run one, however many workers there are)."""
    _exec("beat")


@main.command()
def run() -> None:
    """Start the web app, the worker and beat in the foreground (Ctrl-C stops them all)."""
    from tribe.runner import run as run_all

    settings = get_settings()
    broker = settings.TRIBE_BROKER_URL or f"embedded ({settings.broker_path})"
    click.echo(f"tribe: database {settings.TRIBE_DATABASE_URL}, broker {broker}")
    click.echo(
        f"tribe: the web app is at http://{settings.TRIBE_WEB_HOST}:{settings.TRIBE_WEB_PORT}"
    )
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


if __name__ == "__main__":  # `python -m tribe.cli`, as `tribe run` starts the web app
    main()
