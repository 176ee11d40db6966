"""Build export lines and run `load_window` on them directly (the loader's own input, no HTTP)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import orjson

from hitcraft_assets.mixpanel.lines import utc_bounds_of_dates
from hitcraft_assets.store.raw_events import load_window


def line(event: str | None, t: float | None, **props) -> bytes:
    record: dict = {"properties": {**props}}
    if event is not None:
        record["event"] = event
    if t is not None:
        record["properties"]["time"] = t
    return orjson.dumps(record)


def at(day: date, hour: float, tz: str = "UTC") -> int:
    """Epoch seconds of a local wall-clock hour on a day."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).timestamp()
    return int(midnight + hour * 3600)


def load(conn, days: list[date], lines: list[bytes], *, tz: str = "UTC", fail_first_after: int | None = None):
    """Load `lines` as the export of `days`; optionally make the first attempt die after N lines."""
    attempts = []

    def export(consume):
        if fail_first_after is not None:

            def broken():
                yield from lines[:fail_first_after]
                raise ConnectionResetError("stream cut")

            attempts.append("broken")
            try:
                consume(broken())
            except ConnectionResetError:
                pass
        attempts.append("clean")
        return consume(iter(lines))

    result = load_window(
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
    return result, attempts


def checksum(conn, first: date, last: date) -> tuple[int, str]:
    with conn.cursor() as cur:
        cur.execute(
            "select count(*), md5(coalesce(string_agg(event || '|' || coalesce(distinct_id, '') || '|' || "
            "event_time::text || '|' || coalesce(insert_id, '') || '|' || properties::text, ',' "
            "order by insert_id, event_time), '')) from raw.events where partition_date between %s and %s",
            (first, last),
        )
        result = cur.fetchone()
    conn.rollback()  # hold no locks: a concurrent load's TRUNCATE would wait for them
    return result
