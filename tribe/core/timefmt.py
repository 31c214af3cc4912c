"""The one way tribe writes a moment for a member: in their IANA zone, with the zone's
abbreviation, e.g. "Mon 30 Nov, 14:05 CET" ("Mon 30 Nov 2025, 14:05 CET" in another year).

Pages (the Jinja `local` filter), the queue and history, schedule previews, the CLI's
human output and the API's prose fields all use it, so a member reads one format
everywhere. Pure: the current moment is passed in (or read once), nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def _zone(zone: str | ZoneInfo) -> ZoneInfo:
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)


def _aware(moment: datetime) -> datetime:
    # Stored times are UTC; a driver that drops the zone (SQLite) gives them back naive.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def zone_abbreviation(local: datetime) -> str:
    """ "CET", "CDT", "UTC"; where the zone has no letters for it (tzdata writes "+04" or
    "+0545"), the offset as "+0400" / "+0545"."""
    name = local.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{rest:02d}"


def day(moment: datetime, zone: str | ZoneInfo, *, now: datetime | None = None) -> str:
    """ "Mon 30 Nov" (with the year when it is not this year, in that zone)."""
    tz = _zone(zone)
    local = _aware(moment).astimezone(tz)
    this_year = _aware(now or datetime.now(UTC)).astimezone(tz).year
    year = "" if local.year == this_year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year}"


def moment(when: datetime, zone: str | ZoneInfo, *, now: datetime | None = None) -> str:
    """ "Mon 30 Nov, 14:05 CET": the day, the time and the zone's abbreviation."""
    local = _aware(when).astimezone(_zone(zone))
    return f"{day(local, zone, now=now)}, {local:%H:%M} {zone_abbreviation(local)}"


def relative(when: datetime, *, now: datetime | None = None) -> str:
    """ "in 5 min", "in 3 h 10 min", "in 2 days", "5 min ago", "now"."""
    seconds = (_aware(when) - _aware(now or datetime.now(UTC))).total_seconds()
    minutes = round(abs(seconds) / 60)
    if minutes == 0:
        return "now"
    if minutes < 60:
        span = f"{minutes} min"
    elif minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        span = f"{hours} h" + (f" {rest} min" if rest and hours < 10 else "")
    else:
        days = round(minutes / (24 * 60))
        span = f"{days} day{'s' * (days != 1)}"
    return f"in {span}" if seconds > 0 else f"{span} ago"
