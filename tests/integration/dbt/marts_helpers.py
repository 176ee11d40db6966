"""Module-scoped dbt scenarios: load raw lines on a connection of our own, build, snapshot tables into Python.

Tests of a module then assert on the snapshot, so nothing depends on the database state between tests
(other modules on the same xdist worker drop `raw` and the dbt schemas).
"""

from __future__ import annotations

from datetime import date

from hitcraft_assets.mixpanel.lines import utc_bounds_of_dates
from hitcraft_assets.store import warehouse
from hitcraft_assets.store.raw_events import ensure_schema, load_window


def reset(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "drop schema if exists raw cascade; drop schema if exists staging cascade; "
            "drop schema if exists intermediate cascade; drop schema if exists marts cascade"
        )
    conn.commit()
    ensure_schema(conn)


def load_lines(conn, days: list[date], lines: list[bytes], tz: str = "UTC"):
    def export(consume):
        return consume(iter(lines))

    return load_window(
        conn,
        days=days,
        reporting_timezone=tz,
        export_from=days[0],
        export_to=days[-1],
        export_bounds_utc=utc_bounds_of_dates(days[0], days[-1], tz),
        export=export,
        source="test",
        client_version="test",
    )


def rows(conn, sql: str, params=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        out = cur.fetchall()
    conn.rollback()
    return out


def connect(url: str):
    return warehouse.connect(url)
