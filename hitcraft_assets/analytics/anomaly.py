"""Daily metric anomaly detection: for each metric (and metric × segment) series and day, an expected value and
interval from the trailing history only, a signed severity, and a flag with guards against tiny effects.

Model choice, measured with benchmarks/anomaly_bench.py on the 60-day sample (2026-09-22..11-20, incident
2026-11-09 = anchor - 12 d; 632 judged metric-days from 2026-10-13) and on two labelled series from the aeon wheel:

| baseline (same noise model and guards) | incident z | largest other abs z | false flags at 4 | 2nd incident z |
| --- | --- | --- | --- | --- |
| seasonal median (chosen)               | 22.33      | 3.42                | 0                | 6.58 (flagged) |
| robust STL, forecast-error scale       | 18.47      | 28.63               | 1 (492 judged)   | 3.08 (missed)  |
| rolling mean / std (56 days)           | 22.66      | 3.66                | 0                | 2.34 (missed)  |

"2nd incident": render_failure_rate × 1.5 planted a week after the real incident; only the median baseline still
finds it with the first incident in its window (mean/std and STL's scale are inflated by it for weeks). On the
public series (event F1 at |z| ≥ 4 / 5, rolling z-score |z| > 3 beside it): UCR InternalBleeding16 0.33 / 0.67 vs
0.0; GutenTAG ECG 0.80 / 1.00 vs 0.48. Design measurements on the sample: shrinking the weekly pattern (see
anomaly_models) raised the incident z from 21.95 to 22.33, lowered the largest other |z| from 3.67 to 3.42 and
the 2nd incident went from 5.68 to 6.58 (segment false flags at z 4: 7 instead of 6);
log1p counts gave 13 instead of 7 segment false flags at z 4 (kept as an option, log_counts, for fast growth);
history 28 / 56 / 84 days: largest other |z| 3.77 / 3.42 / 3.42. The z-scores are calibrated on the sample
(non-incident days: sd 1.00, median |z| 0.67, normal 0.67) but segment series have heavier tails (share of |z| > 4:
0.0013 vs 6e-5 for a normal), hence threshold 4 for daily_metrics (0 false flags for any threshold from 3.5; the
incident is flagged up to 9) and 5 for segments (false flags at 4 / 4.5 / 5: 7 / 2 / 0; 29 incident-day flags at 5).

How a day d of one series is judged:
1. ``expected`` and the model scale σ_model come from ``seasonal_median_baseline`` on the ``history_days``
   days before d (level = median of the last 7 days, Theil-Sen weekly trend, same-weekday seasonal median, σ from
   the robust spread of pseudo-forecast errors inside the window). Values of d and later are never used, so a day's
   result does not change when later days arrive.
2. Sampling noise is added where the series says how big its sample is: a proportion (numerator ≤ denominator,
   e.g. render_failure_rate) gets the binomial variance p(1-p)/n of *that day's* denominator on top of the
   process variance (σ_model² minus the typical binomial variance of the history); a count gets at least the
   Poisson variance (its expected value). So a rate on 12 renders has a wide interval and does not alarm.
3. severity = (value - expected) / σ (signed z-score; direction 'up' > 0, 'down' < 0). The day is an anomaly when
   |severity| ≥ threshold and no guard applies: 'short_history' (fewer than ``min_history_days`` values in the
   window, or inside the metric's warm-up), 'missing_value', 'small_sample' (denominator below
   ``min_denominator``), 'min_effect' (|value - expected| below the absolute or relative minimum).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.anomaly_models import fit_baseline

KINDS = ("count", "proportion", "ratio", "median")
SEGMENT_KEYS = ("segment_type", "segment_value")
OUTPUT_COLUMNS = [
    "metric_date", "metric", "segment_type", "segment_value", "value", "expected", "lower", "upper", "severity",
    "direction", "is_anomaly", "history_days", "guard", "kind", "scale", "denominator",
]  # fmt: skip

# Per metric, from the metric catalogue (seeds/metric_catalogue.csv): its kind (the noise model follows it), and its
# warm-up days — trailing-window metrics ramp up after the data starts, and first-seen users are inflated then,
# for reasons that are not behaviour; those days are neither judged nor used as history.


@dataclass(frozen=True)
class MetricRule:
    """Per-metric override of :class:`AnomalyConfig` fields (None = use the config's default).

    kind: 'count' | 'proportion' | 'ratio' | 'median' (default: inferred from the numerator/denominator columns).
    enabled: False skips the metric entirely.
    """

    threshold: float | None = None
    min_abs_change: float | None = None
    min_rel_change: float | None = None
    min_denominator: float | None = None
    warmup_days: int | None = None
    kind: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class AnomalyConfig:
    """Sensitivity and guards of :func:`detect_anomalies`.

    threshold: |severity| (z-score) at or above which a day of a daily_metrics series is an anomaly.
    segment_threshold: the same for metric × segment series (a segment table has ~15× more series, and segments'
        counts are burstier, so the same false-alarm budget needs a higher bar; measured in the module docstring).
    history_days: length of the trailing window the baseline is computed from (days before the judged day).
    min_history_days: fewer non-missing values than this in the window → not judged (guard 'short_history').
    season_days / trend_weeks: seasonal period and how many past weeks the trend slope looks at.
    log_counts: model count metrics on the log1p scale (multiplicative season and trend).
    model: the baseline, one of anomaly_models.MODELS ('seasonal_median' is the measured choice; 'stl' and
        'rolling_zscore' are kept for the benchmark's comparison).
    min_abs_change: per kind, the smallest |value - expected| that may alarm (counts in units, proportions in
        absolute rate, e.g. 0.01 = one percentage point).
    min_rel_change: the smallest |value - expected| / |expected| that may alarm.
    min_denominator: the smallest denominator (renders, users, sessions …) of a ratio/median that may alarm.
    warmup_days: per metric, the first days after the series' first value that are not trusted (trailing-window
        metrics; default: the catalogue's warmup_days).
    kinds: metric → 'count' | 'proportion' | 'ratio' | 'median' (default: the catalogue's kinds); a series the
        catalogue does not declare (an ad-hoc frame) is inferred from its rows (infer_kind).
    rules: per-metric overrides (:class:`MetricRule`).
    """

    threshold: float = 4.0
    segment_threshold: float = 5.0
    history_days: int = 56
    min_history_days: int = 21
    season_days: int = 7
    trend_weeks: int = 4
    log_counts: bool = False
    model: str = "seasonal_median"
    min_abs_change: Mapping[str, float] = field(
        default_factory=lambda: {"count": 10.0, "proportion": 0.01, "ratio": 0.0, "median": 0.0}
    )
    min_rel_change: float = 0.10
    min_denominator: float = 30.0
    warmup_days: Mapping[str, int] = field(default_factory=metric_catalogue.warmup_days)
    kinds: Mapping[str, str] = field(default_factory=metric_catalogue.kinds)
    rules: Mapping[str, MetricRule] = field(default_factory=dict)

    def rule(self, metric: str) -> MetricRule:
        return self.rules.get(metric, MetricRule())

    def with_threshold(self, threshold: float) -> AnomalyConfig:
        """This config with both thresholds (daily_metrics and segments) set to ``threshold``."""
        return replace(self, threshold=threshold, segment_threshold=threshold)


def infer_kind(numerator: pd.Series, denominator: pd.Series, value: pd.Series) -> str:
    """Kind of one metric from its rows: 'count' (no denominator), 'median' (denominator = sample size, no
    numerator), 'proportion' (numerator ≤ denominator on every row), else 'ratio'."""
    if denominator.isna().all():
        return "count"
    if numerator.isna().all():
        return "median"
    both = numerator.notna() & denominator.notna()
    return "proportion" if bool((numerator[both] <= denominator[both] + 1e-9).all()) else "ratio"


@dataclass(frozen=True)
class SeriesGrid:
    """Long metric rows reshaped to arrays on a daily grid: one row per series (``keys``), one column per day."""

    keys: pd.DataFrame
    days: pd.DatetimeIndex
    value: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    present: np.ndarray  # the input had a row for (series, day)


def to_grid(frame: pd.DataFrame, key_columns: Sequence[str]) -> SeriesGrid:
    """Pivot long rows (metric_date, *key_columns, value[, numerator, denominator]) to a :class:`SeriesGrid`."""
    data = frame.copy()
    data["metric_date"] = pd.to_datetime(data["metric_date"]).dt.normalize()
    for column in ("value", "numerator", "denominator"):
        data[column] = pd.to_numeric(data[column], errors="coerce") if column in data else np.nan
    days = pd.date_range(data["metric_date"].min(), data["metric_date"].max(), freq="D")
    data = data.drop_duplicates([*key_columns, "metric_date"], keep="last")
    data["_present"] = 1.0
    wide = data.set_index([*key_columns, "metric_date"])[["value", "numerator", "denominator", "_present"]]
    wide = wide.unstack("metric_date").reindex(columns=days, level=1)
    keys = wide.index.to_frame(index=False)

    def block(column: str) -> np.ndarray:
        return wide[column].reindex(columns=days).to_numpy(dtype=float)

    return SeriesGrid(
        keys=keys,
        days=days,
        value=block("value"),
        numerator=block("numerator"),
        denominator=block("denominator"),
        present=~np.isnan(block("_present")),
    )


def _per_row(metrics: pd.Series, lookup) -> np.ndarray:
    return metrics.map(lookup).to_numpy(dtype=float)[:, None]


def _kinds(frame: pd.DataFrame, config: AnomalyConfig) -> dict[str, str]:
    kinds = {}
    for metric, rows in frame.groupby("metric", sort=False):
        override = config.rule(metric).kind or config.kinds.get(metric)
        if override is not None and override not in KINDS:
            raise ValueError(f"AnomalyConfig kind of {metric!r}: {override!r} is not one of {KINDS}")
        kinds[metric] = override or infer_kind(
            rows.get("numerator", pd.Series(np.nan, index=rows.index)),
            rows.get("denominator", pd.Series(np.nan, index=rows.index)),
            rows["value"],
        )
    return kinds


def detect_anomalies(
    metrics: pd.DataFrame, days: Sequence[date] | None = None, config: AnomalyConfig | None = None
) -> pd.DataFrame:
    """Judge each (series, day) of a long metric table against its trailing history.

    Input ``metrics``: the daily_metrics shape — metric_date (date/datetime/ISO string), metric (str), value
    (float, NaN allowed), optionally numerator and denominator (float, NaN allowed) — or the
    daily_metrics_by_segment shape, which adds segment_type and segment_value (str); then every metric × segment
    is its own series. Pass every day you have: days before the judged ones are the history. The result for a day
    depends only on that day and the ``history_days`` before it (and, through the warm-up, on the series' first
    day), except that the kind of a metric missing from ``config.kinds`` is inferred from all rows passed.
    ``days``: the days to judge (default: every day in ``metrics``). ``config``: sensitivity (default
    :class:`AnomalyConfig()`).

    Returns one row per input row on a judged day, columns: metric_date (datetime.date), metric, segment_type,
    segment_value (None for the unsegmented table), value, expected, lower, upper (the interval
    expected ± threshold·scale, clipped to the metric's range), severity (signed z-score, NaN when not judged),
    direction ('up' / 'down' when the value is outside the interval, else None), is_anomaly (bool), history_days
    (non-missing values in the trailing window), guard (None, or why the day was not judged or not flagged:
    'short_history', 'missing_value', 'small_sample', 'min_effect'), kind ('count' | 'proportion' | 'ratio' |
    'median'), scale (standard deviation of value - expected), denominator (the day's denominator or NaN).
    """
    config = config or AnomalyConfig()
    missing = {"metric_date", "metric", "value"} - set(metrics.columns)
    if missing:
        raise ValueError(f"detect_anomalies: metrics lacks columns {sorted(missing)}")
    segmented = set(SEGMENT_KEYS) <= set(metrics.columns)
    key_columns = ["metric", *SEGMENT_KEYS] if segmented else ["metric"]
    enabled = [m for m in metrics["metric"].unique() if config.rule(m).enabled]
    frame = metrics[metrics["metric"].isin(enabled)]
    if frame.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    kinds = _kinds(frame, config)
    grid = to_grid(frame, key_columns)
    judged = np.ones(len(grid.days), dtype=bool)
    if days is not None:
        judged = grid.days.isin(pd.to_datetime(list(days)).normalize())
    if not judged.any():
        return pd.DataFrame(columns=OUTPUT_COLUMNS)

    # Warm-up is counted from each series' first value in all the data; after that only the judged days and the
    # history window before them matter, so the grid is cut to them (the same result, less work for one day).
    warmup = grid.keys["metric"].map(lambda m: _warmup_days(config, m)).to_numpy()
    present = ~np.isnan(grid.value)
    first = np.where(present.any(axis=1), np.argmax(present, axis=1), len(grid.days))
    in_warmup = np.arange(len(grid.days))[None, :] < (first + warmup)[:, None]
    lookback = config.history_days * (2 if config.model == "stl" else 1)  # STL's scale looks back twice as far
    start = max(0, int(np.argmax(judged)) - lookback)
    end = len(judged) - int(np.argmax(judged[::-1]))
    cut = slice(start, end)
    grid = SeriesGrid(
        keys=grid.keys,
        days=grid.days[cut],
        value=grid.value[:, cut],
        numerator=grid.numerator[:, cut],
        denominator=grid.denominator[:, cut],
        present=grid.present[:, cut],
    )
    threshold = config.segment_threshold if segmented else config.threshold
    result = _judge(grid, kinds, config, threshold, in_warmup[:, cut])
    judged = judged[cut]
    rows, cols = np.nonzero(grid.present & judged[None, :])
    out = grid.keys.iloc[rows].reset_index(drop=True)
    if not segmented:
        out["segment_type"] = None
        out["segment_value"] = None
    out["metric_date"] = grid.days[cols].date
    for name, array in result.items():
        out[name] = array[rows, cols]
    out["history_days"] = out["history_days"].astype(int)
    out["is_anomaly"] = out["is_anomaly"].astype(bool)
    for column in ("direction", "guard"):
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    out = out.sort_values(["metric_date", *key_columns], kind="stable").reset_index(drop=True)
    return out[OUTPUT_COLUMNS]


def _warmup_days(config: AnomalyConfig, metric: str) -> int:
    override = config.rule(metric).warmup_days
    return override if override is not None else config.warmup_days.get(metric, 0)


def _judge(
    grid: SeriesGrid, kinds: Mapping[str, str], config: AnomalyConfig, default_threshold: float, in_warmup: np.ndarray
) -> dict[str, np.ndarray]:
    """Baseline, noise model, severity and guards on the whole grid at once; warm-up days are no history."""
    metric = grid.keys["metric"]
    kind = metric.map(kinds).to_numpy()[:, None]

    is_count, is_prop = kind == "count", kind == "proportion"
    base = fit_baseline(
        np.where(in_warmup, np.nan, grid.value),
        model=config.model,
        history=config.history_days,
        season=config.season_days,
        trend_seasons=config.trend_weeks,
        log_rows=is_count[:, 0] & config.log_counts,
    )
    # Additive seasonality can push a small rate below 0: keep the expectation inside the metric's range.
    expected = np.where(is_count | is_prop, np.maximum(base.expected, 0.0), base.expected)
    expected = np.where(is_prop, np.minimum(expected, 1.0), expected)
    model_scale = base.scale

    # Sampling noise on top of the model's spread (see the module docstring).
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.clip(expected, 0.0, 1.0)
        binomial_today = p * (1 - p) / grid.denominator
        inverse_n = pd.DataFrame(1.0 / np.where(grid.denominator > 0, grid.denominator, np.nan))
        typical_inverse_n = (
            inverse_n.T.rolling(config.history_days, min_periods=1).median().shift(1).T.to_numpy()
        )  # the history's typical 1/n, days before d only
        process_var = np.maximum(model_scale**2 - p * (1 - p) * typical_inverse_n, 0.0)
        variance = np.where(is_prop, process_var + binomial_today, model_scale**2)
        variance = np.where(is_count, np.maximum(variance, np.abs(expected)), variance)
        # A perfectly flat history gives σ = 0; keep a small floor so that severity stays finite.
        scale = np.sqrt(np.maximum(variance, (0.005 * np.abs(expected)) ** 2 + 1e-12))
        severity = (grid.value - expected) / scale

    def rule_value(attribute: str, default) -> np.ndarray:
        def lookup(m: str) -> float:
            override = getattr(config.rule(m), attribute)
            return override if override is not None else default(m)

        return _per_row(metric, lookup)

    threshold = rule_value("threshold", lambda m: default_threshold)
    lower, upper = expected - threshold * scale, expected + threshold * scale
    lower = np.where(is_count | is_prop, np.maximum(lower, 0.0), lower)
    upper = np.where(is_prop, np.minimum(upper, 1.0), upper)

    outside = np.abs(severity) >= threshold
    direction = np.where(outside & (severity > 0), "up", np.where(outside & (severity < 0), "down", None))

    min_abs = rule_value("min_abs_change", lambda m: config.min_abs_change.get(kinds[m], 0.0))
    min_rel = rule_value("min_rel_change", lambda m: config.min_rel_change)
    min_den = rule_value("min_denominator", lambda m: config.min_denominator)
    deviation = np.abs(grid.value - expected)
    small_effect = (deviation < min_abs) | (deviation < min_rel * np.abs(expected))
    small_sample = ~is_count & ~(grid.denominator >= min_den)

    short = (base.history < config.min_history_days) | np.isnan(expected) | in_warmup
    guard = np.full(grid.value.shape, None, dtype=object)
    guard[outside & small_effect] = "min_effect"
    guard[outside & small_sample] = "small_sample"
    guard[np.isnan(grid.value)] = "missing_value"
    guard[short] = "short_history"
    not_judged = short | np.isnan(grid.value)
    severity = np.where(not_judged, np.nan, severity)
    direction = np.where(not_judged, None, direction)
    is_anomaly = outside & (guard == None)  # noqa: E711 (element-wise on an object array)
    return {
        "value": grid.value,
        "expected": expected,
        "lower": lower,
        "upper": upper,
        "severity": severity,
        "direction": direction,
        "is_anomaly": is_anomaly,
        "history_days": base.history,
        "guard": guard,
        "kind": np.broadcast_to(kind, grid.value.shape),
        "scale": scale,
        "denominator": grid.denominator,
    }
