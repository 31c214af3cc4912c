"""The one date/time format: the member's zone, its abbreviation, the year only when it is
not this year."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tribe.core import timefmt

NOW = datetime(2026, 11, 30, 13, 5, tzinfo=UTC)  # Monday


def test_a_moment_in_the_members_zone_with_its_abbreviation() -> None:
    assert timefmt.moment(NOW, "Europe/Paris", now=NOW) == "Mon 30 Nov, 14:05 CET"
    assert timefmt.moment(NOW, "America/Chicago", now=NOW) == "Mon 30 Nov, 07:05 CST"
    assert timefmt.moment(NOW, ZoneInfo("Europe/Paris"), now=NOW) == "Mon 30 Nov, 14:05 CET"


def test_utc() -> None:
    assert timefmt.moment(NOW, "UTC", now=NOW) == "Mon 30 Nov, 13:05 UTC"
    # A time a driver gave back without its zone is UTC, as every stored time is.
    assert timefmt.moment(NOW.replace(tzinfo=None), "UTC", now=NOW) == "Mon 30 Nov, 13:05 UTC"


def test_the_day_the_clocks_change() -> None:
    # Paris, Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST.
    before = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    after = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert timefmt.moment(before, "Europe/Paris", now=NOW) == "Sun 29 Mar, 01:30 CET"
    assert timefmt.moment(after, "Europe/Paris", now=NOW) == "Sun 29 Mar, 03:30 CEST"
    # New York, Sunday 1 November 2026: 01:30 happens twice; the abbreviation tells them apart.
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    second = first + timedelta(hours=1)
    assert timefmt.moment(first, "America/New_York", now=NOW) == "Sun 1 Nov, 01:30 EDT"
    assert timefmt.moment(second, "America/New_York", now=NOW) == "Sun 1 Nov, 01:30 EST"


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Kathmandu", "Mon 30 Nov, 18:50 +0545"),  # tzdata has no letters for it: "+0545"
        ("Asia/Dubai", "Mon 30 Nov, 17:05 +0400"),  # tzdata writes "+04"
        ("America/Sao_Paulo", "Mon 30 Nov, 10:05 -0300"),  # and "-03"
        ("Asia/Kolkata", "Mon 30 Nov, 18:35 IST"),  # tzdata does have letters for India
    ],
)
def test_a_zone_without_a_letter_abbreviation_shows_its_offset(zone: str, expected: str) -> None:
    assert timefmt.moment(NOW, zone, now=NOW) == expected


def test_the_year_only_when_it_is_not_this_year() -> None:
    last_year = datetime(2025, 11, 30, 13, 5, tzinfo=UTC)
    next_year = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    assert timefmt.moment(last_year, "Europe/Paris", now=NOW) == "Sun 30 Nov 2025, 14:05 CET"
    assert timefmt.moment(next_year, "UTC", now=NOW) == "Mon 4 Jan 2027, 09:00 UTC"
    assert timefmt.day(next_year, "UTC", now=NOW) == "Mon 4 Jan 2027"
    assert timefmt.day(NOW, "UTC", now=NOW) == "Mon 30 Nov"
    # "This year" is the member's: on New Year's Eve in London it is already 2027 in Auckland.
    eve = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
    new_year = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
    assert timefmt.moment(new_year, "Pacific/Auckland", now=eve) == "Sat 2 Jan, 01:00 NZDT"
    assert timefmt.moment(new_year, "UTC", now=eve) == "Fri 1 Jan 2027, 12:00 UTC"


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=20), "now"),
        (timedelta(minutes=5), "in 5 min"),
        (timedelta(hours=3, minutes=10), "in 3 h 10 min"),
        (timedelta(hours=12, minutes=10), "in 12 h"),
        (timedelta(days=2, hours=3), "in 2 days"),
        (-timedelta(minutes=5), "5 min ago"),
        (-timedelta(days=1), "1 day ago"),
    ],
)
def test_relative(delta: timedelta, expected: str) -> None:
    assert timefmt.relative(NOW + delta, now=NOW) == expected
