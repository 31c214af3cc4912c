"""`tribe letter`: a tribe's letter, written by its members in turn (the operator's side:
turn it on, see its editions, send the current one now)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import click

from tribe.cli.base import json_option, main, print_table


@main.group()
def letter() -> None:
    """A tribe's letter: weekly or monthly, written by its members in turn."""


@letter.command()
@click.argument("slug")
@click.option("--weekly", "weekly", metavar="DAY", help="Once a week on DAY (mon..sun).")
@click.option("--monthly", "monthly", metavar="DAY_OF_MONTH", help="Once a month on day 1-28.")
@click.option("--hour", required=True, metavar="HH:MM", help="When it goes, in the tribe's zone.")
@click.option(
    "--editors", metavar="EMAIL,...", help="These members write it in turn, in this order."
)
@click.option(
    "--if-unsent",
    type=click.Choice(["send", "skip"]),
    default="send",
    show_default=True,
    help="At the deadline without the editor: send the automatic selection, or skip.",
)
@click.option("--zone", metavar="REGION/CITY", help="The tribe's time zone (default: kept).")
def enable(
    slug: str,
    weekly: str | None,
    monthly: str | None,
    hour: str,
    editors: str | None,
    if_unsent: str,
    zone: str | None,
) -> None:
    """Turn SLUG's letter on (or change it): --weekly DAY or --monthly DAY_OF_MONTH."""
    from tribe.alliance.editions import configure, schedule_of
    from tribe.alliance.editions import editors as rotation
    from tribe.core.kinds import IfUnsent, LetterCadence
    from tribe.core.letter import parse_day
    from tribe.infra.db import session_scope
    from tribe.members.people import get_member, get_tribe

    if (weekly is None) == (monthly is None):
        raise click.UsageError("give one of --weekly DAY or --monthly DAY_OF_MONTH")
    cadence = LetterCadence.WEEKLY if weekly is not None else LetterCadence.MONTHLY
    day = parse_day(cadence, weekly if weekly is not None else str(monthly))
    with session_scope() as session:
        tribe = get_tribe(session, slug)
        editor_ids = None
        if editors is not None:
            emails = [e for e in (x.strip() for x in editors.split(",")) if e]
            editor_ids = [get_member(session, e).id or 0 for e in emails]
        plan = configure(
            session,
            tribe,
            cadence=cadence,
            day=day,
            hour=hour,
            if_unsent=IfUnsent(if_unsent),
            zone=zone,
            editor_ids=editor_ids,
        )
        names = ", ".join(e.name for e in rotation(session, tribe, plan)) or "nobody yet"
        click.echo(f"{tribe.slug}: the letter goes {schedule_of(tribe, plan).describe()}")
        click.echo(f"editors in turn: {names}")
        unsent = "the automatic selection goes" if if_unsent == "send" else "it is skipped"
        click.echo(f"when the editor has not sent it by then, {unsent}")


@letter.command()
@click.argument("slug")
def disable(slug: str) -> None:
    """Turn SLUG's letter off (past editions stay in the archive)."""
    from tribe.alliance.editions import disable as turn_off
    from tribe.infra.db import session_scope
    from tribe.members.people import get_tribe

    with session_scope() as session:
        turn_off(session, get_tribe(session, slug))
    click.echo(f"{slug}: the letter is off")


@dataclass(frozen=True)
class EditionRow:
    number: int
    editor: str
    state: str
    deadline: datetime
    recipients: int
    sent: int
    failed: int


@letter.command()
@click.argument("slug")
@json_option
def status(slug: str, as_json: bool) -> None:
    """SLUG's editions: number, editor, state, deadline, recipients and emails sent."""
    from sqlmodel import col, select

    from tribe.alliance.counting import aware
    from tribe.alliance.editions import plan_of, schedule_of
    from tribe.alliance.sending import progress
    from tribe.infra.db import read_scope
    from tribe.infra.models import Edition, Member
    from tribe.members.people import get_tribe

    with read_scope() as session:
        tribe = get_tribe(session, slug)
        plan = plan_of(session, tribe)
        editions = session.exec(
            select(Edition)
            .where(col(Edition.tribe_id) == tribe.id)
            .order_by(col(Edition.number).desc())
        ).all()
        names = dict(session.exec(select(col(Member.id), col(Member.display_name))).all())
        rows = []
        for e in editions:
            done = progress(session, e)
            rows.append(
                EditionRow(
                    number=e.number,
                    editor="(the tribe's selection)"
                    if e.automatic
                    else names.get(e.editor_id, "")
                    if e.editor_id
                    else "(nobody yet)",
                    state=e.state.value,
                    deadline=aware(e.deadline_at),
                    recipients=e.recipients or done.recipients,
                    sent=done.sent,
                    failed=done.failed,
                )
            )
        if plan is None:
            heading = f"{tribe.slug} has no letter; turn it on with `tribe letter enable`"
        else:
            state = "on" if plan.enabled else "off"
            heading = f"{tribe.slug}: the letter is {state}, {schedule_of(tribe, plan).describe()}"
    if not as_json:
        click.echo(heading)
    print_table(
        rows,
        as_json,
        ["number", "editor", "state", "deadline", "recipients", "sent", "failed"],
        "no edition yet",
    )


@letter.command()
@click.argument("slug")
def send(slug: str) -> None:
    """Send SLUG's current edition now, as its editor left it (the automatic selection
    when they have not written one); the outbox sends it at TRIBE_MAIL_RATE."""
    from datetime import UTC

    from config import get_settings
    from tribe.alliance.sending import LetterConfig, queue_recipients, send_current
    from tribe.infra.db import session_scope
    from tribe.infra.keys import keyring_for
    from tribe.members.people import get_tribe

    settings = get_settings()
    config = LetterConfig.from_settings(settings)
    now = datetime.now(UTC)
    with session_scope() as session:
        tribe = get_tribe(session, slug)
        edition = send_current(session, tribe, now=now, config=config)
        edition_id, number = edition.id or 0, edition.number
    queued = queue_recipients(edition_id, now=now, keys=keyring_for(settings), config=config)
    click.echo(
        f"{slug}: letter #{number} queued for {queued} recipient{'s' * (queued != 1)}; "
        "the workers send it (see `tribe letter status`)"
    )
