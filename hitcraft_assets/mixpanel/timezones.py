"""Date and time-zone arithmetic for Mixpanel exports (pure functions, `zoneinfo` only).

Three clocks meet here:

* Mixpanel's `from_date`/`to_date` are calendar dates. Mixpanel interprets them in UTC for projects created
  since 1 January 2023 and in the project time zone for older ("legacy") projects; `to_date` later than
  "today" is rejected with HTTP 400.
* The platform's daily partitions are calendar days of the *reporting* time zone.
* Legacy projects store an event's `time` as project-local wall-clock seconds ("seconds since 1970-01-01
  00:00 local"), not as a true UTC epoch; `legacy_local_seconds_to_utc` converts them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = [
    "as_zone",
    "export_dates_for_utc_interval",
    "legacy_local_seconds_to_utc",
    "legacy_time_converter",
    "project_today",
    "reporting_day_bounds",
]

_EPOCH_NAIVE = datetime(1970, 1, 1)
_ONE_MICRO = timedelta(microseconds=1)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def as_zone(tz: str | tzinfo) -> tzinfo:
    """A tzinfo from an IANA name (cached) or a tzinfo passed through."""
    return _zone(tz) if isinstance(tz, str) else tz


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value!r})")


def project_today(tz: str | tzinfo, now: datetime | None = None) -> date:
    """Today's calendar date in `tz` at `now` (an aware datetime; default: the current time)."""
    if now is None:
        now = datetime.now(UTC)
    else:
        _require_aware(now, "now")
    return now.astimezone(as_zone(tz)).date()


def export_dates_for_utc_interval(
    start_utc: datetime, end_utc: datetime, project_tz: str | tzinfo
) -> tuple[date, date]:
    """The inclusive `(from_date, to_date)` calendar dates in `project_tz` that cover the UTC interval
    `[start_utc, end_utc)`.

    Pass the time zone in which Mixpanel interprets export dates: the project time zone for legacy
    projects, "UTC" for projects created since 2023 (see `MixpanelConfig.export_date_timezone`).
    An export over these dates returns a superset of the interval; the caller filters by event time.
    """
    _require_aware(start_utc, "start_utc")
    _require_aware(end_utc, "end_utc")
    if end_utc <= start_utc:
        raise ValueError(f"empty interval: end_utc {end_utc.isoformat()} <= start_utc {start_utc.isoformat()}")
    zone = as_zone(project_tz)
    first = start_utc.astimezone(zone).date()
    last = (end_utc - _ONE_MICRO).astimezone(zone).date()  # end is exclusive
    return first, last


def reporting_day_bounds(day: date, reporting_tz: str | tzinfo) -> tuple[datetime, datetime]:
    """UTC `[start, end)` of the calendar `day` in `reporting_tz`.

    The interval is 23 or 25 hours long on DST transition days. If local midnight does not exist (a zone
    that springs forward at 00:00), the day starts at the transition instant (zoneinfo's fold=0 rule).
    """
    zone = as_zone(reporting_tz)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


# --- legacy local-time conversion -------------------------------------------------------------------------
#
# Legacy projects' `time` is L = (local wall-clock time - 1970-01-01 00:00) in seconds. The true epoch is
# U = L - offset, with offset the zone's UTC offset at that wall-clock time. Wall-clock times that occur
# twice (the fall-back hour) resolve to the FIRST occurrence (the pre-transition, usually DST, offset);
# wall-clock times that never occur (the spring-forward gap) are shifted FORWARD by the gap length (also the
# pre-transition offset: 02:30 in New York on a spring-forward day becomes 03:30 EDT = 07:30 UTC). Both are
# exactly what zoneinfo does with fold=0.
#
# Speed: the offset is cached per local hour (L // 3600). Real-world transitions happen on the hour, so one
# offset is valid for the whole local hour; an hour whose first and last second disagree (a transition at a
# half hour, e.g. Australia/Lord_Howe, or historical LMT offsets) is marked and computed per call.

_MIXED = object()


def _offset_seconds(zone: tzinfo, local_seconds: float) -> float:
    wall = _EPOCH_NAIVE + timedelta(seconds=local_seconds)
    offset = wall.replace(tzinfo=zone, fold=0).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def _make_converter(zone: tzinfo) -> Callable[[float], float]:
    cache: dict[int, object] = {}
    lock = threading.Lock()

    def hour_offset(hour: int) -> object:
        first = _offset_seconds(zone, hour * 3600)
        last = _offset_seconds(zone, hour * 3600 + 3599)
        value: object = first if first == last else _MIXED
        with lock:
            if len(cache) > 500_000:  # bound memory on pathological input (~57 years of hours)
                cache.clear()
            cache[hour] = value
        return value

    def convert(local_seconds: float) -> float:
        hour = int(local_seconds // 3600)
        offset = cache.get(hour)
        if offset is None:
            offset = hour_offset(hour)
        if offset is _MIXED:
            return local_seconds - _offset_seconds(zone, local_seconds)
        return local_seconds - offset  # type: ignore[operator]

    return convert


@lru_cache(maxsize=64)
def _converter_for(zone: tzinfo) -> Callable[[float], float]:
    return _make_converter(zone)


def legacy_time_converter(project_tz: str | tzinfo) -> Callable[[float], float]:
    """A fast `local_seconds -> utc_epoch_seconds` function for one zone (bind it once in a hot loop)."""
    return _converter_for(as_zone(project_tz))


def legacy_local_seconds_to_utc(seconds: float, project_tz: str | tzinfo) -> float:
    """Convert a legacy project's local wall-clock `time` (seconds) to a true UTC epoch (seconds).

    Ambiguous fall-back wall times map to their first occurrence; nonexistent spring-forward wall times are
    shifted forward by the gap. Fractional seconds are kept. Thread-safe; cached per zone and local hour.
    """
    return _converter_for(as_zone(project_tz))(seconds)
