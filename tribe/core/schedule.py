"""When a reshare goes out: each account's schedule, in its member's time zone.

Pure functions, no I/O. Two kinds of schedule, as members know them from Buffer and
friends:

- slots: fixed weekly times ("mon-fri 09:00,12:30; sat 10:00"), kept as the member
  wrote them (normalised: `normalise_slots`), not one line per day;
- interval: at least a minimum gap between posts, only inside posting hours.

Both have a daily cap. Everything is computed in the member's IANA zone (so a slot
stays at 09:00 local across a DST change) and returned in UTC. On top, a stagger:
two members' deliveries of the same post to the same network are at least
`stagger` apart, so a tribe never sends one link in a burst.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import ScheduleMode

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, order=True)
class Slot:
    weekday: int  # 0 = Monday
    at: time

    def __str__(self) -> str:
        return f"{DAYS[self.weekday]} {self.at:%H:%M}"


@dataclass(frozen=True)
class Schedule:
    """An account's schedule; `zone` is the member's."""

    zone: str = "UTC"
    mode: ScheduleMode = ScheduleMode.INTERVAL
    slots: tuple[Slot, ...] = ()
    min_gap: timedelta = timedelta(minutes=90)
    window_start: time = time(8, 0)
    window_end: time = time(21, 0)
    daily_cap: int = 6
    spec: str = ""  # the slots as the member wrote them (normalised); "" = from `slots`

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def slot_spec(self) -> str:
        return self.spec or format_slots(self.slots)

    def describe(self) -> str:
        cap = f", at most {self.daily_cap} a day"
        if self.mode == ScheduleMode.SLOTS:
            return "slots " + self.slot_spec + cap + f" ({self.zone})"
        minutes = int(self.min_gap.total_seconds() // 60)
        return (
            f"every {minutes} min between {self.window_start:%H:%M} and "
            f"{self.window_end:%H:%M}{cap} ({self.zone})"
        )


def parse_time(text: str) -> time:
    match = _TIME.match(text.strip())
    if not match:
        raise InvalidInputError(f"{text.strip()!r} is not a time of day; write e.g. 09:00 or 17:30")
    return time(int(match.group(1)), int(match.group(2)))


def _parse_days(text: str) -> list[int]:
    days: list[int] = []
    for raw in text.lower().split(","):
        part = raw.strip()
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise InvalidInputError(
                f"{part!r} is not a day or a range of days; use mon..sun, e.g. mon-fri or sat,sun"
            )
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            raise InvalidInputError(f"{part!r} runs backwards; write e.g. mon-fri")
        days += range(start, end + 1)
    return days


def _groups(spec: str) -> list[tuple[str, list[int], list[time]]]:
    """ "mon-fri 09:00,12:30; sat 10:00" -> [(days as written, weekdays, times), ...]."""
    groups = []
    for raw in spec.split(";"):
        group = raw.strip()
        if not group:
            continue
        days, _, times = group.partition(" ")
        if not times.strip():
            raise InvalidInputError(f"{group!r} needs days and times, e.g. 'mon-fri 09:00,17:00'")
        weekdays = _parse_days(days)
        clocks = [parse_time(text) for text in times.replace(" ", "").split(",")]
        groups.append((days, weekdays, clocks))
    if not groups:
        raise InvalidInputError("no slots given; write e.g. 'mon-fri 09:00,12:30; sat 10:00'")
    return groups


def parse_slots(spec: str) -> tuple[Slot, ...]:
    """ "mon-fri 09:00,12:30,17:00; sat 10:00" -> sorted unique slots."""
    return tuple(
        sorted(
            {Slot(d, clock) for _, days, clocks in _groups(spec) for d in days for clock in clocks}
        )
    )


def normalise_slots(spec: str) -> str:
    """The member's slots as they wrote them, tidied: their groups of days in their order,
    days in lower case, times as HH:MM, sorted, once each.

    " Mon-Fri 9:00, 12:30 ;sat 10:00" -> "mon-fri 09:00,12:30; sat 10:00".
    """
    tidy = []
    for days, _, clocks in _groups(spec):
        words = ",".join(part.strip() for part in days.lower().split(","))
        tidy.append(f"{words} {','.join(f'{c:%H:%M}' for c in sorted(set(clocks)))}")
    return "; ".join(tidy)


def _day_runs(days: list[int]) -> str:
    """[0, 1, 2, 3, 4, 6] -> "mon-fri,sun"; two days in a row stay two: "sat,sun"."""
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ",".join(
        f"{DAYS[r[0]]}-{DAYS[r[-1]]}" if len(r) > 2 else ",".join(DAYS[d] for d in r) for r in runs
    )


def format_slots(slots: Iterable[Slot]) -> str:
    """Slots written compactly: the days that share their times together, a run of days
    as a range ("mon-fri 09:00,12:30; sat,sun 10:00")."""
    by_day: dict[int, list[str]] = {}
    for slot in sorted(slots):
        by_day.setdefault(slot.weekday, []).append(f"{slot.at:%H:%M}")
    by_times: dict[tuple[str, ...], list[int]] = {}
    for d, times in by_day.items():
        by_times.setdefault(tuple(times), []).append(d)
    return "; ".join(f"{_day_runs(days)} {','.join(times)}" for times, days in by_times.items())


def parse_window(spec: str) -> tuple[time, time]:
    """ "08:00-21:00" -> (08:00, 21:00); the window must not cross midnight."""
    start, sep, end = spec.partition("-")
    if not sep:
        raise InvalidInputError(f"{spec!r} is not a window; write e.g. 08:00-21:00")
    first, last = parse_time(start), parse_time(end)
    if first >= last:
        raise InvalidInputError(
            f"posting hours {spec!r} must start before they end, e.g. 08:00-21:00"
        )
    return first, last


_GAP_PART = re.compile(r"(\d+)\s*(ms|d|h|m|s)")
_GAP_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_gap(text: str) -> timedelta:
    """The minimum gap of an interval schedule, as a member writes it: "90" (minutes),
    "90m", "1h30m", "2h". The one reading of the CLI's `--every` and the schedule form's
    gap field; its range is checked where the schedule changes."""
    value = text.strip().lower()
    if value.isdigit():
        value += "m"
    parts = _GAP_PART.findall(value)
    if not parts or _GAP_PART.sub("", value).strip():
        raise InvalidInputError(f"{text.strip()!r} is not a duration; write e.g. 90m or 1h30m")
    try:
        return timedelta(seconds=sum(int(n) * _GAP_UNITS[unit] for n, unit in parts))
    except OverflowError:
        raise InvalidInputError(f"{text.strip()!r} is far too long a gap") from None


@dataclass(frozen=True)
class Placement:
    """Where a delivery goes, and why there; `due_at` None means the queue is full.

    `skipped` names what ruled out the earlier times ("cap", "gap", "stagger"), and
    `capped_days` the member's local days whose cap was reached: what a member is told
    when a delivery cannot go earlier."""

    due_at: datetime | None
    reason: str
    skipped: frozenset[str] = frozenset()
    capped_days: tuple[date, ...] = ()


@dataclass
class _Check:
    schedule: Schedule
    taken: Sequence[datetime]
    avoid: Sequence[datetime]
    stagger: timedelta
    per_day: dict[date, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for moment in self.taken:
            day = self.local(moment).date()
            self.per_day[day] = self.per_day.get(day, 0) + 1

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.schedule.tz)

    def problem(self, moment: datetime) -> str | None:
        """Why `moment` will not do, or None."""
        schedule = self.schedule
        if self.per_day.get(self.local(moment).date(), 0) >= schedule.daily_cap:
            return "cap"
        spacing = timedelta(minutes=1) if schedule.mode == ScheduleMode.SLOTS else schedule.min_gap
        if any(abs(moment - other) < spacing for other in self.taken):
            return "gap"
        if any(abs(moment - other) < self.stagger for other in self.avoid):
            return "stagger"
        return None


def _ceil_minute(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    # A local time that does not exist (the hour skipped in spring) is moved on by the
    # gap; one that exists twice (autumn) is its first occurrence.
    return datetime.combine(day, clock, tz).astimezone(UTC)


def slot_times(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Every slot instant from `start` to `end`, in UTC, in order."""
    tz = schedule.tz
    first = start.astimezone(tz).date() - timedelta(days=1)
    days = (end - start).days + 3
    moments = {
        _at(first + timedelta(days=n), slot.at, tz)
        for n in range(days)
        for slot in schedule.slots
        if slot.weekday == (first + timedelta(days=n)).weekday()
    }
    return sorted(m for m in moments if start <= m <= end)


def _interval_candidates(
    schedule: Schedule, check: _Check, start: datetime, end: datetime
) -> list[datetime]:
    # The earliest acceptable moment is always one of these: every constraint is "at
    # least so far from", so a free stretch begins at now, at a window's start, or
    # right where a gap or a stagger ends.
    tz = schedule.tz
    first = start.astimezone(tz).date()
    points = {start}
    points |= {
        _window_opens(schedule, first + timedelta(days=n)) for n in range((end - start).days + 2)
    }
    points |= {t + schedule.min_gap for t in check.taken}
    points |= {a + check.stagger for a in check.avoid}
    return sorted(p for p in points if start <= p <= end)


def _window_opens(schedule: Schedule, day: date) -> datetime:
    """When the posting hours of `day` open, in UTC. Where the window's start does not
    exist that day (it falls in the hour skipped in spring), the hours open with the
    jump itself: the first minute whose local time is past the start (02:00 for a
    01:30 start on the day London skips from 01:00 to 02:00), not the start read at
    the old offset (02:30), which would leave the window's first half hour unused."""
    tz = schedule.tz
    naive = datetime.combine(day, schedule.window_start)
    before = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)  # the offset before a jump
    after = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)  # the offset after it
    if after >= before:  # the start exists (once, or twice in autumn: its first time)
        return before
    moment = after  # in the gap: the jump lies between the two readings
    while moment < before and not in_window(schedule, moment):
        moment += timedelta(minutes=1)
    return moment


def in_window(schedule: Schedule, moment: datetime) -> bool:
    clock = moment.astimezone(schedule.tz).time()
    return schedule.window_start <= clock < schedule.window_end


def place(
    schedule: Schedule,
    *,
    now: datetime,
    taken: Sequence[datetime],
    avoid: Sequence[datetime] = (),
    stagger: timedelta = timedelta(minutes=20),
    horizon: timedelta = timedelta(days=7),
) -> Placement:
    """The earliest moment in [now, now + horizon] that the schedule allows.

    `taken`: this account's deliveries that hold a time (queued or already sent).
    `avoid`: other members' deliveries of the same post to the same network.
    """
    start, end = _ceil_minute(now), now + horizon
    check = _Check(schedule, taken, avoid, stagger)
    if schedule.mode == ScheduleMode.SLOTS:
        if not schedule.slots:
            return Placement(None, "the schedule has no slots")
        candidates = slot_times(schedule, start, end)
    else:
        candidates = [
            c for c in _interval_candidates(schedule, check, start, end) if in_window(schedule, c)
        ]
    skipped: set[str] = set()
    capped: set[date] = set()
    for moment in candidates:
        problem = check.problem(moment)
        if problem is None:
            return Placement(
                moment, _reason(schedule, moment, skipped), frozenset(skipped),
                tuple(sorted(capped)),
            )  # fmt: skip
        skipped.add(problem)
        if problem == "cap":
            capped.add(check.local(moment).date())
    days = int(horizon.total_seconds() // 86400)
    return Placement(
        None, f"queue full: no free time in the next {days} days ({schedule.describe()})",
        frozenset(skipped), tuple(sorted(capped)),
    )  # fmt: skip


def misfit(schedule: Schedule, moment: datetime, *, taken: Sequence[datetime]) -> str | None:
    """Why `moment` is not a time this schedule would give, with `taken` (the account's
    other times) keeping theirs; None when it fits. Tribemates' stagger is not the
    schedule's business: it is not checked here."""
    if schedule.mode == ScheduleMode.SLOTS:
        if moment not in slot_times(schedule, moment, moment):
            return "not one of the slots"
    elif not in_window(schedule, moment):
        return "outside the posting hours"
    problem = _Check(schedule, taken, (), timedelta(0)).problem(moment)
    if problem == "cap":
        return f"over the daily cap of {schedule.daily_cap}"
    if problem == "gap":
        return "too close to another reshare"
    return None


def upcoming(
    schedule: Schedule, *, now: datetime, count: int, horizon: timedelta = timedelta(days=7)
) -> list[Placement]:
    """The next `count` times the schedule gives, each one taken before the next."""
    taken: list[datetime] = []
    result = []
    for _ in range(count):
        placement = place(schedule, now=now, taken=taken, horizon=horizon)
        if placement.due_at is None:
            break
        result.append(placement)
        taken.append(placement.due_at)
    return result


def _reason(schedule: Schedule, moment: datetime, skipped: set[str]) -> str:
    local = moment.astimezone(schedule.tz)
    hours = f"{schedule.window_start:%H:%M}-{schedule.window_end:%H:%M}"
    base = (
        f"slot {DAYS[local.weekday()]} {local:%H:%M}"
        if schedule.mode == ScheduleMode.SLOTS
        else f"first free time in posting hours {hours}"
    )
    notes = {
        "cap": f"daily cap of {schedule.daily_cap} reached before",
        "gap": "earlier times taken" if schedule.mode == ScheduleMode.SLOTS else "minimum gap kept",
        "stagger": "spaced from tribemates sharing the same post",
    }
    extra = [notes[k] for k in ("cap", "gap", "stagger") if k in skipped]
    return base + (f" ({'; '.join(extra)})" if extra else "")
