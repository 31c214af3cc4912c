"""When a digest is due (tribe.core.digest): the member's local hour, daily or weekly,
once per period across daylight saving time, and the hour and day as members write them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tribe.core.digest import (
    WINDOW,
    DigestSchedule,
    check_weekday,
    due_period,
    parse_hour,
    parse_weekday,
)
from tribe.core.errors import InvalidInputError
from tribe.core.kinds import DigestMode

DAILY, WEEKLY, OFF = DigestMode.DAILY, DigestMode.WEEKLY, DigestMode.OFF


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    zone: str, year: int, month: int, day: int, hour: int, minute: int, *, fold: int = 0
) -> datetime:
    """A wall-clock time in `zone`, as the UTC moment it is."""
    wall = datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone), fold=fold)
    return wall.astimezone(UTC)


# The hour, in the member's zone


def test_daily_is_due_from_the_local_hour_for_two_hours() -> None:
    paris = DigestSchedule(DAILY, "08:00", zone="Europe/Paris")  # UTC+1 in November
    assert due_period(paris, utc(2026, 11, 30, 6, 59)) is None
    assert due_period(paris, utc(2026, 11, 30, 7, 0)) == "2026-11-30"
    assert due_period(paris, utc(2026, 11, 30, 8, 59)) == "2026-11-30"
    # Not for the rest of the day: a post arriving in the afternoon waits for the
    # next day's digest.
    assert due_period(paris, utc(2026, 11, 30, 9, 0)) is None
    assert due_period(paris, utc(2026, 11, 30, 22, 0)) is None
    assert due_period(paris, utc(2026, 12, 1, 7, 0)) == "2026-12-01"


def test_a_late_hour_stays_due_past_midnight() -> None:
    late = DigestSchedule(DAILY, "23:30", zone="Asia/Kolkata")
    assert due_period(late, local("Asia/Kolkata", 2026, 11, 30, 23, 29)) is None
    assert due_period(late, local("Asia/Kolkata", 2026, 11, 30, 23, 30)) == "2026-11-30"
    assert due_period(late, local("Asia/Kolkata", 2026, 12, 1, 1, 29)) == "2026-11-30"
    assert due_period(late, local("Asia/Kolkata", 2026, 12, 1, 1, 30)) is None


def test_turning_the_digest_on_just_after_its_hour_sends_today_s_later_tomorrow_s() -> None:
    nine = DigestSchedule(DAILY, "09:00", zone="Europe/Paris")
    assert due_period(nine, local("Europe/Paris", 2026, 11, 30, 8, 0)) is None
    assert due_period(nine, local("Europe/Paris", 2026, 11, 30, 10, 0)) == "2026-11-30"
    assert due_period(nine, local("Europe/Paris", 2026, 11, 30, 12, 0)) is None


def test_the_day_is_the_member_s_not_utc_s() -> None:
    auckland = DigestSchedule(DAILY, "07:30", zone="Pacific/Auckland")  # UTC+13 in summer
    # 19:00 UTC on the 29th is 08:00 on the 30th in Auckland.
    assert due_period(auckland, utc(2026, 11, 29, 19, 0)) == "2026-11-30"
    chicago = DigestSchedule(DAILY, "21:00", zone="America/Chicago")  # UTC-6
    # 02:30 UTC on 1 Dec is still 20:30 on 30 Nov in Chicago: not yet.
    assert due_period(chicago, utc(2026, 12, 1, 2, 30)) is None
    assert due_period(chicago, utc(2026, 12, 1, 3, 0)) == "2026-11-30"


def test_weekly_is_due_on_its_day_from_its_hour() -> None:
    wednesday = DigestSchedule(WEEKLY, "18:30", weekday=2, zone="America/Chicago")
    # The ISO week of Monday 30 Nov 2026 is 2026-W49.
    assert due_period(wednesday, local("America/Chicago", 2026, 11, 30, 18, 30)) is None
    assert due_period(wednesday, local("America/Chicago", 2026, 12, 2, 18, 29)) is None
    assert due_period(wednesday, local("America/Chicago", 2026, 12, 2, 18, 30)) == "2026-W49"
    assert due_period(wednesday, local("America/Chicago", 2026, 12, 2, 20, 29)) == "2026-W49"
    assert due_period(wednesday, local("America/Chicago", 2026, 12, 3, 18, 30)) is None
    assert due_period(wednesday, local("America/Chicago", 2026, 12, 9, 18, 30)) == "2026-W50"


def test_the_iso_week_of_the_year_s_turn() -> None:
    thursday = DigestSchedule(WEEKLY, "08:00", weekday=3)
    # Thursday 31 Dec 2026 is in ISO week 53 of 2026; Monday 4 Jan 2027 begins week 1.
    assert due_period(thursday, utc(2026, 12, 31, 8, 0)) == "2026-W53"
    monday = DigestSchedule(WEEKLY, "08:00", weekday=0)
    assert due_period(monday, utc(2027, 1, 4, 8, 0)) == "2027-W01"
    sunday = DigestSchedule(WEEKLY, "23:00", weekday=6)
    # Sunday 3 Jan 2027 23:00 belongs to 2026-W53, still due just after midnight.
    assert due_period(sunday, utc(2027, 1, 4, 0, 30)) == "2026-W53"


def test_off_is_never_due() -> None:
    assert due_period(DigestSchedule(OFF), utc(2026, 11, 30, 23, 0)) is None


# Daylight saving time


def test_an_hour_skipped_in_spring_still_sends_once_just_after_the_jump() -> None:
    # Berlin skips 02:00-03:00 on Sunday 29 March 2026; 02:30 is taken as 03:30 CEST.
    berlin = DigestSchedule(DAILY, "02:30", zone="Europe/Berlin")
    assert due_period(berlin, local("Europe/Berlin", 2026, 3, 29, 1, 59)) is None
    assert due_period(berlin, local("Europe/Berlin", 2026, 3, 29, 3, 29)) is None
    assert due_period(berlin, local("Europe/Berlin", 2026, 3, 29, 3, 30)) == "2026-03-29"


def test_an_hour_that_happens_twice_in_autumn_is_its_first_and_stays_that_day_s() -> None:
    # Berlin goes back from 03:00 to 02:00 on Sunday 25 October 2026.
    berlin = DigestSchedule(DAILY, "02:30", zone="Europe/Berlin")
    first = local("Europe/Berlin", 2026, 10, 25, 2, 30, fold=0)
    second = local("Europe/Berlin", 2026, 10, 25, 2, 30, fold=1)
    assert second - first == timedelta(hours=1)
    assert due_period(berlin, first - timedelta(minutes=1)) is None
    assert due_period(berlin, first) == "2026-10-25"
    # The clock reads 02:10 again after the first 02:30: the same day, the same key.
    assert due_period(berlin, second - timedelta(minutes=20)) == "2026-10-25"
    assert due_period(berlin, second) == "2026-10-25"


def test_a_skipped_last_hour_of_the_day_is_sent_on_the_next_day_as_the_day_s() -> None:
    # Greenland jumps from 23:00 on Saturday 28 March 2026 to 00:00 on Sunday: 23:30 on
    # Saturday never happens. That day's digest goes at 00:30 on Sunday, once.
    nuuk = DigestSchedule(DAILY, "23:30", zone="America/Nuuk")
    assert due_period(nuuk, local("America/Nuuk", 2026, 3, 28, 22, 59)) is None
    assert due_period(nuuk, local("America/Nuuk", 2026, 3, 29, 0, 10)) is None
    assert due_period(nuuk, local("America/Nuuk", 2026, 3, 29, 0, 30)) == "2026-03-28"
    assert due_period(nuuk, local("America/Nuuk", 2026, 3, 29, 2, 29)) == "2026-03-28"
    assert due_period(nuuk, local("America/Nuuk", 2026, 3, 29, 2, 30)) is None
    assert due_period(nuuk, local("America/Nuuk", 2026, 3, 29, 23, 30)) == "2026-03-29"


def test_a_weekly_hour_skipped_at_the_week_s_end_is_still_that_week_s() -> None:
    nuuk = DigestSchedule(WEEKLY, "23:30", weekday=5, zone="America/Nuuk")  # Saturdays
    saturday_week = date(2026, 3, 28).isocalendar().week
    assert due_period(nuuk, local("America/Nuuk", 2026, 3, 29, 0, 45)) == (
        f"2026-W{saturday_week:02d}"
    )


ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Nuuk",  # jumps at midnight: the day's last hour skipped
    "America/Santiago",  # southern hemisphere, changes at midnight
    "Australia/Lord_Howe",  # a half-hour change
    "Asia/Kolkata",  # a half-hour offset, no DST
    "Pacific/Chatham",  # +12:45 / +13:45
)
# Days around the changes of 2026 in those zones (and ordinary ones).
STARTS = (
    date(2026, 3, 6),
    date(2026, 3, 26),
    date(2026, 4, 3),
    date(2026, 9, 4),
    date(2026, 9, 25),
    date(2026, 10, 23),
    date(2026, 10, 30),
    date(2026, 11, 27),
)
STEP = timedelta(minutes=10)  # a beat every 10 minutes


def beats(start: date, zone: str, days: int) -> list[datetime]:
    first = datetime.combine(start, datetime.min.time(), ZoneInfo(zone)).astimezone(UTC)
    return [first + STEP * n for n in range(int(timedelta(days=days) / STEP))]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.sampled_from(STARTS),
    hours=st.integers(0, 23),
    minutes=st.sampled_from((0, 15, 30, 45, 59)),
)
@example(zone="America/Nuuk", start=date(2026, 3, 26), hours=23, minutes=30)
@example(zone="Europe/Berlin", start=date(2026, 10, 23), hours=2, minutes=30)
def test_over_days_of_beats_every_local_day_gets_its_digest_once_never_early(
    zone: str, start: date, hours: int, minutes: int
) -> None:
    hour = f"{hours:02d}:{minutes:02d}"
    schedule = DigestSchedule(DAILY, hour, zone=zone)
    tz = ZoneInfo(zone)
    first_seen: dict[str, datetime] = {}
    for now in beats(start, zone, days=4):
        period = due_period(schedule, now)
        if period is None:
            continue
        first_seen.setdefault(period, now)
        # Never more than WINDOW after the hour of its own day.
        nominal = datetime.combine(date.fromisoformat(period), time(hours, minutes), tz)
        assert timedelta(0) <= now - nominal.astimezone(UTC) < WINDOW, (now, period)
    # Each whole local day in the span got its key: none lost, whatever the changes.
    days = [start + timedelta(days=n) for n in range(1, 3)]
    assert {d.isoformat() for d in days} <= set(first_seen), (sorted(first_seen), hour)
    for day in days:
        # The first moment the clock reads the hour that day (a skipped hour: the moment
        # it would have read it at the offset before the jump), or within a beat after.
        nominal = datetime.combine(day, time(hours, minutes), tz).astimezone(UTC)
        assert timedelta(0) <= first_seen[day.isoformat()] - nominal < STEP, day


@settings(max_examples=30, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.sampled_from(STARTS),
    weekday=st.integers(0, 6),
    hours=st.integers(0, 23),
)
def test_over_weeks_of_beats_every_week_gets_one_digest_on_its_day(
    zone: str, start: date, weekday: int, hours: int
) -> None:
    schedule = DigestSchedule(WEEKLY, f"{hours:02d}:00", weekday=weekday, zone=zone)
    tz = ZoneInfo(zone)
    seen: dict[str, datetime] = {}
    for now in beats(start, zone, days=22):
        period = due_period(schedule, now)
        if period is not None:
            seen.setdefault(period, now)
    monday = start - timedelta(days=start.weekday())
    whole_weeks = [monday + timedelta(weeks=n) for n in range(1, 3)]
    for week in whole_weeks:
        year, number, _ = week.isocalendar()
        key = f"{year}-W{number:02d}"
        assert key in seen, (key, sorted(seen))
        sent = seen[key].astimezone(tz)
        day = week + timedelta(days=weekday)
        # On its day at its hour, or just after midnight when that hour was skipped.
        assert sent.date() in (day, day + timedelta(days=1)), (key, sent)
        assert sent.date() > day or sent.hour >= hours, (key, sent)


# The hour and the day as members write them


@pytest.mark.parametrize(
    ("text", "hour"),
    [
        ("08:00", "08:00"),
        ("8:00", "08:00"),
        (" 17:30 ", "17:30"),
        ("0:05", "00:05"),
        ("23:59", "23:59"),
    ],
)
def test_hours_are_read_and_written_as_hh_mm(text: str, hour: str) -> None:
    assert parse_hour(text) == hour


@pytest.mark.parametrize(
    "text", ["24:00", "8", "08:60", "8am", "08:00:00", "", "-1:00", "\uff10\uff18:\uff10\uff10"]
)
def test_a_bad_hour_says_how_to_write_one(text: str) -> None:
    with pytest.raises(InvalidInputError, match="write it as HH:MM") as caught:
        parse_hour(text)
    assert repr(text.strip()) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "number"),
    [("mon", 0), ("Monday", 0), ("TUE", 1), ("wednesday", 2), (" sun ", 6), ("Sat", 5)],
)
def test_weekdays_by_name(text: str, number: int) -> None:
    assert parse_weekday(text) == number


@pytest.mark.parametrize("text", ["mo", "funday", "1", "", "mondays"])
def test_a_bad_weekday_lists_the_names(text: str) -> None:
    with pytest.raises(InvalidInputError, match="mon, tue, wed, thu, fri, sat or sun"):
        parse_weekday(text)


def test_weekday_numbers_are_0_to_6() -> None:
    assert check_weekday(6) == 6
    with pytest.raises(InvalidInputError, match="choose a day of the week"):
        check_weekday(7)
    with pytest.raises(InvalidInputError, match="choose a day of the week"):
        check_weekday(-1)


def test_describe() -> None:
    assert DigestSchedule(DAILY, "08:00", zone="Europe/Paris").describe() == (
        "daily at 08:00 (Europe/Paris)"
    )
    assert (
        DigestSchedule(WEEKLY, "18:30", 2, "UTC").describe() == "weekly on Wednesday at 18:30 (UTC)"
    )
    assert DigestSchedule(OFF).describe() == "off"
