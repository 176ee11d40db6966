"""Forecasts of daily metrics with prediction intervals (statsmodels ETS) and a rolling-origin backtest."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from hitcraft_assets.analytics.metric_series import (
    KIND_PROPORTION,
    metric_kinds,
    prepare_metrics,
    weekly_seasonality_pvalue,
)

SEASON_DAYS = 7
Bounds = Literal["auto", "unit", "nonnegative", "none"]
FORECAST_COLUMNS = ["date", "forecast", "lower", "upper"]
BACKTEST_KEYS = ["n_origins", "horizon_days", "mape_pct", "smape_pct", "mase", "coverage", "naive_mape_pct"]


@dataclass(frozen=True)
class ForecastResult:
    """A metric forecast: `frame` has columns date (datetime64), forecast, lower, upper (original units;
    forecast is the median: the back-transformed point forecast of the transformed scale); `model` names the
    model and any fallback reason; `transform` is 'logit', 'log1p' or 'none'; `backtest` holds the keys of
    BACKTEST_KEYS (NaN when no backtest origin fits the history)."""

    frame: pd.DataFrame
    model: str
    transform: str
    level: float
    backtest: dict[str, float] = field(default_factory=dict)


class MetricForecasts(NamedTuple):
    """`forecasts`: metric, date, forecast, lower, upper, model, level. `backtest`: one row per metric with
    metric, model, transform, n_days and the BACKTEST_KEYS columns."""

    forecasts: pd.DataFrame
    backtest: pd.DataFrame


def forecast_metric(
    series: pd.Series,
    horizon: int = 30,
    level: float = 0.9,
    bounds: Bounds = "auto",
    min_ets_days: int = 28,
    backtest_origins: int = 4,
    backtest_horizon: int = 7,
) -> ForecastResult:
    """Forecast a daily series `horizon` days past its last day, with a `level` prediction interval.

    Input `series`: float values on a daily DatetimeIndex (gaps allowed). Leading NaNs are dropped, other
    missing days are filled by linear interpolation (the last value is carried forward) before fitting.

    Scale: `bounds` 'unit' models logit(y) (y clipped to [eps, 1 - eps], eps = half the closest observed
    distance to 0 or 1, within [1e-4, 0.01]), 'nonnegative' models log1p(y), 'none' models y; 'auto' picks
    'unit' when all values lie in [0, 1] and are not all integers, else 'nonnegative' when none is negative,
    else 'none'. Forecast and bounds are transformed back, so rates stay in [0, 1] and counts >= 0.

    Model: with at least `min_ets_days` days, ETS(A,Ad,A) - additive errors, additive damped trend, additive
    weekly seasonality - when the series has a weekly cycle (Kruskal-Wallis by weekday, p < 0.05), else
    ETS(A,Ad,N); heuristic initial states (fast, and stable on short series); analytic prediction intervals.
    Shorter, constant or all-zero series, or a failed ETS fit, fall back to the seasonal naive forecast
    (value 7 days earlier; interval from its residual SD, widening with sqrt(1 + full weeks ahead)); with
    fewer than 8 days, the naive forecast (last value, sqrt(h) widening). `model` says which and why.

    Backtest: rolling origin, `backtest_origins` non-overlapping `backtest_horizon`-day forecasts ending at the last
    day, each refitted on the days before its origin (an origin is skipped when it has fewer training days than the
    current model needs: `min_ets_days` for ETS, else 14). Pooled over all forecast days: mape_pct (over non-zero
    actuals), smape_pct (2|e| / (|y| + |f|), 0 when both are 0), mase (mean per origin of MAE / in-sample seasonal
    naive MAE), coverage (share of actuals inside the interval), naive_mape_pct (the seasonal naive forecast's MAPE
    on the same days).
    """
    y = _clean(series)
    if y.empty:
        frame = pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "date" else float) for c in FORECAST_COLUMNS})
        return ForecastResult(frame, "none (no data)", "none", level, _backtest_summary([], backtest_horizon))
    transform, to_model, from_model = _transform(y.to_numpy(float), bounds)
    values = y.to_numpy(float)
    z = to_model(values)
    mean, lower, upper, model = _forecast_transformed(z, horizon, level, min_ets_days)
    dates = pd.date_range(y.index[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
    frame = pd.DataFrame({"date": dates, "forecast": from_model(mean), "lower": from_model(lower)})
    frame["upper"] = from_model(upper)
    # Backtest the model in use: origins too short for ETS would only measure the seasonal naive fallback.
    min_train = min_ets_days if model.startswith("ETS") else 14
    backtest = _backtest(values, z, from_model, level, min_ets_days, min_train, backtest_origins, backtest_horizon)
    return ForecastResult(frame, model, transform, level, backtest)


def forecast_metrics(
    metrics: pd.DataFrame,
    as_of: date,
    names: Sequence[str] | None = None,
    horizon: int = 30,
    start: date | None = None,
    level: float = 0.9,
    history_days: int = 365,
    backtest_origins: int = 4,
) -> MetricForecasts:
    """Forecast each metric of the daily_metrics mart from its values up to `as_of` (see `forecast_metric`).

    Input `metrics`: columns metric_date, metric, value, numerator, denominator. `names` None = all metrics.
    Proportion metrics (the catalogue's kind) are modelled on the logit scale, all others with
    bounds 'auto' (log1p when non-negative). The last `history_days` days are used.
    `start` (optional date): ignore days before it, e.g. the first days of a fresh backfill, when every
    user looks new. The first 6/27 days of wau/mau/stickiness (partial windows) are always ignored.
    Output: MetricForecasts(forecasts, backtest), see its docstring; forecast dates start at as_of + 1.
    """
    kinds = metric_kinds(metrics)
    data = prepare_metrics(metrics, as_of, names, lookback_days=history_days, start=start)
    forecast_frames, backtest_rows = [], []
    for metric, frame in data.items():
        bounds: Bounds = "unit" if kinds.get(metric) == KIND_PROPORTION else "auto"
        result = forecast_metric(frame["value"], horizon, level, bounds, backtest_origins=backtest_origins)
        forecast_frames.append(result.frame.assign(metric=metric, model=result.model, level=level))
        n_days = int(frame["value"].notna().sum())
        backtest_rows.append(
            {"metric": metric, "model": result.model, "transform": result.transform, "n_days": n_days} | result.backtest
        )
    columns = ["metric", *FORECAST_COLUMNS, "model", "level"]
    forecasts = (
        pd.concat(forecast_frames, ignore_index=True)[columns] if forecast_frames else pd.DataFrame(columns=columns)
    )
    backtest = pd.DataFrame(backtest_rows, columns=["metric", "model", "transform", "n_days", *BACKTEST_KEYS])
    return MetricForecasts(forecasts, backtest)


def crosses_target(
    forecast: pd.DataFrame,
    target: float,
    direction: Literal["above", "below"],
    column: str = "forecast",
    last_value: float | None = None,
) -> date | None:
    """First date on which forecast[column] reaches `target` from below ('above': >= target) or from above
    ('below': <= target); None if it never does. Input: a frame with columns date and `column` (e.g. a
    ForecastResult.frame; use column 'lower' with 'above' for "even the pessimistic bound crosses").
    If `last_value` (the last observed value) is given and already on the far side, nothing is crossed: None.
    """
    if direction not in ("above", "below"):
        raise ValueError(f"direction must be 'above' or 'below', got {direction!r}")
    values = forecast[column].to_numpy(float)
    reached = values >= target if direction == "above" else values <= target
    if last_value is not None and (last_value >= target if direction == "above" else last_value <= target):
        return None
    hits = np.flatnonzero(reached)
    return None if hits.size == 0 else pd.Timestamp(forecast["date"].iloc[hits[0]]).date()


def _clean(series: pd.Series) -> pd.Series:
    y = pd.to_numeric(series, errors="coerce").astype(float)
    y.index = pd.DatetimeIndex(y.index).tz_localize(None).normalize()
    y = y[~y.index.duplicated(keep="last")].sort_index()
    first = y.first_valid_index()
    if first is None:
        return y.iloc[:0]
    y = y.loc[first:].asfreq("D")
    return y.interpolate(method="linear", limit_direction="forward")


def _transform(y: np.ndarray, bounds: Bounds):
    if bounds == "auto":
        in_unit = bool(((y >= 0) & (y <= 1)).all()) and not bool(np.all(y == np.round(y)))
        bounds = "unit" if in_unit else ("nonnegative" if bool((y >= 0).all()) else "none")
    if bounds == "unit":
        distances = np.concatenate([y[y > 0], 1 - y[y < 1]])
        eps = float(np.clip(0.5 * distances.min(), 1e-4, 0.01)) if distances.size else 0.01

        def to_logit(v):
            v = np.clip(v, eps, 1 - eps)
            return np.log(v / (1 - v))

        return "logit", to_logit, lambda z: 1 / (1 + np.exp(-z))
    if bounds == "nonnegative":
        return "log1p", lambda v: np.log1p(np.maximum(v, 0)), lambda z: np.maximum(np.expm1(z), 0)
    return "none", lambda v: v, lambda z: z


def _forecast_transformed(z: np.ndarray, horizon: int, level: float, min_ets_days: int):
    """Point forecast and interval on the model scale, and the model's name."""
    n = len(z)
    if np.ptp(z) == 0:
        return (
            *_naive(z, horizon, level, SEASON_DAYS if n > SEASON_DAYS else 1),
            "seasonal naive (fallback: constant series)",
        )
    if n < min_ets_days:
        if n > SEASON_DAYS:
            return (*_naive(z, horizon, level, SEASON_DAYS), f"seasonal naive (fallback: {n} days < {min_ets_days})")
        return (*_naive(z, horizon, level, 1), f"naive (fallback: {n} days < {SEASON_DAYS + 1})")
    # Only the position within the week matters to the weekday test, so any start date will do.
    seasonal = weekly_seasonality_pvalue(pd.Series(z, index=pd.date_range("2000-01-03", periods=n))) < 0.05
    name = "ETS(A,Ad,A)" if seasonal else "ETS(A,Ad,N)"
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            model = ETSModel(
                pd.Series(z),  # RangeIndex: no date-frequency warnings; get_prediction fails on bare arrays
                error="add",
                trend="add",
                damped_trend=True,
                seasonal="add" if seasonal else None,
                seasonal_periods=SEASON_DAYS if seasonal else None,
                initialization_method="heuristic",
            )
            fitted = model.fit(disp=False)
            frame = fitted.get_prediction(start=n, end=n + horizon - 1).summary_frame(alpha=1 - level)
        mean, lower, upper = (frame[c].to_numpy(float) for c in ("mean", "pi_lower", "pi_upper"))
        if not (np.isfinite(mean).all() and np.isfinite(lower).all() and np.isfinite(upper).all()):
            raise ValueError("non-finite forecast")
    except Exception as error:  # any ETS failure has a defined fallback, named in the model column
        return (*_naive(z, horizon, level, SEASON_DAYS), f"seasonal naive (fallback: ETS failed: {error})")
    return mean, lower, upper, name


def _naive(z: np.ndarray, horizon: int, level: float, lag: int):
    """Seasonal naive (lag 7) or naive (lag 1) forecast with residual-SD intervals (Hyndman, FPP3 5.5)."""
    steps = np.arange(horizon)
    mean = z[len(z) - lag + steps % lag]
    residuals = z[lag:] - z[:-lag]
    sigma = float(np.sqrt(np.mean(residuals**2))) if residuals.size else 0.0
    widening = np.sqrt(steps // lag + 1) if lag > 1 else np.sqrt(steps + 1)
    half = stats.norm.ppf(0.5 + level / 2) * sigma * widening
    return mean, mean - half, mean + half


def _backtest(values, z, from_model, level, min_ets_days, min_train, origins, horizon) -> dict[str, float]:
    n = len(z)
    runs = []
    for k in range(origins, 0, -1):
        cut = n - k * horizon
        if cut < min_train:
            continue
        train, actual = z[:cut], values[cut : cut + horizon]
        mean, lower, upper, _ = _forecast_transformed(train, horizon, level, min_ets_days)
        naive, _, _ = _naive(train, horizon, level, SEASON_DAYS)
        scale = float(np.mean(np.abs(values[SEASON_DAYS:cut] - values[: cut - SEASON_DAYS])))
        runs.append((actual, from_model(mean), from_model(lower), from_model(upper), from_model(naive), scale))
    return _backtest_summary(runs, horizon)


def _backtest_summary(runs, horizon: int) -> dict[str, float]:
    if not runs:
        return {"n_origins": 0, "horizon_days": horizon} | {k: math.nan for k in BACKTEST_KEYS[2:]}
    actual, predicted, lower, upper, naive = (np.concatenate([r[i] for r in runs]) for i in range(5))
    errors = np.abs(actual - predicted)
    nonzero = actual != 0
    sums = np.abs(actual) + np.abs(predicted)
    smape = np.divide(2 * errors, sums, out=np.zeros_like(errors), where=sums > 0)
    mase_terms = [np.mean(np.abs(r[0] - r[1])) / r[5] for r in runs if r[5] > 0]
    return {
        "n_origins": len(runs),
        "horizon_days": horizon,
        "mape_pct": float(100 * np.mean(errors[nonzero] / np.abs(actual[nonzero]))) if nonzero.any() else math.nan,
        "smape_pct": float(100 * np.mean(smape)),
        "mase": float(np.mean(mase_terms)) if mase_terms else math.nan,
        "coverage": float(np.mean((actual >= lower - 1e-12) & (actual <= upper + 1e-12))),
        "naive_mape_pct": (
            float(100 * np.mean(np.abs(actual - naive)[nonzero] / np.abs(actual[nonzero])))
            if nonzero.any()
            else math.nan
        ),
    }
