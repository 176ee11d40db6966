"""Which partitions a CLI/demo backfill of first..last selects."""

from datetime import date

from hitcraft_assets.cli.backfill import _keys_inside


def test_days_inside_the_range():
    days = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    assert _keys_inside(days, date(2026, 11, 2), date(2026, 11, 3)) == ["2026-11-02", "2026-11-03"]


def test_weeks_whose_last_day_is_inside_the_range():
    weeks = ["2026-10-26", "2026-11-02", "2026-11-09"]
    # a week that started before the range is built once its Sunday is loaded; one not over yet waits
    assert _keys_inside(weeks, date(2026, 11, 4), date(2026, 11, 14)) == ["2026-11-02"]
    assert _keys_inside(weeks, date(2026, 11, 10), date(2026, 11, 21)) == ["2026-11-09"]
    assert _keys_inside(weeks, date(2026, 11, 10), date(2026, 11, 14)) == []


def test_months_whose_last_day_is_inside_the_range():
    months = ["2026-08-01", "2026-09-01", "2026-10-01"]
    assert _keys_inside(months, date(2026, 9, 22), date(2026, 11, 20)) == ["2026-09-01", "2026-10-01"]
    assert _keys_inside(months, date(2026, 9, 22), date(2026, 10, 30)) == ["2026-09-01"]
    assert _keys_inside(["2026-02-01"], date(2026, 2, 1), date(2026, 2, 28)) == ["2026-02-01"]
