"""Shared helpers for the long `daily_metrics` frame: metric kinds and per-metric daily series."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from hitcraft_assets.analytics import metric_catalogue

KIND_COUNT = "count"  # numerator = value, denominator NaN (new_users, dau, sessions, ...)
KIND_PROPORTION = "proportion"  # value = numerator / denominator with numerator <= denominator
KIND_RATIO = "ratio"  # value = numerator / denominator, unbounded (sessions_per_user, likes_dislikes_ratio, ...)
KIND_MEDIAN = "median"  # value is a daily median, denominator its sample size, numerator NaN
KIND_LEVEL = "level"  # value only, no parts


SERIES_COLUMNS = ["value", "numerator", "denominator"]


def metric_kinds(metrics: pd.DataFrame) -> dict[str, str]:
    """Kind of each metric of a daily_metrics-shaped frame: the metric catalogue's. A frame without parts has only
    'level' values; a metric the catalogue does not declare (an ad-hoc frame) is inferred from its parts."""
    inferred = infer_metric_kinds(metrics)
    if not {"numerator", "denominator"} <= set(metrics.columns):
        return inferred
    declared = metric_catalogue.kinds()
    return {metric: declared.get(metric, kind) for metric, kind in inferred.items()}


def infer_metric_kinds(metrics: pd.DataFrame) -> dict[str, str]:
    """Kind of each metric in a daily_metrics-shaped frame, read from how numerator/denominator are filled.

    Input: columns metric, value, numerator, denominator (numerator/denominator may be absent: then every
    metric is 'level'). Output: {metric: kind}, kind one of 'count' (denominator always NaN, numerator set),
    'median' (numerator always NaN, denominator set), 'proportion' (numerator <= denominator on every day
    with a positive denominator), 'ratio' (other numerator/denominator metrics), 'level' (value only).
    """
    if not {"numerator", "denominator"} <= set(metrics.columns):
        return {str(m): KIND_LEVEL for m in pd.unique(metrics["metric"])}
    kinds = {}
    for metric, frame in metrics.groupby("metric", sort=False):
        num = pd.to_numeric(frame["numerator"], errors="coerce")
        den = pd.to_numeric(frame["denominator"], errors="coerce")
        has_num, has_den = num.notna().any(), den.notna().any()
        if has_num and not has_den:
            kinds[str(metric)] = KIND_COUNT
        elif has_den and not has_num:
            kinds[str(metric)] = KIND_MEDIAN
        elif not has_num:
            kinds[str(metric)] = KIND_LEVEL
        else:
            parts = (den > 0) & num.notna()
            within = bool((num[parts] <= den[parts] * (1 + 1e-9)).all()) and bool((num[parts] >= 0).all())
            kinds[str(metric)] = KIND_PROPORTION if within else KIND_RATIO
    return kinds


def prepare_metrics(
    metrics: pd.DataFrame,
    as_of: date,
    metric_names: Sequence[str] | None,
    lookback_days: int,
    start: date | None = None,
    skip_partial_windows: bool = True,
) -> dict[str, pd.DataFrame]:
    """Per metric, a daily frame (DatetimeIndex without gaps, columns value, numerator, denominator).

    The index runs from the metric's first usable day to `as_of`; days without a row are NaN. The first
    usable day is the latest of: the metric's first row, as_of - lookback_days + 1, `start` (e.g. to skip
    the warm-up of a fresh backfill, when first-seen users and returning users are not yet meaningful), and,
    when `skip_partial_windows`, the first complete window of a trailing-window metric (the catalogue's
    trailing_window_days: the mart has no activity before its first day, so the first windows are partial).
    Metrics without a usable row map to an empty frame. `metric_names` None means every metric in the
    frame, in order of first appearance; unknown names map to an empty frame.
    """
    end = pd.Timestamp(as_of).normalize()
    lookback_start = end - pd.Timedelta(days=lookback_days - 1)
    if start is not None:
        lookback_start = max(lookback_start, pd.Timestamp(start).normalize())
    frame = metrics.loc[:, [c for c in ["metric_date", "metric", *SERIES_COLUMNS] if c in metrics.columns]].copy()
    for column in SERIES_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce") if column in frame else np.nan
    frame["metric_date"] = pd.to_datetime(frame["metric_date"]).dt.tz_localize(None).dt.normalize()
    names = list(pd.unique(frame["metric"])) if metric_names is None else list(metric_names)
    frame = frame[(frame["metric_date"] <= end) & frame["metric"].isin(names)]
    first_row = frame.groupby("metric")["metric_date"].min()
    grouped = dict(tuple(frame.groupby("metric", sort=False)))
    empty = pd.DataFrame(columns=SERIES_COLUMNS, index=pd.DatetimeIndex([], freq="D"), dtype=float)
    result = {}
    partial_windows = metric_catalogue.trailing_window_days()
    for name in names:
        part = grouped.get(name)
        if part is None:
            result[name] = empty.copy()
            continue
        first = max(lookback_start, first_row[name])
        if skip_partial_windows and name in partial_windows:
            first = max(first, first_row[name] + pd.Timedelta(days=partial_windows[name] - 1))
        if first > end:
            result[name] = empty.copy()
            continue
        daily = part.groupby("metric_date")[SERIES_COLUMNS].mean()  # duplicates should not exist; be safe
        result[name] = daily.reindex(pd.date_range(first, end, freq="D"))
    return result


def _weekday_deviations(values: pd.Series) -> pd.Series:
    centred = values.rolling(7, center=True, min_periods=7).mean()
    return (values - centred).dropna()


def weekday_profile(values: pd.Series, min_weeks: int = 3) -> pd.Series:
    """Additive weekly profile: median deviation of each weekday from the centred 7-day mean, centred on 0.

    Input: a float Series on a daily DatetimeIndex. Output: Series indexed 0..6 (Monday..Sunday); all zeros
    when fewer than `min_weeks` weeks of deviations are available.
    """
    deviation = _weekday_deviations(values)
    if len(deviation) < 7 * min_weeks:
        return pd.Series(0.0, index=range(7))
    profile = deviation.groupby(deviation.index.day_of_week).median().reindex(range(7), fill_value=0.0)
    return profile - profile.mean()


def weekly_seasonality_pvalue(values: pd.Series, min_weeks: int = 3) -> float:
    """p-value that the series has a weekly cycle: Kruskal-Wallis of (value - centred 7-day mean) by weekday.

    Input: a float Series on a daily DatetimeIndex (NaN allowed). Returns 1.0 when fewer than `min_weeks`
    weeks of deviations are available or the deviations are constant.
    """
    deviation = _weekday_deviations(values)
    if len(deviation) < 7 * min_weeks or np.ptp(deviation.to_numpy()) == 0:
        return 1.0
    groups = [g.to_numpy() for _, g in deviation.groupby(deviation.index.day_of_week)]
    if len(groups) < 7:
        return 1.0
    return float(stats.kruskal(*groups).pvalue)


GRANULARITIES = ("day", "week", "month")


def aggregate_periods(
    frame: pd.DataFrame, granularity: str, kind: str, rolling: bool = False, keys: Sequence[str] = ()
) -> pd.DataFrame:
    """Daily rows of one metric (metric_date, value, numerator, denominator, and `keys` columns such as a segment
    value) per day, Monday-Sunday week or calendar month.

    How a period's value is made follows the metric's kind: a count is its mean per day (`total` holds the sum), a
    rolling user count (wau, mau) the value of the period's last day, a proportion or ratio Σ numerator /
    Σ denominator, a median the daily medians' mean weighted by their sample sizes. Output columns: *keys,
    period_start, period_end (the last day with data), days (days with data), value, numerator, denominator, total.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity {granularity!r} is not one of {GRANULARITIES}")
    columns = [*keys, "period_start", "period_end", "days", "value", "numerator", "denominator", "total"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    data = frame.copy()
    day = pd.to_datetime(data["metric_date"])
    if granularity == "week":
        start = day - pd.to_timedelta(day.dt.weekday, unit="D")
    elif granularity == "month":
        start = day.dt.to_period("M").dt.start_time
    else:
        start = day
    data = data.assign(_day=day, period_start=start.dt.date)
    for column in SERIES_COLUMNS:
        data[column] = pd.to_numeric(data[column], errors="coerce").astype(float)
    rows = []
    for group, part in data.sort_values("_day").groupby([*keys, "period_start"], sort=True):
        group = group if isinstance(group, tuple) else (group,)
        numerator, denominator = part["numerator"].sum(min_count=1), part["denominator"].sum(min_count=1)
        total = float("nan")
        if kind == "count" and rolling:
            value = part["value"].iloc[-1]
        elif kind == "count":
            total = part["value"].sum(min_count=1)
            value = part["value"].mean()
        elif kind in (KIND_PROPORTION, KIND_RATIO):
            value = numerator / denominator if denominator else float("nan")
        else:  # median: weighted by sample size
            weights = part["denominator"].fillna(0)
            value = float((part["value"] * weights).sum() / weights.sum()) if weights.sum() else part["value"].mean()
        rows.append(
            {
                **dict(zip([*keys, "period_start"], group)),
                "period_end": part["_day"].iloc[-1].date(),
                "days": len(part),
                "value": value,
                "numerator": numerator,
                "denominator": denominator,
                "total": total,
            }
        )
    return pd.DataFrame(rows, columns=columns)
