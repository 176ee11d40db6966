"""Read the dbt marts into DataFrames for the ML and insight assets (schema `marts` unless configured).

Each reader takes the warehouse URL and an optional day range, and returns the columns the `analytics`
functions document; dates come back as `datetime.date`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from hitcraft_assets.store import warehouse

MARTS = "marts"


def _read(sql: str, url: str, params: dict | None = None) -> pd.DataFrame:
    return warehouse.read_frame(sql, params, url)


def _numeric(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def _between(column: str, start: date | None, end: date | None, **equal) -> tuple[str, dict]:
    """A where clause on `column` in start..end and, for each given keyword, that column equal to (or, for a list,
    one of) the value; every value is a bound parameter, the keywords are this module's own column names."""
    clauses, params = [], {}
    for name, value in equal.items():
        if value is None:
            continue
        single = name[:-1] if name == "metrics" else name
        clauses.append(f"{single} = any(%({name})s)" if isinstance(value, (list, tuple)) else f"{name} = %({name})s")
        params[name] = list(value) if isinstance(value, (list, tuple)) else value
    if start is not None:
        clauses.append(f"{column} >= %(start)s")
        params["start"] = start
    if end is not None:
        clauses.append(f"{column} <= %(end)s")
        params["end"] = end
    return (" where " + " and ".join(clauses) if clauses else ""), params


def daily_metrics(
    url: str, start: date | None = None, end: date | None = None, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """marts.daily_metrics: metric_date, metric, value, numerator, denominator (of `metrics` only, when given)."""
    where, params = _between("metric_date", start, end, metrics=metrics)
    frame = _read(
        f"select metric_date, metric, value, numerator, denominator from {MARTS}.daily_metrics{where}"
        " order by metric, metric_date",
        url,
        params,
    )
    return _numeric(frame, ["value", "numerator", "denominator"])


def daily_metrics_by_segment(
    url: str,
    start: date | None = None,
    end: date | None = None,
    metrics: Sequence[str] | None = None,
    segment_type: str | None = None,
    segment_value: str | None = None,
) -> pd.DataFrame:
    """marts.daily_metrics_by_segment: metric_date, segment_type, segment_value, metric, value, numerator,
    denominator (of `metrics`, and of one segment type or value, when given)."""
    where, params = _between(
        "metric_date", start, end, metrics=metrics, segment_type=segment_type, segment_value=segment_value
    )
    frame = _read(
        "select metric_date, segment_type, segment_value, metric, value, numerator, denominator"
        f" from {MARTS}.daily_metrics_by_segment{where} order by metric, segment_type, segment_value, metric_date",
        url,
        params,
    )
    return _numeric(frame, ["value", "numerator", "denominator"])


def user_daily_activity(url: str, start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """marts.user_daily_activity: one row per user and active day (all columns)."""
    where, params = _between("activity_date", start, end)
    frame = _read(f"select * from {MARTS}.user_daily_activity{where} order by activity_date, user_key", url, params)
    frame["minutes"] = pd.to_numeric(frame["minutes"]).astype(float)
    return frame


def dim_users(url: str) -> pd.DataFrame:
    """marts.dim_users: one row per resolved user."""
    return _read(f"select * from {MARTS}.dim_users order by user_key", url)


def last_activity_date(url: str) -> date | None:
    """The last day with any activity (None when the marts are empty)."""
    frame = _read(f"select max(activity_date) as day from {MARTS}.user_daily_activity", url)
    return frame["day"].iloc[0] if len(frame) else None


def prompt_completion_segments(url: str, start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """marts.prompt_performance (one-day windows) in the daily_metrics_by_segment shape: metric
    production_completion_rate, segment_type 'prompt', segment_value the prompt id, numerator renders completed,
    denominator renders started (renders started that day, completed at any time later). For root causes by
    prompt: the prompts partition the renders."""
    where, params = _between("metric_date", start, end)
    where = (where + " and" if where else " where") + " window_days = 1"
    frame = _read(
        "select metric_date, 'prompt' as segment_type, prompt_id as segment_value,"
        " 'production_completion_rate' as metric, completion_rate as value,"
        " renders_completed as numerator, renders_started as denominator"
        f" from {MARTS}.prompt_performance{where} order by prompt_id, metric_date",
        url,
        params,
    )
    return _numeric(frame, ["value", "numerator", "denominator"])
