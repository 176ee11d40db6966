"""Metrics: the catalogue, any metric over a range (day, week or month; a segment filter or a breakdown), its
week-over-week change with the interval the reports show, the segment contributions that explain a day, anomalies
with their root causes, trends and forecasts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.period_changes import PERIOD_CHANGE_COLUMNS
from hitcraft_assets.app.api.common import (
    SEGMENT_TYPES,
    FormatQuery,
    Page,
    Range,
    SegmentTypeQuery,
    SegmentValueQuery,
    date_range,
    default_range,
    invalid,
    known_metric,
    page,
    plain,
    records,
    segment_filter,
    table,
)
from hitcraft_assets.app.auth import allow
from hitcraft_assets.app.cache import cached
from hitcraft_assets.app.permissions import Permission
from hitcraft_assets.store import marts, warehouse
from hitcraft_assets.store.insight_inputs import read_table

router = APIRouter(tags=["metrics"])
METRICS = [Depends(allow(Permission.METRICS))]
ANOMALIES = [Depends(allow(Permission.ANOMALIES))]
#: days of history the anomaly baseline and the drill-down read before the day they explain
EXPLAIN_HISTORY_DAYS = 70

CATALOGUE_COLUMNS = (
    "metric",
    "label",
    "description",
    "kind",
    "format",
    "unit",
    "higher_is_better",
    "key_metric",
    "forecast",
    "by_segment",
)
SERIES_COLUMNS = ("period_start", "period_end", "days", "value", "numerator", "denominator", "total")
#: a stored period change as the API shows it (ml.metric_period_changes, as the reports read it)
CHANGE_COLUMNS = tuple(c for c in PERIOD_CHANGE_COLUMNS if c not in ("metric", "n_current", "n_previous"))


def newest_metric_day(url: str) -> date | None:
    if not warehouse.table_exists("marts.daily_metrics", url):
        return None
    return marts.last_activity_date(url)


@router.get("/metrics", dependencies=METRICS, summary="The metric catalogue")
@cached
def catalogue(request: Request, format: FormatQuery = None):
    rows = [
        {c: getattr(m, "name" if c == "metric" else c) for c in CATALOGUE_COLUMNS}
        for m in metric_catalogue.load_catalogue().values()
    ]
    return table(request, rows, CATALOGUE_COLUMNS, name="metrics", format=format)


def period_change(url: str, metric: str, as_of: date, comparison: str = "wow") -> dict | None:
    """The stored change of `metric` as of a day (ml.metric_period_changes, as in the reports), or None."""
    frame = read_table(url, "metric_period_changes", as_of, as_of, equal={"metric": metric, "comparison": comparison})
    rows = records(frame, CHANGE_COLUMNS)
    return rows[0] if rows else None


@router.get("/segments", dependencies=METRICS, summary="The segment types and their values")
@cached
def segments(request: Request, format: FormatQuery = None):
    """Every value of each segment type (role, experience level, acquisition channel, platform, country) with its
    number of users: the values the segment filters accept."""
    from hitcraft_assets.store import app_readers

    columns = ("segment_type", "segment_value", "users")
    frame = app_readers.segment_values(request.app.state.url)
    return table(request, records(frame, columns), columns, name="segments", format=format)


@router.get("/metrics/{metric}", dependencies=METRICS, summary="A metric over a date range")
@cached
def metric_series(
    request: Request,
    metric: str,
    window: Annotated[Range, Depends(date_range)],
    granularity: Annotated[str, Query(pattern="^(day|week|month)$", description="day, week or month")] = "day",
    segment_type: SegmentTypeQuery = None,
    segment_value: SegmentValueQuery = None,
    breakdown: Annotated[str | None, Query(description="A segment type: one series per value.")] = None,
    format: FormatQuery = None,
):
    """Every day (or week, month) of the metric in start..end (default: the 28 days up to the newest day), for the
    whole product, one segment (`segment_type` + `segment_value`) or broken down by a segment type; with the
    week-over-week change as of the last day and its 95 % interval (the same figures as the daily report)."""
    from hitcraft_assets.analytics.metric_series import aggregate_periods

    entry = known_metric(metric)
    url = request.app.state.url
    window = default_range(window, newest_metric_day(url), 28)
    segment = segment_filter(segment_type, segment_value)
    if breakdown is not None and breakdown not in SEGMENT_TYPES:
        raise invalid("breakdown", f"breakdown must be one of {', '.join(SEGMENT_TYPES)}")
    if (segment or breakdown) and not entry.by_segment:
        field = "breakdown" if breakdown else "segment_type"
        raise invalid(field, f"metric {metric!r} has no segment breakdown (by_segment is false in the catalogue)")
    keys: tuple[str, ...] = ()
    if window.end is None:
        daily = pd.DataFrame(columns=["metric_date", "value", "numerator", "denominator"])
    elif segment or breakdown:
        seg_type = segment[0] if segment else breakdown
        daily = marts.daily_metrics_by_segment(
            url, window.start, window.end, [metric], seg_type, segment[1] if segment else None
        )
        keys = ("segment_value",) if breakdown else ()
    else:
        daily = marts.daily_metrics(url, window.start, window.end, [metric])
    rolling = metric in metric_catalogue.rolling_user_counts()
    periods = aggregate_periods(daily, granularity, entry.kind, rolling, keys)
    change = None
    if window.end is not None and not segment and not breakdown and granularity == "day":
        change = period_change(url, metric, window.end)
    columns = (*keys, *SERIES_COLUMNS)
    return table(
        request,
        records(periods, columns),
        columns,
        name=f"{metric}_{granularity}",
        format=format,
        metric=metric,
        label=entry.label,
        kind=entry.kind,
        format_hint=entry.format,
        start=window.start,
        end=window.end,
        granularity=granularity,
        segment=dict(zip(("segment_type", "segment_value"), segment)) if segment else None,
        breakdown=breakdown,
        week_over_week=change,
    )


@router.get("/metrics/{metric}/contributions", dependencies=METRICS, summary="Segments that explain a day")
@cached
def contributions(
    request: Request,
    metric: str,
    day: Annotated[date, Query(alias="date", description="The day to explain, YYYY-MM-DD.")],
    segment_type: Annotated[str | None, Query(description="Only this segment type.")] = None,
    format: FormatQuery = None,
):
    """How much each segment contributed to the metric's deviation from its expected value on a day (the root-cause
    analysis of the anomaly flags, for any day): the segment's value and expected value, its contribution and share
    of the change, its size share, and its own test."""
    from hitcraft_assets.analytics.root_cause import EXPLANATION_COLUMNS, describe_root_cause, explain_deviation

    entry = known_metric(metric)
    if not entry.by_segment:
        raise invalid("metric", f"metric {metric!r} has no segment breakdown (by_segment is false in the catalogue)")
    if segment_type is not None and segment_type not in SEGMENT_TYPES:
        raise invalid("segment_type", f"segment_type must be one of {', '.join(SEGMENT_TYPES)}")
    url = request.app.state.url
    history = marts.daily_metrics_by_segment(
        url, day - timedelta(days=EXPLAIN_HISTORY_DAYS), day, [metric], segment_type
    )
    explanation = explain_deviation(history, metric, day) if not history.empty else pd.DataFrame()
    summary = describe_root_cause(explanation) if not explanation.empty else None
    columns = [c for c in EXPLANATION_COLUMNS if c not in ("metric_date", "metric")]
    return table(
        request,
        records(explanation, columns),
        columns,
        name=f"{metric}_{day}_contributions",
        format=format,
        metric=metric,
        date=day,
        summary=plain(summary),
    )


ANOMALY_COLUMNS = (
    "metric_date",
    "metric",
    "segment_type",
    "segment_value",
    "value",
    "expected",
    "lower_bound",
    "upper_bound",
    "severity",
    "direction",
    "kind",
    "root_cause",
    "root_cause_segment_type",
    "root_cause_segment_value",
)


@router.get("/anomalies", dependencies=ANOMALIES, summary="Flagged anomalies with their root causes")
@cached
def anomalies(
    request: Request,
    window: Annotated[Range, Depends(date_range)],
    paging: Annotated[Page, Depends(page)],
    metric: Annotated[str | None, Query(description="Only this metric.")] = None,
    segments: Annotated[bool, Query(description="Also flags of single segments.")] = False,
    format: FormatQuery = None,
):
    """Flags of the ml/anomaly_flags asset in start..end (default: the last 30 days), newest first, each with the
    segment named as its root cause; product-wide flags only unless `segments`."""
    if metric is not None:
        known_metric(metric)
    url = request.app.state.url
    window = default_range(window, newest_metric_day(url), 30)
    flags = read_table(url, "anomaly_flags", window.start, window.end, equal={"is_anomaly": True})
    if flags is not None and not flags.empty:
        if metric is not None:
            flags = flags[flags["metric"] == metric]
        if not segments:
            flags = flags[flags["segment_type"] == "all"]
        flags = flags.assign(_z=flags["severity"].abs()).sort_values(["metric_date", "_z"], ascending=[False, False])
    return table(
        request,
        records(flags, ANOMALY_COLUMNS),
        ANOMALY_COLUMNS,
        name="anomalies",
        format=format,
        paging=paging,
        start=window.start,
        end=window.end,
    )


TREND_COLUMNS = ("metric", "window_days", "test", "trend", "p_value", "sen_slope_pct_per_week", "window_mean")


@router.get("/trends", dependencies=METRICS, summary="Trend tests and period changes as of a day")
@cached
def trends(
    request: Request,
    as_of: Annotated[date | None, Query(description="Day, YYYY-MM-DD (default: the newest).")] = None,
    format: FormatQuery = None,
):
    """Mann-Kendall trends (28 and 90 days) of every metric as of a day, with the week-over-week and
    month-over-month changes and their intervals (ml/metric_trends)."""
    url = request.app.state.url
    as_of = as_of or newest_metric_day(url)
    found = read_table(url, "metric_trends", as_of, as_of) if as_of else None
    changes = read_table(url, "metric_period_changes", as_of, as_of) if as_of else None
    return table(
        request,
        records(found, TREND_COLUMNS),
        TREND_COLUMNS,
        name=f"trends_{as_of}",
        format=format,
        as_of=as_of,
        changes=records(changes, ("metric", *CHANGE_COLUMNS)),
    )


FORECAST_COLUMNS = ("metric", "forecast_date", "forecast", "lower_bound", "upper_bound", "model", "level")


@router.get("/forecasts", dependencies=METRICS, summary="Forecasts with their intervals")
@cached
def forecasts(
    request: Request,
    metric: Annotated[str | None, Query(description="Only this metric.")] = None,
    as_of: Annotated[date | None, Query(description="Made as of this day (default: the newest).")] = None,
    format: FormatQuery = None,
):
    """The 30-day forecasts made as of a day (ETS, 90 % intervals) for the catalogue's forecast metrics."""
    if metric is not None:
        known_metric(metric)
    url = request.app.state.url
    newest = as_of or newest_metric_day(url)
    frame = read_table(url, "metric_forecasts", newest - timedelta(days=7), newest) if newest else None
    if frame is not None and not frame.empty:
        frame = frame[frame["as_of"] == frame["as_of"].max()]
        if metric is not None:
            frame = frame[frame["metric"] == metric]
        frame = frame.sort_values(["metric", "forecast_date"])
    made = plain(frame["as_of"].max()) if frame is not None and not frame.empty else None
    return table(
        request, records(frame, FORECAST_COLUMNS), FORECAST_COLUMNS, name="forecasts", format=format, as_of=made
    )
