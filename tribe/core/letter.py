"""When a tribe's letter goes out: weekly on a weekday, or monthly on a day of the month,
at an hour in the tribe's zone.

Pure: the plan and a moment come in, nothing is read. An edition's deadline is the first
send time after the previous edition's; the editor can send earlier, and what happens at
the deadline when they have not is the tribe's choice (`IfUnsent`). Daylight saving time
is read as the digest reads it (`tribe.core.digest`): a doubled hour is its first
occurrence, a skipped one is taken at the offset before the jump.

Monthly letters go on day 1 to 28, so that every month has the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tribe.core.digest import check_weekday, day_name, parse_hour, parse_weekday
from tribe.core.errors import InvalidInputError
from tribe.core.kinds import IfUnsent, LetterCadence

LAST_MONTH_DAY = 28
# Reminders to the editor of the turn, this long before the deadline.
REMINDERS = (timedelta(days=3), timedelta(days=1))


@dataclass(frozen=True)
class LetterSchedule:
    """`day` is a weekday (0 = Monday) for a weekly letter, a day of the month (1-28)
    for a monthly one; `hour` is "HH:MM" in `zone`."""

    cadence: LetterCadence
    day: int
    hour: str
    zone: str = "UTC"

    def describe(self) -> str:
        """ "weekly on Friday at 09:00 (Europe/Paris)", "monthly on day 1 at 18:00 (UTC)"."""
        if self.cadence == LetterCadence.WEEKLY:
            return f"weekly on {day_name(self.day)} at {self.hour} ({self.zone})"
        return f"monthly on day {self.day} at {self.hour} ({self.zone})"


def parse_cadence(text: str) -> LetterCadence:
    try:
        return LetterCadence(text.strip().lower())
    except ValueError:
        raise InvalidInputError(
            f"choose weekly or monthly for the letter, not {text.strip()!r}"
        ) from None


def parse_if_unsent(text: str) -> IfUnsent:
    try:
        return IfUnsent(text.strip().lower())
    except ValueError:
        raise InvalidInputError(
            "when the editor has not sent by the deadline, choose 'send' (the automatic "
            f"selection goes out) or 'skip' (no letter that time), not {text.strip()!r}"
        ) from None


def parse_day(cadence: LetterCadence, text: str) -> int:
    """ "fri" → 4 for a weekly letter; "15" → 15 for a monthly one."""
    if cadence == LetterCadence.WEEKLY:
        text = text.strip()
        return check_weekday(int(text)) if _number(text) else parse_weekday(text)
    return check_month_day(text)


def _number(text: str) -> bool:
    """Digits `int` reads: `"²".isdigit()` is True, and `int("²")` a ValueError."""
    return text.isascii() and text.isdigit()


def check_month_day(value: int | str) -> int:
    text = str(value).strip()
    if not _number(text) or not 1 <= int(text) <= LAST_MONTH_DAY:
        raise InvalidInputError(
            f"choose a day of the month from 1 to {LAST_MONTH_DAY} for a monthly letter "
            f"(every month has those), not {text!r}"
        )
    return int(text)


def check_zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    # OSError: a folder of the zone database ("Europe"), or a name too long for a file.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInputError(
            f"{zone!r} is not a time zone; write it as Region/City, e.g. Europe/Paris"
        ) from None
    return zone


def check_schedule(schedule: LetterSchedule) -> LetterSchedule:
    """The schedule with its day and hour checked (InvalidInputError saying what to fix)."""
    cadence = parse_cadence(schedule.cadence)
    day = (
        check_weekday(schedule.day)
        if cadence == LetterCadence.WEEKLY
        else check_month_day(schedule.day)
    )
    return LetterSchedule(cadence, day, parse_hour(schedule.hour), check_zone(schedule.zone))


def next_send(schedule: LetterSchedule, after: datetime) -> datetime:
    """The first send time strictly after `after`, in UTC."""
    zone = ZoneInfo(schedule.zone)
    hours, minutes = parse_hour(schedule.hour).split(":")
    clock = time(int(hours), int(minutes))
    local = after.astimezone(zone).date()
    for candidate in _days_from(schedule, local - timedelta(days=1)):
        moment = datetime.combine(candidate, clock, zone).astimezone(UTC)
        if moment > after:
            return moment
    raise AssertionError("unreachable: a schedule always has a next day")  # pragma: no cover


def _days_from(schedule: LetterSchedule, start: date) -> list[date]:
    """The schedule's days from `start` on, enough to hold the next send time."""
    if schedule.cadence == LetterCadence.WEEKLY:
        first = start + timedelta(days=(schedule.day - start.weekday()) % 7)
        return [first + timedelta(weeks=n) for n in range(3)]
    days = []
    year, month = start.year, start.month
    for _ in range(3):
        days.append(date(year, month, schedule.day))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return [d for d in days if d >= start] or days
