"""The chief's panel for the operator: `tribe tribe health SLUG` and `tribe nudge SLUG
EMAIL` (members by email: the CLI is the operator's tool). `tribe health` is another
thing: the container health check (`tribe.cli.running`)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from config import get_settings
from tribe.cli.base import json_option, main
from tribe.cli.members import tribe_group

if TYPE_CHECKING:
    from tribe.alliance.health import Health


def _when(moment: datetime | None) -> str:
    from tribe.core import timefmt

    return timefmt.moment(moment, "UTC") if moment else "never"


def _health_json(health: Health) -> str:
    from tribe.alliance.health import RULES

    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"{type(value).__name__} is not JSON")

    data = dataclasses.asdict(health)
    data["rules"] = dataclasses.asdict(RULES)
    for row, found in zip(data["imbalance"], health.imbalance, strict=True):
        row["words"] = found.words
    data["healthy"] = health.healthy
    return json.dumps(data, indent=2, ensure_ascii=False, default=default)


def _print_health(health: Health) -> None:
    from tribe.alliance.health import RULES

    count = len(health.members)
    click.echo(
        f"{health.name} ({health.slug}): {count} active member{'s' * (count != 1)}, "
        f"checked {_when(health.now)}"
    )
    silence = health.silence
    click.echo("\nNew posts:")
    if silence is None:
        click.echo(f"  ok: new posts came in the last {RULES.silent_days} days")
    else:
        last = (
            f"the last found {_when(silence.last_post_at)}"
            if silence.last_post_at
            else "no post ever found"
        )
        click.echo(f"  none from any member in {silence.days} days ({last})")

    click.echo(f"\nQuiet members (no decision in {RULES.quiet_days} days):")
    for q in health.quiet:
        last = f"the last {_when(q.last_decision)}" if q.last_decision else "never decided"
        click.echo(
            f"  {q.who.email}  {q.who.name}: no decision in {q.days} days ({last}); "
            f"{q.waiting} post{'s' * (q.waiting != 1)} reached their stream since"
        )
    if not health.quiet:
        click.echo("  none")

    click.echo(f"\nFailing feeds (gone, or the last {RULES.feed_errors} polls failed):")
    for f in health.failing_feeds:
        state = "gone" if f.gone else f"failed {f.errors} polls in a row"
        click.echo(f"  {f.who.email}  feed #{f.feed_id} {f.url}: {state}: {f.error}")
    if not health.failing_feeds:
        click.echo("  none")

    click.echo("\nNo active account:")
    for w in health.no_account:
        click.echo(f"  {w.email}  {w.name}")
    if not health.no_account:
        click.echo("  none")

    click.echo(
        f"\nReceive far more than they give (over {RULES.balance_days} days; "
        f"{RULES.balance_min}+ received and {RULES.balance_factor}x given or more):"
    )
    for i in health.imbalance:
        click.echo(f"  {i.who.email}  {i.who.name}: {i.words}")
    if not health.imbalance:
        click.echo("  none")


@tribe_group.command("health")
@click.argument("slug")
@json_option
def tribe_health(slug: str, as_json: bool) -> None:
    """The chief's health panel of a tribe: quiet members, failing feeds, members with
    no active account, who receives far more than they give, and whether anyone posts.

    Not the container health check (that is `tribe health`).
    """
    from tribe.alliance.health import tribe_health as health_of
    from tribe.infra.db import read_scope
    from tribe.members.people import get_tribe

    with read_scope() as session:
        health = health_of(session, get_tribe(session, slug), now=datetime.now(UTC))
    if as_json:
        click.echo(_health_json(health))
    else:
        _print_health(health)


@main.command("nudge")
@click.argument("slug")
@click.argument("email")
@click.option(
    "--message",
    help="The note, as the chief would write it (default: the panel's proposal, which "
    "names what it saw).",
)
def nudge_command(slug: str, email: str, message: str | None) -> None:
    """Send a member a friendly note from the tribe's chief (once a week at most).

    The email is queued in the outbox; the workers send it (into data/outbox/ when no
    SMTP server is configured).
    """
    from tribe.alliance.health import tribe_health as health_of
    from tribe.alliance.herding import default_message, nudge
    from tribe.core.errors import NotFoundError
    from tribe.infra.db import session_scope
    from tribe.infra.models import Member
    from tribe.members.people import get_member, get_tribe

    settings = get_settings()
    now = datetime.now(UTC)
    with session_scope() as session:
        tribe = get_tribe(session, slug)
        chief = session.get(Member, tribe.chief_id)
        if chief is None:  # the foreign key keeps this from happening
            raise NotFoundError(f"{slug} has no chief")
        member = get_member(session, email)
        if message is None:
            health = health_of(session, tribe, now=now)
            who = next((w for w in health.members if w.member_id == member.id), None)
            if who is None:
                raise NotFoundError(f"{member.email} is not a member of {slug}")
            message = default_message(health, who, chief_name=chief.display_name)
        sent = nudge(
            session,
            tribe,
            chief,
            member,
            message=message,
            now=now,
            sender=settings.TRIBE_SMTP_FROM,
            base_url=settings.TRIBE_BASE_URL,
        )
        chief_email = chief.email
    where = "the SMTP server" if settings.TRIBE_SMTP_HOST else "data/outbox/ (no SMTP set)"
    click.echo(f"nudge from {chief_email} to {sent.to} queued; the workers send it to {where}")
    click.echo(f"the next nudge to them can go from {_when(sent.next_at)}", err=True)
