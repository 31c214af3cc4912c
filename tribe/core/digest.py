"""When a member's digest is due: daily at a local hour, or weekly on a day at an hour.

Pure: the member's choices and `now` come in, nothing is read. The answer is the
*period* the digest is for ("2026-11-30", "2026-W49"); the outbox row's key is made of
it (`digest:{member}:{period}`), and a key is sent once, so however many beats ask
during a period, the member gets one digest for it.

A period's digest is due from its send time for `WINDOW` (two hours): a beat running
late or workers restarting still send it, but a post arriving in the afternoon does not
make the 08:00 digest go at 15:00 (that day there was nothing to send at 08:00; the next
day's lists it). A member who turns the digest on at 10:00 for 09:00 gets today's; at
noon, tomorrow's. An instance down over the hour skips that period, never sends two
periods' digests at once.

Daylight saving time, the way `tribe.core.schedule` places slots: an hour that exists
twice (autumn) is its first occurrence; one that does not exist (the hour skipped in
spring) is taken at the offset before the jump, so 02:30 on the day Berlin skips from
02:00 to 03:00 sends at 03:30. Where the skipped hour is the day's last (Greenland
jumps from 23:00 on Saturday to 00:00 on Sunday), that moment falls on the next day;
the digest is still the previous day's, due from then, so none is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import DigestMode

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_HOUR = "08:00"
WINDOW = timedelta(hours=2)  # how long after its send time a digest is still due
_HOUR = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$", re.ASCII)


@dataclass(frozen=True)
class DigestSchedule:
    """A member's digest choices: `hour` is "HH:MM" in `zone`; `weekday` (0 = Monday)
    counts for the weekly digest only."""

    mode: DigestMode
    hour: str = DEFAULT_HOUR
    weekday: int = 0
    zone: str = "UTC"

    def describe(self) -> str:
        """ "daily at 08:00 (Europe/Paris)", "weekly on Monday at 18:30 (UTC)", "off"."""
        if self.mode == DigestMode.OFF:
            return "off"
        if self.mode == DigestMode.WEEKLY:
            return f"weekly on {day_name(self.weekday)} at {self.hour} ({self.zone})"
        return f"daily at {self.hour} ({self.zone})"


def parse_hour(text: str) -> str:
    """ "8:00", " 08:00 " → "08:00"; anything else is an InvalidInputError saying how to
    write it."""
    match = _HOUR.match(text.strip())
    if match is None:
        raise InvalidInputError(
            f"{text.strip()!r} is not a time of day; write it as HH:MM, e.g. 08:00 or 17:30"
        )
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_weekday(text: str) -> int:
    """ "mon", "Monday", "MON" → 0 ... "sun", "sunday" → 6."""
    word = text.strip().lower()
    for number, name in enumerate(DAYS):
        if word in (name, name[:3]):
            return number
    raise InvalidInputError(
        f"{text.strip()!r} is not a day of the week; write mon, tue, wed, thu, fri, sat or "
        "sun (or the whole name)"
    )


def check_weekday(weekday: int) -> int:
    if not 0 <= weekday <= 6:
        raise InvalidInputError(
            f"choose a day of the week: 0 (Monday) to 6 (Sunday), not {weekday}"
        )
    return weekday


def day_name(weekday: int) -> str:
    return DAYS[check_weekday(weekday)].capitalize()


def due_period(schedule: DigestSchedule, now: datetime) -> str | None:
    """The period whose digest is due at `now` ("2026-11-30" daily, "2026-W49" weekly):
    its send time has passed, less than `WINDOW` ago. None when the digest is off or no
    period is due."""
    if schedule.mode == DigestMode.OFF:
        return None
    zone = ZoneInfo(schedule.zone)
    clock = _clock(schedule.hour)
    current = _period_start(schedule.mode, now.astimezone(zone).date())
    # The period before counts too: its send time may fall into this one (23:30's digest
    # due until 01:30, or a skipped last hour of the day).
    for start in (current, _period_start(schedule.mode, current - timedelta(days=1))):
        send = send_time(schedule, start, zone=zone, clock=clock)
        if send <= now < send + WINDOW:
            return period_key(schedule.mode, start)
    return None


def send_time(
    schedule: DigestSchedule,
    start: date,
    *,
    zone: ZoneInfo | None = None,
    clock: time | None = None,
) -> datetime:
    """When the digest of the period beginning on `start` goes, in UTC."""
    zone = zone or ZoneInfo(schedule.zone)
    clock = clock or _clock(schedule.hour)
    day = start + timedelta(days=schedule.weekday if schedule.mode == DigestMode.WEEKLY else 0)
    # fold=0: the first of a doubled hour; a skipped hour at the offset before the jump.
    return datetime.combine(day, clock, zone).astimezone(UTC)


def period_key(mode: DigestMode, start: date) -> str:
    if mode == DigestMode.WEEKLY:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.isoformat()


def _period_start(mode: DigestMode, day: date) -> date:
    """The first day of the period `day` is in: itself, or the Monday of its ISO week."""
    return day - timedelta(days=day.weekday()) if mode == DigestMode.WEEKLY else day


def _clock(hour: str) -> time:
    hours, minutes = parse_hour(hour).split(":")
    return time(int(hours), int(minutes))
