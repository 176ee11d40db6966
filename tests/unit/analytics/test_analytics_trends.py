"""Unit tests for hitcraft_assets.analytics.trends / period_changes on small constructed daily_metrics frames."""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from hitcraft_assets.analytics.metric_series import infer_metric_kinds
from hitcraft_assets.analytics.trends import change_points, metric_trends, period_changes

AS_OF = date(2025, 6, 29)  # a Sunday
WEEKDAY = np.array([1.15, 1.1, 1.05, 1.0, 0.95, 0.8, 0.75])  # Monday..Sunday


def _dates(days: int) -> pd.DatetimeIndex:
    return pd.date_range(end=pd.Timestamp(AS_OF), periods=days, freq="D")


def _long(metric: str, values, numerator=None, denominator=None, days: int | None = None) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    dates = _dates(days or len(values))
    return pd.DataFrame(
        {
            "metric_date": dates.date,
            "metric": metric,
            "value": values,
            "numerator": values if numerator is None else np.asarray(numerator, dtype=float),
            "denominator": np.nan if denominator is None else np.asarray(denominator, dtype=float),
        }
    )


def _weekday_factor(days: int) -> np.ndarray:
    return WEEKDAY[_dates(days).day_of_week]


# ---------------------------------------------------------------- metric_trends


def test_linear_growth_is_increasing_with_its_sen_slope():
    rng = np.random.default_rng(1)
    t = np.arange(90)
    frame = _long("dau", 500 + 2.0 * t + rng.normal(0, 5, 90))
    result = metric_trends(frame, AS_OF).set_index("window_days")
    assert list(result.index) == [28, 90]
    row = result.loc[90]
    assert row["trend"] == "increasing" and row["p_value"] < 1e-6
    assert row["test"] == "hamed_rao_mk"  # no weekly cycle in this series
    assert row["sen_slope_per_day"] == pytest.approx(2.0, rel=0.05)
    assert row["sen_slope_pct_per_week"] == pytest.approx(100 * 7 * row["sen_slope_per_day"] / row["window_mean"])
    assert row["window_start"] == AS_OF - timedelta(days=89)


def test_weekly_cycle_uses_seasonal_test_and_slope_per_day():
    rng = np.random.default_rng(2)
    days = 90
    values = (400 + 1.5 * np.arange(days)) * _weekday_factor(days) + rng.normal(0, 4, days)
    row = metric_trends(_long("sessions", values), AS_OF).set_index("window_days").loc[90]
    assert row["test"] == "seasonal_mk(period=7)"
    assert row["trend"] == "increasing"
    # Seasonal Sen's slope is per week inside pymannkendall; the output is per day (1.5 * weekday factor ~ 1.4).
    assert row["sen_slope_per_day"] == pytest.approx(1.5 * WEEKDAY.mean(), rel=0.1)


def test_noise_has_no_trend_and_constant_is_reported_as_constant():
    rng = np.random.default_rng(3)
    frame = pd.concat([_long("noise", 100 + rng.normal(0, 3, 90)), _long("flat", np.full(90, 7.0))])
    result = metric_trends(frame, AS_OF, windows=(90,)).set_index("metric")
    assert result.loc["noise", "trend"] == "no trend" and result.loc["noise", "p_value"] > 0.05
    assert result.loc["flat", "test"] == "constant"
    assert result.loc["flat", "p_value"] == 1.0 and result.loc["flat", "sen_slope_per_day"] == 0.0


def test_window_longer_than_history_is_skipped_with_a_note():
    frame = _long("new_users", np.arange(40, dtype=float) + 50)
    result = metric_trends(frame, AS_OF).set_index("window_days")
    assert result.loc[28, "test"] != "skipped" and result.loc[28, "trend"] == "increasing"
    assert result.loc[90, "test"] == "skipped"
    assert np.isnan(result.loc[90, "p_value"])
    assert result.loc[90, "note"] == "history has 40 of 90 days"


def test_rows_after_as_of_are_ignored_and_partial_mau_windows_are_skipped():
    frame = _long("mau", np.r_[np.linspace(100, 1000, 27), np.full(33, 1000.0)])
    later = _long("mau", np.full(5, 1e6), days=5).assign(metric_date=[AS_OF + timedelta(days=i) for i in range(1, 6)])
    result = metric_trends(pd.concat([frame, later]), AS_OF, windows=(28, 60)).set_index("window_days")
    # The 27-day ramp-up is a partial 28-day window: ignored, so 60 days cannot be filled and 28 is flat.
    assert result.loc[60, "test"] == "skipped"
    assert result.loc[28, "test"] == "constant"


# ---------------------------------------------------------------- period_changes


def test_proportion_change_matches_newcombe_on_summed_counts_when_days_are_binomially_calm():
    days = 14
    denominator = np.full(days, 1000.0)
    numerator = np.r_[np.full(7, 50.0), np.full(7, 100.0)]  # identical days: no overdispersion, phi = 1
    frame = _long("render_failure_rate", numerator / denominator, numerator, denominator)
    row = period_changes(frame, AS_OF, comparisons=("wow",)).iloc[0]
    assert row["kind"] == "proportion"
    assert row["current"] == pytest.approx(0.10) and row["previous"] == pytest.approx(0.05)
    assert row["rel_change"] == pytest.approx(1.0)
    expected = confint_proportions_2indep(700, 7000, 350, 7000, method="newcomb", compare="diff")
    assert (row["abs_ci_low"], row["abs_ci_high"]) == pytest.approx(expected)
    assert row["ci_low"] < 1.0 < row["ci_high"] and row["ci_low"] > 0.5
    assert row["p_value"] < 1e-10
    assert "phi=1.00" in row["test"] and row["n_current"] == 7000


def test_overdispersed_days_widen_the_proportion_interval():
    rng = np.random.default_rng(4)
    denominator = np.full(14, 1000.0)
    numerator = np.round(denominator * rng.choice([0.03, 0.12], 14))  # day-to-day swings far beyond binomial
    row = period_changes(_long("rate", numerator / denominator, numerator, denominator), AS_OF, comparisons=("wow",))
    row = row.iloc[0]
    plain = confint_proportions_2indep(
        numerator[7:].sum(), 7000, numerator[:7].sum(), 7000, method="newcomb", compare="diff"
    )
    assert float(row["test"].split("phi=")[1].rstrip(")")) > 5
    assert row["abs_ci_high"] - row["abs_ci_low"] > 2 * (plain[1] - plain[0])


def test_count_change_is_a_paired_t_test_on_same_weekdays():
    rng = np.random.default_rng(5)
    previous = 100 * WEEKDAY[_dates(14)[:7].day_of_week] + rng.normal(0, 3, 7)
    current = previous * 1.10 + rng.normal(0, 3, 7)
    row = period_changes(_long("new_users", np.r_[previous, current]), AS_OF, comparisons=("wow",)).iloc[0]
    reference = stats.ttest_rel(current, previous)
    assert row["test"] == "paired t on daily values (same weekday)"
    assert row["current"] == pytest.approx(current.mean()) and row["previous"] == pytest.approx(previous.mean())
    assert row["p_value"] == pytest.approx(reference.pvalue)
    low, high = reference.confidence_interval(0.95)
    assert (row["abs_ci_low"], row["abs_ci_high"]) == pytest.approx((low, high))
    assert row["ci_low"] < row["rel_change"] < row["ci_high"]
    assert row["rel_change"] == pytest.approx(current.mean() / previous.mean() - 1)


def test_ratio_metric_pools_numerators_and_denominators():
    numerator = np.r_[np.full(7, 150.0), np.full(7, 200.0)]
    denominator = np.r_[np.full(7, 100.0), np.r_[np.full(6, 100.0), 150.0]]
    frame = _long("sessions_per_user", numerator / denominator, numerator, denominator)
    row = period_changes(frame, AS_OF, comparisons=("wow",)).iloc[0]
    assert row["kind"] == "ratio"
    assert row["current"] == pytest.approx(1400 / 750) and row["previous"] == pytest.approx(1.5)
    assert row["ci_low"] < row["rel_change"] < row["ci_high"]


def test_rolling_counts_compare_points_and_skip_overlapping_windows():
    wau = np.r_[np.full(21, 1000.0), np.full(7, 1100.0)]
    frame = pd.concat([_long("wau", wau), _long("mau", np.full(70, 4000.0))])
    result = period_changes(frame, AS_OF).set_index(["metric", "comparison"])
    wow = result.loc[("wau", "wow")]
    assert (wow["current"], wow["previous"]) == (1100.0, 1000.0)
    assert wow["p_value"] == pytest.approx(stats.binomtest(1100, 2100, 0.5).pvalue)
    assert np.isnan(result.loc[("mau", "wow"), "p_value"]) and "overlap" in result.loc[("mau", "wow"), "note"]
    assert result.loc[("mau", "mom"), "p_value"] == pytest.approx(1.0)


def test_too_few_days_give_nan_and_a_note():
    row = period_changes(_long("dau", np.arange(10.0) + 1), AS_OF, comparisons=("wow",)).iloc[0]
    assert np.isnan(row["current"]) and np.isnan(row["p_value"])
    assert "fewer than" in row["note"]


def test_infer_metric_kinds_reads_the_parts():
    frame = pd.concat(
        [
            _long("dau", [5.0, 6.0]),
            _long("rate", [0.5, 0.25], [1.0, 1.0], [2.0, 4.0]),
            _long("likes_dislikes_ratio", [3.0, 2.0], [3.0, 4.0], [1.0, 2.0]),
            _long("median_session_minutes", [4.0, 5.0], [np.nan, np.nan], [10.0, 12.0]),
        ]
    )
    assert infer_metric_kinds(frame) == {
        "dau": "count",
        "rate": "proportion",
        "likes_dislikes_ratio": "ratio",
        "median_session_minutes": "median",
    }


# ---------------------------------------------------------------- change_points


def _stepped(days: int = 90, step_at: int = 60, step: float = 15.0, seed: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * _weekday_factor(days) + rng.normal(0, 4, days) + step * (np.arange(days) >= step_at)


def test_change_point_found_at_a_level_shift_with_means_either_side():
    result = change_points(_long("sessions", _stepped()), AS_OF)
    assert len(result) == 1
    row = result.iloc[0]
    assert abs((row["change_date"] - (AS_OF - timedelta(days=29))).days) <= 2
    assert row["mean_before"] == pytest.approx(100 * WEEKDAY.mean(), abs=3)
    assert row["abs_change"] == pytest.approx(15, abs=4)
    assert row["days_before"] + row["days_after"] == 90


def test_no_change_point_for_steady_growth_or_a_one_day_outage():
    rng = np.random.default_rng(7)
    days = 90
    growth = (100 + 0.4 * np.arange(days)) * _weekday_factor(days) + rng.normal(0, 4, days)
    spike = 0.08 + rng.normal(0, 0.005, days)
    spike[days - 12] = 0.30
    frame = pd.concat([_long("dau", growth), _long("render_failure_rate", spike)])
    assert change_points(frame, AS_OF).empty


def test_rolling_metrics_are_left_out_unless_asked_for():
    frame = _long("mau", _stepped())
    assert change_points(frame, AS_OF).empty
    assert not change_points(frame, AS_OF, metric_names=["mau"]).empty


def test_twenty_metrics_run_without_warnings():  # their speed: benchmarks/speed_bench.py
    rng = np.random.default_rng(8)
    frame = pd.concat(
        [_long(f"m{i}", 100 * _weekday_factor(90) + rng.normal(0, 5, 90) + i * np.arange(90) / 30) for i in range(20)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trends = metric_trends(frame, AS_OF)
        changes = period_changes(frame, AS_OF)
        change_points(frame, AS_OF)
    assert len(trends) == 40 and len(changes) == 40
