from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hitcraft_assets.mixpanel.timezones import (
    export_dates_for_utc_interval,
    legacy_local_seconds_to_utc,
    legacy_time_converter,
    project_today,
    reporting_day_bounds,
)


def _local_seconds(y, m, d, hh, mm=0, ss=0.0) -> float:
    """Wall-clock local time written as if it were UTC (what legacy projects store)."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC).timestamp() + ss


def _utc(y, m, d, hh, mm=0) -> float:
    return datetime(y, m, d, hh, mm, tzinfo=UTC).timestamp()


# --- project_today -----------------------------------------------------------------------------------------


def test_project_today_near_midnight():
    now = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    assert project_today("UTC", now) == date(2026, 3, 1)
    assert project_today("America/Los_Angeles", now) == date(2026, 2, 28)
    assert project_today("Asia/Tokyo", datetime(2026, 2, 28, 16, 0, tzinfo=UTC)) == date(2026, 3, 1)
    assert project_today(ZoneInfo("Europe/Berlin"), now) == date(2026, 3, 1)


def test_project_today_rejects_naive_now():
    with pytest.raises(ValueError):
        project_today("UTC", datetime(2026, 3, 1))


def test_project_today_default_now_is_current():
    assert project_today("UTC") == datetime.now(UTC).date()


# --- reporting_day_bounds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "hours", "start"),
    [
        ("America/New_York", date(2026, 3, 8), 23, datetime(2026, 3, 8, 5, tzinfo=UTC)),
        (
            "America/New_York",
            date(2026, 11, 1),
            25,
            datetime(2026, 11, 1, 4, tzinfo=UTC),
        ),
        ("America/New_York", date(2026, 6, 1), 24, datetime(2026, 6, 1, 4, tzinfo=UTC)),
        ("Europe/Berlin", date(2026, 3, 29), 23, datetime(2026, 3, 28, 23, tzinfo=UTC)),
        (
            "Europe/Berlin",
            date(2026, 10, 25),
            25,
            datetime(2026, 10, 24, 22, tzinfo=UTC),
        ),
        ("UTC", date(2026, 3, 29), 24, datetime(2026, 3, 29, tzinfo=UTC)),
    ],
)
def test_reporting_day_bounds_dst(tz, day, hours, start):
    lo, hi = reporting_day_bounds(day, tz)
    assert lo == start
    assert hi - lo == timedelta(hours=hours)
    assert lo.tzinfo is UTC and hi.tzinfo is UTC
    # consecutive days tile the time line
    assert reporting_day_bounds(day + timedelta(days=1), tz)[0] == hi


def test_reporting_day_bounds_midnight_gap():
    # America/Santiago springs forward at 00:00 local (2026-09-06): the day starts at the transition.
    lo, hi = reporting_day_bounds(date(2026, 9, 6), "America/Santiago")
    assert hi - lo == timedelta(hours=23)
    assert reporting_day_bounds(date(2026, 9, 5), "America/Santiago")[1] == lo


# --- export_dates_for_utc_interval -----------------------------------------------------------------------


def test_export_dates_for_utc_interval():
    start, end = reporting_day_bounds(date(2026, 3, 1), "Europe/Berlin")  # 2026-02-28 23:00Z .. 03-01 23:00Z
    assert export_dates_for_utc_interval(start, end, "UTC") == (
        date(2026, 2, 28),
        date(2026, 3, 1),
    )
    assert export_dates_for_utc_interval(start, end, "Europe/Berlin") == (
        date(2026, 3, 1),
        date(2026, 3, 1),
    )
    assert export_dates_for_utc_interval(start, end, "America/Los_Angeles") == (
        date(2026, 2, 28),
        date(2026, 3, 1),
    )
    assert export_dates_for_utc_interval(start, end, "Asia/Tokyo") == (
        date(2026, 3, 1),
        date(2026, 3, 2),
    )


def test_export_dates_end_is_exclusive():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    assert export_dates_for_utc_interval(start, start + timedelta(days=1), "UTC") == (date(2026, 3, 1),) * 2
    assert export_dates_for_utc_interval(start, start + timedelta(days=2), "UTC") == (
        date(2026, 3, 1),
        date(2026, 3, 2),
    )


def test_export_dates_rejects_bad_intervals():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        export_dates_for_utc_interval(start, start, "UTC")
    with pytest.raises(ValueError):
        export_dates_for_utc_interval(datetime(2026, 3, 1), datetime(2026, 3, 2), "UTC")


# --- legacy_local_seconds_to_utc -------------------------------------------------------------------------


def test_legacy_utc_project_is_identity():
    t = _local_seconds(2026, 3, 1, 12, 0, 0.25)
    assert legacy_local_seconds_to_utc(t, "UTC") == t


@pytest.mark.parametrize(
    ("tz", "local", "expected_utc"),
    [
        # ordinary winter / summer times
        ("America/New_York", (2026, 1, 15, 9), (2026, 1, 15, 14)),
        ("America/New_York", (2026, 7, 15, 9), (2026, 7, 15, 13)),
        ("Europe/Berlin", (2026, 1, 15, 9), (2026, 1, 15, 8)),
        ("Europe/Berlin", (2026, 7, 15, 9), (2026, 7, 15, 7)),
        # just before / after the spring-forward gap
        ("America/New_York", (2026, 3, 8, 1, 59), (2026, 3, 8, 6, 59)),
        ("America/New_York", (2026, 3, 8, 3, 0), (2026, 3, 8, 7, 0)),
        # nonexistent 02:30 -> shifted forward to 03:30 EDT
        ("America/New_York", (2026, 3, 8, 2, 30), (2026, 3, 8, 7, 30)),
        ("Europe/Berlin", (2026, 3, 29, 2, 30), (2026, 3, 29, 1, 30)),
        # ambiguous fall-back 01:30 -> first occurrence (EDT)
        ("America/New_York", (2026, 11, 1, 1, 30), (2026, 11, 1, 5, 30)),
        ("America/New_York", (2026, 11, 1, 2, 0), (2026, 11, 1, 7, 0)),
        ("Europe/Berlin", (2026, 10, 25, 2, 30), (2026, 10, 25, 0, 30)),
        ("Europe/Berlin", (2026, 10, 25, 3, 0), (2026, 10, 25, 2, 0)),
        # half-hour zone and a half-hour DST shift (Lord Howe: +10:30 std, +11 DST; 2026-04-05 02:00 back)
        ("Asia/Kolkata", (2026, 3, 1, 5, 30), (2026, 3, 1, 0, 0)),
    ],
)
def test_legacy_conversion_across_dst(tz, local, expected_utc):
    assert legacy_local_seconds_to_utc(_local_seconds(*local), tz) == _utc(*expected_utc)


def test_legacy_conversion_matches_zoneinfo_everywhere_in_dst_years():
    """Brute force over every 15 minutes of two years in several zones against zoneinfo fold=0."""
    for tz in (
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Asia/Kathmandu",
    ):
        zone = ZoneInfo(tz)
        convert = legacy_time_converter(tz)
        t = _local_seconds(2025, 1, 1, 0)
        stop = _local_seconds(2027, 1, 1, 0)
        while t < stop:
            wall = datetime(1970, 1, 1) + timedelta(seconds=t)
            expected = wall.replace(tzinfo=zone, fold=0).timestamp()
            got = convert(t + 0.5)
            assert got == expected + 0.5, (tz, wall)
            t += 900


def test_legacy_conversion_lord_howe_half_hour_gap():
    # 2026-10-04 02:00 -> 02:30 local does not exist at Lord Howe (+10:30 -> +11).
    tz = "Australia/Lord_Howe"
    assert legacy_local_seconds_to_utc(_local_seconds(2026, 10, 4, 1, 59), tz) == _utc(2026, 10, 3, 15, 29)
    assert legacy_local_seconds_to_utc(_local_seconds(2026, 10, 4, 2, 15), tz) == _utc(2026, 10, 3, 15, 45)
    assert legacy_local_seconds_to_utc(_local_seconds(2026, 10, 4, 2, 45), tz) == _utc(2026, 10, 3, 15, 45)


def test_the_cached_legacy_converter_agrees_with_the_reference_over_a_dst_change():
    """The fast converter (its speed: benchmarks/speed_bench.py) gives the reference function's answers."""
    tz = "America/New_York"
    convert = legacy_time_converter(tz)
    base = _local_seconds(2026, 3, 5, 0)  # 6 days across the spring-forward of 2026-03-08
    values = [base + i * 2.7 for i in range(200_000)]
    out = [convert(v) for v in values]
    assert len(out) == len(values)
    for i in range(0, len(values), 997):
        assert out[i] == legacy_local_seconds_to_utc(values[i], tz), values[i]
