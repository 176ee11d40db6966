"""Week-over-week and month-over-month changes of the daily metrics, with confidence intervals and tests."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.metric_series import (
    KIND_PROPORTION,
    KIND_RATIO,
    metric_kinds,
    prepare_metrics,
)

COMPARISONS = {"wow": 7, "mom": 28}
PERIOD_CHANGE_COLUMNS = [
    "metric",
    "as_of",
    "comparison",
    "kind",
    "current",
    "previous",
    "abs_change",
    "rel_change",
    "ci_low",
    "ci_high",
    "abs_ci_low",
    "abs_ci_high",
    "p_value",
    "test",
    "n_current",
    "n_previous",
    "note",
]


def period_changes(
    metrics: pd.DataFrame,
    as_of: date,
    metric_names: Sequence[str] | None = None,
    start: date | None = None,
    comparisons: Sequence[str] = ("wow", "mom"),
    level: float = 0.95,
    min_coverage: float = 0.7,
) -> pd.DataFrame:
    """Last 7 days vs the 7 before ('wow') and last 28 vs the 28 before ('mom'), per metric, as of `as_of`.

    Input `metrics`: the daily_metrics mart, columns metric_date, metric, value, numerator, denominator
    (the kind of each metric is the catalogue's, see `metric_series.metric_kinds`).
    The current window is [as_of - p + 1, as_of], the previous one the p days before it (p = 7 or 28).
    `start` (optional date): ignore days before it, e.g. the first days of a fresh backfill, when every
    user looks new. The first 6/27 days of wau/mau/stickiness (partial windows) are always ignored.

    Method by kind (column `test` names it):
    - proportion (render_failure_rate, feedback_rate, ...): current/previous = sum(numerator)/sum(denominator)
      of the window. Newcombe interval of the difference, log-adjusted interval of the ratio and a score
      test, on counts divided by the quasi-binomial dispersion phi = max(1, Pearson chi2 / df) of the daily
      counts around each window's rate: day-to-day swings beyond binomial noise widen the interval instead
      of being reported as significant. n_current/n_previous = summed denominators.
    - ratio (sessions_per_user, likes_dislikes_ratio, ...): the same pooled ratios; delta-method (ratio
      estimator, days as clusters) variances, Welch-Satterthwaite t interval for the difference and for the
      log ratio. n_* = days.
    - count, median, level (new_users, dau, median_session_minutes, ...): current/previous = mean daily value.
      Paired t-test on days paired by position (same weekday when p is a multiple of 7, so the weekly cycle
      cancels); interval of the ratio of means by the delta method on the log scale, t with n-1 df. n_* = days.
    - rolling-window counts (wau, mau): current = value at as_of, previous = value at as_of - p. When the two
      windows do not overlap: exact conditional Poisson test (binomial on k1 of k1 + k0), Clopper-Pearson
      interval of the rate ratio, normal interval k1 - k0 +- z sqrt(k1 + k0) for the difference; when they
      overlap (mau week over week) no test is made (NaN, note says so). n_* = 1 (one value each).

    Output: one row per metric x comparison, columns metric, as_of (date), comparison ('wow'|'mom'), kind,
    current, previous, abs_change (current - previous), rel_change (current / previous - 1),
    ci_low/ci_high (`level` interval of rel_change, as a fraction: 0.05 = +5 %), abs_ci_low/abs_ci_high
    (interval of abs_change), p_value (two-sided), test, n_current, n_previous, note ('' or why a value is
    missing). Windows with fewer than `min_coverage` of their days usable give NaN results and a note.
    """
    kinds = metric_kinds(metrics)
    rolling = metric_catalogue.rolling_user_counts()
    lookback = 2 * max(COMPARISONS[c] for c in comparisons)
    data = prepare_metrics(metrics, as_of, metric_names, lookback_days=lookback, start=start)
    end = pd.Timestamp(as_of).normalize()
    rows = []
    for metric, frame in data.items():
        kind = kinds.get(metric, "level")
        for comparison in comparisons:
            days = COMPARISONS[comparison]
            current = frame.reindex(pd.date_range(end - pd.Timedelta(days=days - 1), end, freq="D"))
            previous = frame.reindex(current.index - pd.Timedelta(days=days))
            base = {"metric": metric, "as_of": end.date(), "comparison": comparison, "kind": kind}
            if metric in rolling:
                result = _point_change(current["value"].iloc[-1], previous["value"].iloc[-1], metric, days, level)
            elif kind in (KIND_PROPORTION, KIND_RATIO):
                usable_cur = current[(current["denominator"] > 0) & current["numerator"].notna()]
                usable_prev = previous[(previous["denominator"] > 0) & previous["numerator"].notna()]
                if min(len(usable_cur), len(usable_prev)) < max(2, min_coverage * days):
                    result = _missing(f"fewer than {min_coverage:.0%} of days have parts")
                elif kind == KIND_PROPORTION:
                    result = _proportion_change(usable_cur, usable_prev, level)
                else:
                    result = _ratio_change(usable_cur, usable_prev, level)
            else:
                pairs = pd.DataFrame({"cur": current["value"].to_numpy(), "prev": previous["value"].to_numpy()})
                pairs = pairs.dropna()
                if len(pairs) < max(3, min_coverage * days):
                    result = _missing(f"fewer than {min_coverage:.0%} of day pairs have values")
                else:
                    result = _paired_daily_change(pairs["cur"].to_numpy(), pairs["prev"].to_numpy(), level)
            rows.append({**base, **result})
    return pd.DataFrame(rows, columns=PERIOD_CHANGE_COLUMNS)


def _result(current, previous, rel_ci, abs_ci, p_value, test, n_current, n_previous, note="") -> dict:
    abs_change = current - previous
    rel_change = current / previous - 1 if previous else float("nan")
    return {
        "current": float(current),
        "previous": float(previous),
        "abs_change": float(abs_change),
        "rel_change": float(rel_change),
        "ci_low": float(rel_ci[0]),
        "ci_high": float(rel_ci[1]),
        "abs_ci_low": float(abs_ci[0]),
        "abs_ci_high": float(abs_ci[1]),
        "p_value": float(p_value),
        "test": test,
        "n_current": float(n_current),
        "n_previous": float(n_previous),
        "note": note,
    }


def _missing(note: str) -> dict:
    nan = float("nan")
    return _result(nan, nan, (nan, nan), (nan, nan), nan, "not tested", nan, nan, note)


def _proportion_change(cur: pd.DataFrame, prev: pd.DataFrame, level: float) -> dict:
    k1, n1 = cur["numerator"].sum(), cur["denominator"].sum()
    k0, n0 = prev["numerator"].sum(), prev["denominator"].sum()
    p1, p0 = k1 / n1, k0 / n0
    chi2, df = 0.0, len(cur) + len(prev) - 2
    for window, rate in ((cur, p1), (prev, p0)):
        if 0 < rate < 1:
            expected = window["denominator"] * rate
            chi2 += float(((window["numerator"] - expected) ** 2 / (expected * (1 - rate))).sum())
    phi = max(1.0, chi2 / df) if df > 0 else 1.0
    test = f"quasi-binomial Newcombe / score test (phi={phi:.2f})"
    alpha = 1 - level
    if k1 + k0 == 0 or k1 + k0 == n1 + n0:  # both windows all-zero or all-one: nothing to compare
        return _result(p1, p0, (0.0, 0.0), (0.0, 0.0), 1.0, test, n1, n0, "rate is 0 or 1 in both windows")
    e1, m1, e0, m0 = k1 / phi, n1 / phi, k0 / phi, n0 / phi
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        abs_ci = confint_proportions_2indep(e1, m1, e0, m0, method="newcomb", compare="diff", alpha=alpha)
        ratio_ci = confint_proportions_2indep(e1, m1, e0, m0, method="log-adjusted", compare="ratio", alpha=alpha)
        p_value = test_proportions_2indep(e1, m1, e0, m0, method="score", compare="diff").pvalue
    rel_ci = (ratio_ci[0] - 1, ratio_ci[1] - 1) if k0 > 0 else (float("nan"), float("nan"))
    return _result(p1, p0, rel_ci, abs_ci, p_value, test, n1, n0)


def _ratio_variance(window: pd.DataFrame) -> tuple[float, float, int]:
    y, x = window["numerator"].to_numpy(float), window["denominator"].to_numpy(float)
    n = len(y)
    ratio = y.sum() / x.sum()
    variance = n / (n - 1) * float(((y - ratio * x) ** 2).sum()) / x.sum() ** 2
    return ratio, variance, n


def _ratio_change(cur: pd.DataFrame, prev: pd.DataFrame, level: float) -> dict:
    r1, v1, n1 = _ratio_variance(cur)
    r0, v0, n0 = _ratio_variance(prev)
    test = "delta-method ratio, Welch t (days as clusters)"
    diff, se = r1 - r0, math.sqrt(v1 + v0)
    if se == 0:
        rel = r1 / r0 - 1 if r0 else float("nan")
        return _result(r1, r0, (rel, rel), (diff, diff), float(diff == 0), test, n1, n0)
    df = _welch_df(v1, n1, v0, n0)
    t = stats.t.ppf(0.5 + level / 2, df)
    p_value = 2 * stats.t.sf(abs(diff) / se, df)
    rel_ci = (float("nan"), float("nan"))
    if r1 > 0 and r0 > 0:
        lv1, lv0 = v1 / r1**2, v0 / r0**2
        t_log = stats.t.ppf(0.5 + level / 2, _welch_df(lv1, n1, lv0, n0))
        log_ratio, log_se = math.log(r1 / r0), math.sqrt(lv1 + lv0)
        rel_ci = (math.expm1(log_ratio - t_log * log_se), math.expm1(log_ratio + t_log * log_se))
    return _result(r1, r0, rel_ci, (diff - t * se, diff + t * se), p_value, test, n1, n0)


def _welch_df(v1: float, n1: int, v0: float, n0: int) -> float:
    denominator = v1**2 / (n1 - 1) + v0**2 / (n0 - 1)
    return (v1 + v0) ** 2 / denominator if denominator > 0 else float(n1 + n0 - 2)


def _paired_daily_change(cur: np.ndarray, prev: np.ndarray, level: float) -> dict:
    n = len(cur)
    m1, m0 = float(cur.mean()), float(prev.mean())
    test = "paired t on daily values (same weekday)"
    diffs = cur - prev
    if np.ptp(diffs) == 0:  # identical differences: no noise left to test against
        rel = m1 / m0 - 1 if m0 else float("nan")
        return _result(m1, m0, (rel, rel), (m1 - m0, m1 - m0), float(diffs[0] == 0), test, n, n)
    result = stats.ttest_rel(cur, prev)
    abs_ci = result.confidence_interval(confidence_level=level)
    rel_ci = (float("nan"), float("nan"))
    if m1 > 0 and m0 > 0:
        # log(m1/m0) by the delta method; pairing enters through the covariance of cur and prev.
        log_se = float(np.std(cur / m1 - prev / m0, ddof=1) / math.sqrt(n))
        t = stats.t.ppf(0.5 + level / 2, n - 1)
        log_ratio = math.log(m1 / m0)
        rel_ci = (math.expm1(log_ratio - t * log_se), math.expm1(log_ratio + t * log_se))
    return _result(m1, m0, rel_ci, (abs_ci.low, abs_ci.high), result.pvalue, test, n, n)


def _point_change(k1: float, k0: float, metric: str, days: int, level: float) -> dict:
    nan = float("nan")
    if not (np.isfinite(k1) and np.isfinite(k0)):
        return _missing("value missing on one of the two days")
    window = metric_catalogue.rolling_user_counts()[metric]
    if window > days:
        note = f"{metric} counts {window} days: windows {days} days apart overlap"
        return _result(k1, k0, (nan, nan), (nan, nan), nan, "not tested", 1, 1, note)
    test = "exact Poisson rate ratio (conditional binomial)"
    total = int(round(k1 + k0))
    if total == 0:
        return _result(k1, k0, (nan, nan), (0.0, 0.0), 1.0, test, 1, 1, "both values are 0")
    result = stats.binomtest(int(round(k1)), total, 0.5)
    share = result.proportion_ci(confidence_level=level, method="exact")
    rel_ci = (share.low / (1 - share.low) - 1, share.high / (1 - share.high) - 1 if share.high < 1 else math.inf)
    z = stats.norm.ppf(0.5 + level / 2)
    half = z * math.sqrt(k1 + k0)
    return _result(k1, k0, rel_ci, (k1 - k0 - half, k1 - k0 + half), result.pvalue, test, 1, 1)
