from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from hitcraft_assets.analytics.anomaly import detect_anomalies
from hitcraft_assets.analytics.root_cause import describe_root_cause, explain_anomalies, explain_deviation

START = date(2026, 1, 5)
INCIDENT = 50
DAY = START + timedelta(days=INCIDENT)


def segment_rates(rates: dict, sizes: dict, segment_type="platform", incident=None, days=60, seed=0):
    """Failed / finished renders per segment and day; ``incident`` = {segment: rate on the incident day}."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days):
        for segment, rate in rates.items():
            n = int(rng.poisson(sizes[segment]))
            p = (incident or {}).get(segment, rate) if i == INCIDENT else rate
            k = int(rng.binomial(n, p))
            rows.append(
                {"metric_date": START + timedelta(days=i), "segment_type": segment_type, "segment_value": segment,
                 "metric": "render_failure_rate", "value": k / n if n else np.nan, "numerator": float(k),
                 "denominator": float(n)}
            )  # fmt: skip
    return pd.DataFrame(rows)


def segment_counts(levels: dict, segment_type="role", shock=None, days=60, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days):
        for segment, level in levels.items():
            mean = level * ((shock or {}).get(segment, 1.0) if i == INCIDENT else 1.0)
            value = float(rng.poisson(mean))
            rows.append(
                {"metric_date": START + timedelta(days=i), "segment_type": segment_type, "segment_value": segment,
                 "metric": "dau", "value": value, "numerator": value, "denominator": np.nan}
            )  # fmt: skip
    return pd.DataFrame(rows)


PLATFORM = {"web": 0.125, "ios": 0.125, "android": 0.125}
PLATFORM_SIZES = {"web": 550, "ios": 260, "android": 110}


def test_ratio_decomposition_finds_the_segment_and_adds_up():
    frame = segment_rates(PLATFORM, PLATFORM_SIZES, incident={"ios": 0.6})
    out = explain_deviation(frame, "render_failure_rate", DAY)
    assert out.iloc[0]["segment_value"] == "ios" and out.iloc[0]["rank"] == 1
    assert out["contribution_share"].sum() == pytest.approx(1.0)
    assert (out["rate_effect"] + out["mix_effect"]).to_numpy() == pytest.approx(out["contribution"].to_numpy())
    ios = out.set_index("segment_value").loc["ios"]
    assert ios["contribution_share"] > 0.85 and ios["significant"] and ios["value"] > 0.5
    assert ios["expected"] == pytest.approx(0.125, abs=0.03) and ios["size"] > 200
    # The decomposition reproduces the total change of the pooled rate from today's and the expected parts.
    today = frame[frame["metric_date"] == DAY]
    actual_rate = today["numerator"].sum() / today["denominator"].sum()
    weights = out["expected_size"] / out["expected_size"].sum()
    assert out["total_change"].iloc[0] == pytest.approx(actual_rate - (weights * out["expected"]).sum())


def test_a_tiny_segment_with_a_big_swing_does_not_outrank_the_cause():
    rates = {**PLATFORM, "tv": 0.125}
    sizes = {**PLATFORM_SIZES, "tv": 4}
    frame = segment_rates(rates, sizes, incident={"ios": 0.3, "tv": 1.0}, seed=3)
    out = explain_deviation(frame, "render_failure_rate", DAY).set_index("segment_value")
    assert out.loc["ios", "rank"] == 1
    assert out.loc["tv", "rank"] > 1 and out.loc["tv", "contribution_share"] < out.loc["ios", "contribution_share"]


def test_count_contributions_are_each_segments_own_deviation():
    frame = segment_counts({"producer": 300, "songwriter": 250, "hobbyist": 60}, shock={"songwriter": 0.5})
    out = explain_deviation(frame, "dau", DAY).set_index("segment_value")
    assert out.loc["songwriter", "rank"] == 1 and out.loc["songwriter", "contribution_share"] > 0.8
    assert out.loc["songwriter", "contribution"] == pytest.approx(
        out.loc["songwriter", "value"] - out.loc["songwriter", "expected"]
    )
    assert out["contribution_share"].sum() == pytest.approx(1.0)
    assert out["rate_effect"].isna().all() and out.loc["songwriter", "significant"]


def test_description_names_the_cause_in_plain_words():
    platform = segment_rates(PLATFORM, PLATFORM_SIZES, incident={"ios": 0.6}, seed=5)
    roles = segment_rates({"producer": 0.125, "songwriter": 0.125}, {"producer": 500, "songwriter": 420},
                          segment_type="role", incident={"producer": 0.3, "songwriter": 0.3}, seed=6)  # fmt: skip
    out = explain_deviation(pd.concat([platform, roles]), "render_failure_rate", DAY)
    summary = describe_root_cause(out)
    assert summary["overall_segment"] == ("platform", "ios")
    assert summary["overall"].startswith("platform = ios explains ")
    assert "of the rise of render_failure_rate" in summary["overall"] and "renders" in summary["overall"]
    assert set(summary["by_segment_type"]) == {"platform", "role"}


def test_a_proportional_change_is_called_broad():
    frame = segment_counts({"a": 300, "b": 300, "c": 300}, shock={"a": 0.5, "b": 0.5, "c": 0.5})
    summary = describe_root_cause(explain_deviation(frame, "dau", DAY))
    assert summary["overall_segment"] is None and "spread over the segments" in summary["overall"]


def test_explain_anomalies_runs_on_detector_flags():
    frame = segment_rates(PLATFORM, PLATFORM_SIZES, incident={"ios": 0.6}, seed=7)
    total = (
        frame.groupby("metric_date")[["numerator", "denominator"]]
        .sum()
        .reset_index()
        .assign(metric="render_failure_rate")
    )
    total["value"] = total["numerator"] / total["denominator"]
    flags = detect_anomalies(total)
    assert flags[flags["is_anomaly"]]["metric_date"].tolist() == [DAY]
    out = explain_anomalies(flags, frame)
    assert out.iloc[0]["segment_value"] == "ios" and set(out["metric_date"]) == {DAY}
    assert explain_deviation(frame, "render_failure_rate", START - timedelta(days=1)).empty
