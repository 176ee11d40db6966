"""Reporting days → Mixpanel export windows → atomic loads into `raw.events`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from hitcraft_assets.mixpanel.lines import utc_bounds_of_dates
from hitcraft_assets.store.raw_events import WindowLoad, load_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportWindow:
    days: list[date]  # reporting days replaced by this window's load
    export_from: date  # project-time-zone dates sent to Mixpanel (inclusive)
    export_to: date


def project_dates_for_days(first: date, last: date, reporting_tz: str, project_tz: str) -> tuple[date, date]:
    """The project-time-zone calendar dates that cover the reporting days first..last."""
    start, end = utc_bounds_of_dates(first, last, reporting_tz)
    tz = ZoneInfo(project_tz)
    return (
        datetime.fromtimestamp(start, tz).date(),
        datetime.fromtimestamp(end - 1e-6, tz).date(),
    )


def plan_windows(
    days: list[date], *, reporting_tz: str, project_tz: str, window_days: int, project_today: date
) -> list[ExportWindow]:
    """Split consecutive reporting days into windows whose export date range has at most `window_days`
    dates and never ends after the project's today (Mixpanel answers 400 to that)."""
    if not days:
        return []
    days = sorted(days)
    if any(b - a != timedelta(days=1) for a, b in zip(days, days[1:])):
        raise ValueError(f"reporting days must be consecutive, got {days[0]}..{days[-1]} with gaps")
    windows: list[ExportWindow] = []
    i = 0
    while i < len(days):
        size = min(window_days, len(days) - i)
        while True:
            chunk = days[i : i + size]
            export_from, export_to = project_dates_for_days(chunk[0], chunk[-1], reporting_tz, project_tz)
            if (export_to - export_from).days + 1 <= window_days or size == 1:
                break
            size -= 1
        if export_from > project_today:
            raise ValueError(
                f"reporting day {chunk[0]} starts after today ({project_today}) in the Mixpanel project's "
                f"time zone {project_tz}: nothing can be exported yet"
            )
        if export_to > project_today:
            # Mixpanel answers 400 to a to_date after its today, and a clamped export would fill the last
            # reporting day(s) only partly while marking them loaded.
            raise ValueError(
                f"reporting day {chunk[-1]} is not over yet in the Mixpanel project's export dates "
                f"(it needs {export_to}, but today there is {project_today}); load it later"
            )
        windows.append(ExportWindow(chunk, export_from, export_to))
        i += size
    return windows


def load_days(
    conn,
    client,
    days: list[date],
    *,
    reporting_tz: str,
    source: str,
    client_version: str,
    local_time_to_utc: Callable[[float], float] | None = None,
    project_today: date,
    progress: Callable[[str], None] = log.info,
) -> list[WindowLoad]:
    """Load reporting `days` window by window; each window is one transaction."""
    project_tz = client.config.export_date_timezone  # the zone Mixpanel reads from_date/to_date in
    windows = plan_windows(
        days,
        reporting_tz=reporting_tz,
        project_tz=project_tz,
        window_days=client.config.window_days,
        project_today=project_today,
    )
    loads: list[WindowLoad] = []
    started = time.monotonic()
    for n, window in enumerate(windows, 1):
        bounds = utc_bounds_of_dates(window.export_from, window.export_to, project_tz)
        result = load_window(
            conn,
            days=window.days,
            reporting_timezone=reporting_tz,
            export_from=window.export_from,
            export_to=window.export_to,
            export_bounds_utc=bounds,
            export=partial(client.export, window.export_from, window.export_to),
            source=source,
            client_version=client_version,
            local_time_to_utc=local_time_to_utc,
        )
        loads.append(result)
        done_rows = sum(w.rows for w in loads)
        progress(
            f"window {n}/{len(windows)} {window.days[0]}..{window.days[-1]} "
            f"(export {window.export_from}..{window.export_to}): {result.rows:,} rows, "
            f"{result.quarantined} quarantined, {result.attempts} attempt(s), {result.seconds:.1f}s; "
            f"total {done_rows:,} rows in {time.monotonic() - started:.1f}s"
        )
    return loads
