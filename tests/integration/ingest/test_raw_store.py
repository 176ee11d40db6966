"""The raw loader against a real PostgreSQL: quarantine, idempotence, retries, DST days, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from loader_helpers import at, checksum, line, load

DAY = date(2026, 3, 10)


def _good(n: int, day: date = DAY, tz: str = "UTC", prefix: str = "e") -> list[bytes]:
    return [
        line(
            "Render Started",
            at(day, (i * 24 / n)),
            distinct_id=f"u{i % 7}",
            **{"$insert_id": f"{prefix}{i}"},
            mp_processing_time_ms=at(day, 23) * 1000,
        )
        for i in range(n)
    ]


def test_each_bad_line_kind_is_quarantined_with_its_reason(conn):
    bad = {
        "invalid_json": b'{"event": "Render Started", "properties": {"time": 1',
        "not_an_object": b'["Render Started", 1]',
        "missing_event": line(None, at(DAY, 10), distinct_id="u1"),
        "missing_properties": b'{"event": "Render Started"}',
        "missing_time": line("Render Started", None, distinct_id="u1"),
        "nul_character": line("Render Started", at(DAY, 11), distinct_id="u1", prompt_text="bad\x00byte"),
        "time_outside_export_window": line("Render Started", at(date(2026, 3, 12), 1), distinct_id="u1"),
    }
    t = at(DAY, 12)
    unstorable = {  # valid to a lenient parser, but no timestamp / jsonb can hold them
        "invalid_time": [
            b'{"event": "Render Started", "properties": {"time": NaN, "distinct_id": "u1"}}',
            b'{"event": "Render Started", "properties": {"time": Infinity, "distinct_id": "u1"}}',
            b'{"event": "Render Started", "properties": {"time": 1e20, "distinct_id": "u1"}}',
        ],
        "unstorable_json": [
            b'{"event": "Render Started", "properties": {"time": %d, "name": "\\ud83d"}}' % t,
        ],
        "non_finite_number": [  # never stored as null
            b'{"event": "Render Started", "properties": {"time": %d, "big": 123456789012345678901234567890, '
            b'"x": NaN}}' % t,
        ],
    }
    no_distinct_id = line("Sign Up", at(DAY, 9), **{"$insert_id": "anon"})
    extra = [line for lines in unstorable.values() for line in lines]
    result, _ = load(conn, [DAY], _good(20) + list(bad.values()) + [no_distinct_id] + extra)

    assert result.rows_by_day == {DAY: 21}
    assert result.quarantine_reasons == {
        **{reason: 1 for reason in bad},
        "invalid_time": 3,
        "unstorable_json": 1,
        "non_finite_number": 1,
    }
    with conn.cursor() as cur:
        cur.execute("select reason, raw_line from raw.events_quarantine order by line_number")
        stored = {reason: bytes(raw) for reason, raw in cur.fetchall()}
        cur.execute("select count(*) from raw.events where distinct_id is null")
        assert cur.fetchone()[0] == 1  # kept, not dropped
    assert {r: v for r, v in stored.items() if r in bad} == bad  # every bad line kept byte for byte


def test_rerun_replaces_the_day_exactly(conn):
    lines = _good(500) + _good(10, prefix="dup")[:5] * 2  # exact duplicates are kept in raw
    load(conn, [DAY], lines)
    first = checksum(conn, DAY, DAY)
    load(conn, [DAY], lines)
    assert checksum(conn, DAY, DAY) == first
    assert first[0] == 510
    with conn.cursor() as cur:
        cur.execute("select count(*) from raw.events_quarantine")
        assert cur.fetchone()[0] == 0


def test_a_failed_attempt_is_rolled_back_before_the_retry(conn):
    lines = _good(3000)
    result, attempts = load(conn, [DAY], lines, fail_first_after=1700)
    assert attempts == ["broken", "clean"]
    assert result.attempts == 2
    assert checksum(conn, DAY, DAY)[0] == 3000


@pytest.mark.parametrize(
    "tz, day, hours",
    [
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 11, 1), 25),
        ("Europe/Berlin", date(2026, 3, 29), 23),
        ("Europe/Berlin", date(2026, 10, 25), 25),
    ],
)
def test_dst_days_have_their_true_length(conn, tz, day, hours):
    from datetime import timedelta

    from hitcraft_assets.mixpanel.lines import utc_bounds_of_dates

    before, after = day - timedelta(days=1), day + timedelta(days=1)
    start, end = utc_bounds_of_dates(day, day, tz)
    assert (end - start) / 3600 == hours
    # one event every UTC hour across three local days
    first, last = utc_bounds_of_dates(before, after, tz)
    lines = [
        line("Render Started", t, distinct_id="u", **{"$insert_id": str(t)}) for t in range(int(first), int(last), 3600)
    ]
    result, _ = load(conn, [before, day, after], lines, tz=tz)
    assert result.rows_by_day[day] == hours
    with conn.cursor() as cur:
        cur.execute("select count(*) from raw.events_quarantine")
        assert cur.fetchone()[0] == 0
        cur.execute("select count(*) from raw.events where (event_time at time zone %s)::date <> partition_date", (tz,))
        assert cur.fetchone()[0] == 0


_CRASHING_LOADER = r"""
import sys, time
from datetime import date
sys.path.insert(0, sys.argv[3])
from hitcraft_assets.store import warehouse
from loader_helpers import at, line, load
conn = warehouse.connect(sys.argv[1])
marker = sys.argv[2]
def lines():
    for i in range(10**9):
        if i == 20000:
            open(marker, "w").close()   # the COPY is well under way: tell the test to kill us
            time.sleep(600)
        t = at(date(2026, 3, 10), (i % 86000) / 3600)
        yield line("Render Started", t, distinct_id="new", **{"$insert_id": f"n{i}"})
load(conn, [date(2026, 3, 10)], lines())
"""


@pytest.mark.slow
def test_killed_load_leaves_the_previous_partition(conn, warehouse_url, tmp_path: Path):
    import loader_helpers

    load(conn, [DAY], _good(1000))
    before = checksum(conn, DAY, DAY)
    marker = tmp_path / "copying"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_LOADER, warehouse_url, str(marker), str(Path(loader_helpers.__file__).parent)],
        env={**os.environ},
    )
    deadline = time.monotonic() + 1800  # only against a hang: a loaded machine may take minutes to get there
    while not marker.exists():
        assert proc.poll() is None, "loader exited before the kill"
        assert time.monotonic() < deadline, "loader alive but not copying after 30 min"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    conn.rollback()
    time.sleep(0.5)  # the server notices the dead client and aborts its transaction
    assert checksum(conn, DAY, DAY) == before


def test_a_reporting_day_not_yet_over_in_mixpanels_dates_is_refused():
    from hitcraft_assets.mixpanel.ingest import plan_windows

    # 02:00 in New York on 2026-11-21 = 2026-11-20 in Los Angeles: UTC dates 11-20..11-21 are needed for the
    # New York day 11-20, but "today" for the project is still 11-20.
    with pytest.raises(ValueError, match="not over yet"):
        plan_windows(
            [date(2026, 11, 20)],
            reporting_tz="America/New_York",
            project_tz="UTC",
            window_days=30,
            project_today=date(2026, 11, 20),
        )
    (window,) = plan_windows(
        [date(2026, 11, 20)],
        reporting_tz="America/New_York",
        project_tz="UTC",
        window_days=30,
        project_today=date(2026, 11, 21),
    )
    assert (window.export_from, window.export_to) == (date(2026, 11, 20), date(2026, 11, 21))
