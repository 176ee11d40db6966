"""sessions and user_daily_activity are the same whether days are built one by one ascending or descending,
and equal the whole-window build — with the midnight split off, so sessions cross partition boundaries and
hit the 24 h cap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from marts_helpers import connect, load_lines, reset, rows
from test_sessions_exact import D1, EXPECTED_NO_SPLIT, _lines

DAYS = [D1 + timedelta(days=n) for n in range(4)]  # the hand data's midnight crossing and 25-hour run
SELECT = "+sessions +user_daily_activity"
NO_SPLIT = {"session_split_at_midnight": False}
TABLES = {
    "sessions": "select * from marts.sessions order by session_id",
    "user_daily_activity": "select * from marts.user_daily_activity order by activity_date, user_key",
}


def _snapshot(conn) -> dict:
    return {name: rows(conn, sql) for name, sql in TABLES.items()}


@pytest.fixture(scope="module")
def builds(warehouse_url, dbt):
    conn = connect(warehouse_url)
    out = {}
    try:
        for order in ("ascending", "descending"):
            reset(conn)
            load_lines(conn, DAYS, _lines())
            for day in DAYS if order == "ascending" else reversed(DAYS):
                dbt("run", "--select", SELECT, vars={"min_date": str(day), "max_date": str(day), **NO_SPLIT})
            out[order] = _snapshot(conn)
        return out
    finally:
        conn.close()


def test_partition_order_gives_identical_tables(builds):
    assert builds["ascending"] == builds["descending"]


def test_day_by_day_equals_the_whole_window_build(builds, warehouse_url):
    # the whole-window build's sessions (test_sessions_exact, no split) up to D4
    got = [(r[1], str(r[2]), r[6]) for r in builds["ascending"]["sessions"]]  # user, session_date, event_count
    assert sorted(got) == sorted((u, day, n) for u, day, *_, n in EXPECTED_NO_SPLIT if day <= str(DAYS[-1]))
