"""Trend tests, change points and period-over-period changes of the daily metrics (`daily_metrics` mart).

All functions take the long `daily_metrics` frame (metric_date, metric, value, numerator, denominator) and an
`as_of` day, and only use rows with metric_date <= as_of, so a run for day d is reproducible later.
Week-over-week / month-over-month comparisons live in `period_changes.py` (re-exported here).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import pymannkendall as mk
import ruptures as rpt
from scipy import stats

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.metric_series import (
    prepare_metrics,
    weekday_profile,
    weekly_seasonality_pvalue,
)
from hitcraft_assets.analytics.period_changes import period_changes

__all__ = ["metric_trends", "change_points", "period_changes"]

SEASON_DAYS = 7
TREND_COLUMNS = [
    "metric",
    "as_of",
    "window_days",
    "window_start",
    "n_days",
    "test",
    "trend",
    "p_value",
    "sen_slope_per_day",
    "sen_slope_pct_per_week",
    "window_mean",
    "note",
]
CHANGE_POINT_COLUMNS = [
    "metric",
    "as_of",
    "change_date",
    "mean_before",
    "mean_after",
    "abs_change",
    "rel_change",
    "days_before",
    "days_after",
]


def metric_trends(
    metrics: pd.DataFrame,
    as_of: date,
    metric_names: Sequence[str] | None = None,
    start: date | None = None,
    windows: Sequence[int] = (28, 90),
    alpha: float = 0.05,
    min_coverage: float = 0.8,
    min_seasonal_cycles: int = 4,
    seasonality_alpha: float = 0.01,
) -> pd.DataFrame:
    """Mann-Kendall trend test and Sen's slope of each metric over trailing windows ending at `as_of`.

    Input `metrics`: the daily_metrics mart, columns metric_date (date or date-like), metric (str),
    value (float, NaN allowed); other columns are ignored. Rows after `as_of` are ignored.
    `start` (optional date): ignore days before it, e.g. the first days of a fresh backfill, when every
    user looks new. The first 6/27 days of wau/mau/stickiness (partial windows) are always ignored.

    Test choice per metric: if the metric has a weekly cycle (Kruskal-Wallis of the values minus their centred
    7-day mean, grouped by weekday, p < `seasonality_alpha`, on the up-to-max(windows) days of history) and
    the window holds at least `min_seasonal_cycles` weeks, the seasonal Mann-Kendall test (Hirsch-Slack,
    period 7) with the seasonal Sen's slope is used (`test` = 'seasonal_mk(period=7)'); otherwise the
    Hamed-Rao modified test, which corrects the variance for autocorrelation (`test` = 'hamed_rao_mk').
    Constant windows give 'no trend' with p_value 1 and slope 0 (`test` = 'constant').

    A window is skipped (trend/p_value/slopes NaN, `test` = 'skipped', reason in `note`) when the metric's
    history (first non-NaN day) starts after the window start, or fewer than `min_coverage` of its days
    have a value.

    Output: one row per metric x window, columns
      metric, as_of (date), window_days (int), window_start (date), n_days (int, days with a value),
      test (str), trend ('increasing' | 'decreasing' | 'no trend', NaN when skipped), p_value (two-sided),
      sen_slope_per_day (metric units per day), sen_slope_pct_per_week (100 * 7 * slope / window mean;
      NaN when the mean is <= 0), window_mean, note (str, '' when nothing to say).
    """
    data = prepare_metrics(metrics, as_of, metric_names, lookback_days=max(windows), start=start)
    as_of_ts = pd.Timestamp(as_of).normalize()
    rows = []
    for metric, frame in data.items():
        values = frame["value"]
        seasonal = weekly_seasonality_pvalue(values) < seasonality_alpha
        first_day = values.first_valid_index()
        for window in windows:
            window_start = as_of_ts - pd.Timedelta(days=window - 1)
            window_values = values.reindex(pd.date_range(window_start, as_of_ts, freq="D"))
            row = {
                "metric": metric,
                "as_of": as_of_ts.date(),
                "window_days": int(window),
                "window_start": window_start.date(),
                "n_days": int(window_values.notna().sum()),
            }
            if first_day is None or first_day > window_start:
                have = 0 if first_day is None else (as_of_ts - first_day).days + 1
                rows.append(_skipped(row, f"history has {have} of {window} days"))
            elif row["n_days"] < min_coverage * window:
                rows.append(_skipped(row, f"only {row['n_days']} of {window} days have a value"))
            else:
                use_seasonal = seasonal and window >= min_seasonal_cycles * SEASON_DAYS
                rows.append({**row, **_mann_kendall(window_values.to_numpy(float), use_seasonal, alpha)})
    return pd.DataFrame(rows, columns=TREND_COLUMNS)


def _skipped(row: dict, note: str) -> dict:
    nan = float("nan")
    return {
        **row,
        "test": "skipped",
        "trend": None,
        "p_value": nan,
        "sen_slope_per_day": nan,
        "sen_slope_pct_per_week": nan,
        "window_mean": nan,
        "note": note,
    }


def _mann_kendall(x: np.ndarray, seasonal: bool, alpha: float) -> dict:
    mean = float(np.nanmean(x))
    finite = x[np.isfinite(x)]
    if np.ptp(finite) == 0:
        return {
            "test": "constant",
            "trend": "no trend",
            "p_value": 1.0,
            "sen_slope_per_day": 0.0,
            "sen_slope_pct_per_week": 0.0 if mean > 0 else float("nan"),
            "window_mean": mean,
            "note": "",
        }
    note = ""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if seasonal:
            test = "seasonal_mk(period=7)"
            result = mk.seasonal_test(x, period=SEASON_DAYS, alpha=alpha)
            # The seasonal Sen's slope is per cycle (one week); NaN days keep their position in the cycle.
            slope = float(mk.seasonal_sens_slope(x, period=SEASON_DAYS).slope) / SEASON_DAYS
        else:
            test = "hamed_rao_mk"
            result = mk.hamed_rao_modification_test(x, alpha=alpha)
            if not np.isfinite(result.p):
                # Hamed-Rao's variance correction can turn negative on short, strongly patterned series.
                test, note = "original_mk", "Hamed-Rao variance correction invalid; plain Mann-Kendall used"
                result = mk.original_test(x, alpha=alpha)
            slope = float(mk.sens_slope(x).slope)  # pairs keep their day distance, so NaN gaps are handled
    return {
        "test": test,
        "trend": result.trend,
        "p_value": float(result.p),
        "sen_slope_per_day": slope,
        "sen_slope_pct_per_week": 100.0 * SEASON_DAYS * slope / mean if mean > 0 else float("nan"),
        "window_mean": mean,
        "note": note,
    }


def change_points(
    metrics: pd.DataFrame,
    as_of: date,
    metric_names: Sequence[str] | None = None,
    start: date | None = None,
    window_days: int = 90,
    min_size: int = 7,
    penalty_factor: float = 4.0,
    min_days: int = 28,
) -> pd.DataFrame:
    """Change points in the trailing `window_days` days of each metric, found with ruptures' PELT.

    Input `metrics`: the daily_metrics mart (metric_date, metric, value); rows after `as_of` are ignored.
    By default the rolling-window metrics (wau, mau) are left out: their daily values overlap by design, so
    every change is smeared over the window; pass them in `metric_names` to include them anyway.
    `start` (optional date): ignore days before it, e.g. the first days of a fresh backfill, when every
    user looks new. The first 6/27 days of wau/mau/stickiness (partial windows) are always ignored.

    Method, per metric: interior gaps are interpolated; the weekly cycle is removed by subtracting a fixed
    weekday profile (median deviation of each weekday from the centred 7-day mean); days more than 4 noise
    SDs off the centred 7-day rolling median are replaced by it (an outage day is an anomaly, not a regime
    change); then PELT with a piecewise-linear cost (ruptures
    'linear': each segment has its own level and slope, so steady growth is not cut into a staircase) and
    the BIC-like penalty `penalty_factor * sigma**2 * ln(n)`, where sigma is the robust noise SD
    (MAD of day-to-day differences / sqrt 2) of the seasonally adjusted series. Segments are at least
    `min_size` days. Metrics with fewer than `min_days` values in the window are skipped.

    Output: one row per change point, columns metric, as_of (date), change_date (date: first day of the new segment),
    mean_before / mean_after (mean of the seasonally adjusted, outlier-replaced values in the segment before / after
    the change point, in metric units), abs_change (after - before), rel_change (abs_change / |before|, NaN when
    before is 0), days_before, days_after (segment lengths). Empty frame when none is found.
    """
    names = metric_names
    if names is None:
        rolling = metric_catalogue.rolling_user_counts()
        names = [m for m in pd.unique(metrics["metric"]) if m not in rolling]
    data = prepare_metrics(metrics, as_of, names, lookback_days=window_days, start=start)
    rows = []
    for metric, frame in data.items():
        values = frame["value"]
        first = values.first_valid_index()
        if first is None:
            continue
        values = values.loc[first:]
        if values.notna().sum() < max(min_days, 2 * min_size):
            continue
        adjusted = _seasonally_adjusted(values)
        sigma = _robust_noise_sd(adjusted)
        if not sigma > 0:
            continue
        signal = _replace_outliers(adjusted, sigma)
        n = len(signal)
        design = np.column_stack([signal, np.ones(n), np.arange(n, dtype=float)])
        algo = rpt.Pelt(model="linear", min_size=min_size, jump=1).fit(design)
        ends = algo.predict(pen=penalty_factor * sigma**2 * math.log(n))
        bounds = [0, *ends]
        for i in range(1, len(bounds) - 1):
            before = signal[bounds[i - 1] : bounds[i]]
            after = signal[bounds[i] : bounds[i + 1]]
            mean_before, mean_after = float(before.mean()), float(after.mean())
            rows.append(
                {
                    "metric": metric,
                    "as_of": pd.Timestamp(as_of).date(),
                    "change_date": values.index[bounds[i]].date(),
                    "mean_before": mean_before,
                    "mean_after": mean_after,
                    "abs_change": mean_after - mean_before,
                    "rel_change": (mean_after - mean_before) / abs(mean_before) if mean_before else float("nan"),
                    "days_before": len(before),
                    "days_after": len(after),
                }
            )
    return pd.DataFrame(rows, columns=CHANGE_POINT_COLUMNS)


def _seasonally_adjusted(values: pd.Series) -> np.ndarray:
    filled = values.interpolate(limit_direction="both")
    # A fixed weekday profile, not STL: STL's time-varying seasonal soaks up noise, which shrinks the noise
    # estimate and lets PELT cut pure noise into segments (a third of white-noise series in simulation).
    profile = weekday_profile(filled)
    return (filled - profile.reindex(filled.index.day_of_week).to_numpy()).to_numpy(float)


def _robust_noise_sd(x: np.ndarray) -> float:
    return float(stats.median_abs_deviation(np.diff(x), scale="normal") / math.sqrt(2))


def _replace_outliers(x: np.ndarray, sigma: float, k: float = 4.0) -> np.ndarray:
    # Days more than k noise SDs off the centred 7-day median become that median: a one-day outage is an
    # anomaly, not a regime change. At a real step the centred median switches level with the data, so
    # the days of a step are not replaced.
    centre = pd.Series(x).rolling(SEASON_DAYS, center=True, min_periods=1).median().to_numpy()
    return np.where(np.abs(x - centre) > k * sigma, centre, x)
