from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from hitcraft_assets.analytics.anomaly import AnomalyConfig, MetricRule, detect_anomalies, infer_kind
from hitcraft_assets.analytics.anomaly_models import (
    rolling_zscore_baseline,
    seasonal_median_baseline,
    trimmed_scale,
)

START = date(2026, 1, 5)  # a Monday
WEEKDAY = np.array([1.0, 1.02, 1.02, 1.0, 0.95, 0.80, 0.85])


def daily_counts(days=70, level=600.0, growth=0.003, seed=0, metric="dau", shocks=None):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days):
        day = START + timedelta(days=i)
        mean = level * (1 + growth) ** i * WEEKDAY[day.weekday()] * (shocks or {}).get(i, 1.0)
        value = float(rng.poisson(mean))
        rows.append({"metric_date": day, "metric": metric, "value": value, "numerator": value, "denominator": np.nan})
    return pd.DataFrame(rows)


def daily_rates(days=70, n=900, rate=0.125, seed=1, metric="render_failure_rate", shocks=None, sizes=None):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days):
        size = int((sizes or {}).get(i, rng.poisson(n)))
        failed = int(rng.binomial(size, (shocks or {}).get(i, rate)))
        rows.append(
            {"metric_date": START + timedelta(days=i), "metric": metric, "value": failed / size,
             "numerator": float(failed), "denominator": float(size)}
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_models_reproduce_a_clean_seasonal_series_and_a_normal_scale():
    t = np.arange(84)
    series = 100 + 0.3 * t + 20 * np.tile(WEEKDAY, 12)
    base = seasonal_median_baseline(series, history=56)
    assert np.allclose(base.expected[0, 60:], series[60:], atol=1.0)  # the weekly swing is 8
    rng = np.random.default_rng(0)
    assert trimmed_scale(rng.normal(0, 2.0, size=(1, 4000)))[0] == pytest.approx(2.0, rel=0.05)
    roll = rolling_zscore_baseline(np.array([1.0, 2, 3, 4, 100]), history=4)
    assert roll.expected[0, 4] == pytest.approx(2.5) and roll.scale[0, 4] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))


def test_flags_the_planted_drop_and_nothing_else():
    frame = daily_counts(shocks={50: 0.6})
    out = detect_anomalies(frame)
    flagged = out[out["is_anomaly"]]
    assert list(flagged["metric_date"]) == [START + timedelta(days=50)]
    row = flagged.iloc[0]
    assert row["direction"] == "down" and row["severity"] < -4 and row["value"] < row["lower"]
    judged = out[out["guard"] != "short_history"]
    assert len(judged) == 70 - 21 and judged["severity"].notna().all()


def test_result_of_a_day_does_not_depend_on_later_days():
    frame = daily_counts(seed=3)
    day = START + timedelta(days=40)
    full = detect_anomalies(frame, days=[day])
    cut = detect_anomalies(frame[frame["metric_date"] <= day], days=[day])
    changed = frame.assign(value=np.where(frame["metric_date"] > day, frame["value"] * 3, frame["value"]))
    pd.testing.assert_frame_equal(full, cut)
    every_day = detect_anomalies(frame)
    pd.testing.assert_frame_equal(full, every_day[every_day["metric_date"] == day].reset_index(drop=True))
    pd.testing.assert_frame_equal(full, detect_anomalies(changed, days=[day]))


def test_an_earlier_incident_does_not_widen_the_interval():
    clean = detect_anomalies(daily_counts(seed=4))
    spiked = detect_anomalies(daily_counts(seed=4, shocks={35: 3.0}))
    later = clean["metric_date"] > START + timedelta(days=36)
    ratio = spiked.loc[later, "scale"].to_numpy() / clean.loc[later, "scale"].to_numpy()
    assert np.all(ratio < 1.15)
    assert not spiked.loc[later, "is_anomaly"].any()
    assert spiked.loc[spiked["metric_date"] == START + timedelta(days=35), "is_anomaly"].all()


def test_trend_and_weekly_season_are_expected_not_flagged():
    frame = daily_counts(growth=0.01, seed=5)  # +7 % a week, Saturday dip of 20 %
    for config in (AnomalyConfig(), AnomalyConfig(log_counts=True)):
        judged = detect_anomalies(frame, config=config).dropna(subset=["severity"])
        assert not judged["is_anomaly"].any()
        error = (judged["value"] / judged["expected"] - 1).abs()
        assert error.median() < 0.06 and error.max() < 0.15  # Poisson noise alone is 3-4 %


def test_binomial_noise_and_small_sample_guard_rates():
    # 12 renders with 5 failures (42 %) against 12.5 %: not an alarm; the same jump on 900 renders is one.
    small = daily_rates(shocks={50: 0.42}, sizes={50: 12}, seed=2)
    out = detect_anomalies(small)
    day = out[out["metric_date"] == START + timedelta(days=50)].iloc[0]
    assert not day["is_anomaly"] and day["kind"] == "proportion"
    assert day["guard"] == "small_sample" or abs(day["severity"]) < 4
    assert day["upper"] > 0.3  # the interval is wide on 12 renders
    big = detect_anomalies(daily_rates(shocks={50: 0.25}, seed=2))
    assert big[big["is_anomaly"]]["metric_date"].tolist() == [START + timedelta(days=50)]
    small_sample = detect_anomalies(daily_rates(shocks={50: 0.9}, sizes={50: 20}, seed=2))
    assert small_sample.set_index("metric_date").loc[START + timedelta(days=50), "guard"] == "small_sample"


def test_min_effect_guard_on_a_very_stable_series():
    frame = daily_counts(level=5000, seed=6)
    frame.loc[frame.index[45], "value"] = frame["value"].iloc[45] * 1.05  # z ≈ 3-5 on a Poisson 5000, only +5 %
    config = AnomalyConfig(threshold=2.0)
    row = detect_anomalies(frame, config=config).iloc[45]
    assert row["direction"] == "up" and row["guard"] == "min_effect" and not row["is_anomaly"]
    loose = AnomalyConfig(threshold=2.0, min_rel_change=0.01, min_abs_change={"count": 0.0})
    assert detect_anomalies(frame, config=loose).iloc[45]["is_anomaly"]


def test_short_history_warmup_and_per_metric_rules():
    frame = pd.concat([daily_counts(metric="mau", growth=0.0), daily_counts(metric="dau", seed=9, shocks={40: 0.7})])
    out = detect_anomalies(frame)
    mau = out[out["metric"] == "mau"]
    assert (mau.head(28 + 21)["guard"] == "short_history").all() and mau.iloc[49:]["severity"].notna().all()
    assert out[(out["metric"] == "dau") & out["is_anomaly"]]["metric_date"].tolist() == [START + timedelta(days=40)]
    quiet = AnomalyConfig(rules={"dau": MetricRule(threshold=50.0), "mau": MetricRule(enabled=False)})
    out = detect_anomalies(frame, config=quiet)
    assert set(out["metric"]) == {"dau"} and not out["is_anomaly"].any()


def test_segment_tables_give_one_series_per_metric_and_segment():
    ios = daily_rates(seed=11, shocks={50: 0.6}).assign(segment_type="platform", segment_value="ios")
    web = daily_rates(seed=12).assign(segment_type="platform", segment_value="web")
    out = detect_anomalies(pd.concat([ios, web]), days=[START + timedelta(days=50)])
    assert len(out) == 2
    by_segment = out.set_index("segment_value")
    assert by_segment.loc["ios", "is_anomaly"] and not by_segment.loc["web", "is_anomaly"]


def test_kind_inference():
    nan = pd.Series([np.nan, np.nan])
    assert infer_kind(pd.Series([1.0, 2]), nan, pd.Series([1.0, 2])) == "count"
    assert infer_kind(nan, pd.Series([10.0, 20]), pd.Series([3.0, 4])) == "median"
    assert infer_kind(pd.Series([1.0, 2]), pd.Series([10.0, 20]), pd.Series([0.1, 0.1])) == "proportion"
    assert infer_kind(pd.Series([30.0, 2]), pd.Series([10.0, 20]), pd.Series([3, 0.1])) == "ratio"


def test_many_segment_series_give_one_row_per_series_and_day():  # their speed: benchmarks/speed_bench.py
    rng = np.random.default_rng(0)
    days = pd.date_range("2026-01-01", periods=60).date
    n_series = 600
    frame = pd.DataFrame(
        {"metric_date": np.tile(days, n_series), "metric": "sessions", "segment_type": "country",
         "segment_value": np.repeat([f"c{i}" for i in range(n_series)], 60),
         "value": rng.poisson(50, size=60 * n_series).astype(float), "numerator": np.nan, "denominator": np.nan}
    )  # fmt: skip
    out = detect_anomalies(frame)
    assert len(out) == 60 * n_series


def test_segment_series_use_the_segment_threshold():
    frame = daily_rates(seed=13, shocks={50: 0.2})
    segmented = frame.assign(segment_type="platform", segment_value="web")
    config = AnomalyConfig(threshold=4.0, segment_threshold=100.0)
    assert detect_anomalies(frame, config=config)["is_anomaly"].any()
    assert not detect_anomalies(segmented, config=config)["is_anomaly"].any()
    assert detect_anomalies(segmented, config=config.with_threshold(4.0))["is_anomaly"].any()
