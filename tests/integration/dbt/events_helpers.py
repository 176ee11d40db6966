"""Hand-written Mixpanel export lines for exact dbt tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import orjson


def ts(day: date, hh: int, mm: int = 0, ss: int = 0, tz: str = "UTC") -> int:
    return int(datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=ZoneInfo(tz)).astimezone(UTC).timestamp())


def ev(
    event: str,
    t: int,
    *,
    user: str | None = None,
    device: str | None = None,
    insert_id: str | None = None,
    processed_ms: int | None = None,
    **props,
) -> bytes:
    """An export line. Anonymous (device only): distinct_id "$device:<id>"; identified: distinct_id = user."""
    p: dict = {"time": t}
    if user:
        p["distinct_id"] = user
        p["$user_id"] = user
    elif device:
        p["distinct_id"] = f"$device:{device}"
    if device:
        p["$device_id"] = device
    p["$insert_id"] = insert_id or f"{event}-{user or device}-{t}"
    p["mp_processing_time_ms"] = processed_ms if processed_ms is not None else t * 1000 + 500
    p.update(props)
    return orjson.dumps({"event": event, "properties": p})
