"""`tribe digest`: when a member's digest comes, what it says now, and sending it now."""

from __future__ import annotations

import click

from tribe.cli.base import main


@main.group()
def digest() -> None:
    """The digest email of a member's stream: daily, weekly or off."""


@digest.command("set")
@click.argument("email")
@click.option("--daily", metavar="HH:MM", help="Every day at this hour, in the member's zone.")
@click.option(
    "--weekly", nargs=2, metavar="DAY HH:MM", help="Once a week: a day (mon..sun) and an hour."
)
@click.option("--off", is_flag=True, help="No digest.")
def set_(email: str, daily: str | None, weekly: tuple[str, str] | None, off: bool) -> None:
    """Choose when EMAIL gets the digest: --daily 08:00, --weekly mon 08:00 or --off."""
    from tribe.alliance.digest import schedule_of, set_digest
    from tribe.core.digest import parse_weekday
    from tribe.core.kinds import DigestMode
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member

    chosen = [
        name for name, given in (("--daily", daily), ("--weekly", weekly), ("--off", off)) if given
    ]
    if len(chosen) != 1:
        conflict = f"not {' and '.join(chosen)} together" if chosen else "one is needed"
        raise click.UsageError(
            f"give one of --daily HH:MM, --weekly DAY HH:MM or --off ({conflict})"
        )
    with session_scope() as session:
        member = get_member(session, email)
        if daily is not None:
            set_digest(
                session, member, mode=DigestMode.DAILY, hour=daily, weekday=member.digest_weekday
            )
        elif weekly:
            day, hour = weekly
            set_digest(
                session, member, mode=DigestMode.WEEKLY, hour=hour, weekday=parse_weekday(day)
            )
        else:
            set_digest(session, member, mode=DigestMode.OFF)
        click.echo(f"{member.email}: the digest {schedule_of(member).describe()}")


@digest.command()
@click.argument("email")
def preview(email: str) -> None:
    """Print the text of EMAIL's digest as it would go now (nothing is sent or changed)."""
    from datetime import UTC, datetime

    from config import get_settings
    from tribe.alliance.digest import DigestConfig, compose, schedule_of
    from tribe.infra.db import read_scope
    from tribe.infra.keys import keyring_for
    from tribe.members.people import get_member

    settings = get_settings()
    config = DigestConfig.from_settings(settings)
    with read_scope() as session:
        member = get_member(session, email)
        found = compose(
            session,
            member,
            now=datetime.now(UTC),
            keys=keyring_for(settings),
            base_url=config.base_url,
            expiry=config.expiry,
            cap=config.cap,
        )
        address, schedule = member.email, schedule_of(member).describe()
    if found is None:
        click.echo(f"nothing is waiting in {address}'s stream: no digest would go ({schedule})")
        return
    click.echo(f"Subject: {found.letter.subject}\n")
    click.echo(found.letter.text, nl=False)


@digest.command()
@click.argument("email")
def send(email: str) -> None:
    """Send EMAIL's digest now, whatever the period, through the outbox."""
    from datetime import UTC, datetime

    from sqlmodel import col, select

    from config import get_settings
    from tribe.alliance.digest import DigestConfig, send_digest_now
    from tribe.core.kinds import MailState
    from tribe.infra.db import read_scope, session_scope
    from tribe.infra.keys import keyring_for
    from tribe.infra.mail import outbox_folder, transport_for
    from tribe.infra.models import Mail
    from tribe.infra.outbox import outbox_config, send_now
    from tribe.members.people import get_member

    settings = get_settings()
    with session_scope() as session:
        member = get_member(session, email)
        key = send_digest_now(
            session,
            member,
            now=datetime.now(UTC),
            keys=keyring_for(settings),
            config=DigestConfig.from_settings(settings),
        )
        address = member.email
    if key is None:
        click.echo(f"nothing is waiting in {address}'s stream: no digest sent")
        return
    send_now([key], transport_for(settings), config=outbox_config(settings))
    with read_scope() as session:
        state, reason = session.exec(
            select(col(Mail.state), col(Mail.reason)).where(col(Mail.key) == key)
        ).one()
    if state in (MailState.SENT, MailState.HANDED):
        where = settings.TRIBE_SMTP_HOST or f"the folder {outbox_folder(settings)}"
        click.echo(f"sent {address}'s digest to {where}")
    elif state == MailState.FAILED:
        raise click.ClickException(f"{address}'s digest was not sent: {reason}")
    else:
        click.echo(
            f"{address}'s digest is queued; it could not go right now ({reason}), "
            "the workers will try again"
        )
