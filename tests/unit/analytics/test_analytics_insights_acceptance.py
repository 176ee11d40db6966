"""Acceptance on small fixtures cut from the 60-day sample backfill (anchor 2026-11-21; planted: iOS render incident
on 2026-11-09, prd_polish_hit +27 % completion, tiktok users churn at 2x, stem-separation adopters +42 % day-30
retention). fixtures/insights/ holds: the anomaly flags of 2026-11-09 and 2026-11-18 and the root causes of
2026-11-09; prompt_performance daily rows 2026-10-13..11-20 of render prompts; the users who signed up
2026-09-22..10-17 (user_key, signup_date, role, acquisition_channel) with their activity on signup day and days
28-34 only (enough for retention, not for session-level generators); the channel churn scores of 2026-11-20."""

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from hitcraft_assets.analytics.insights.generators import (
    anomaly_insights,
    channel_quality_insights,
    feature_retention_insights,
    prompt_outlier_insights,
)
from hitcraft_assets.analytics.insights.ranking import select_insights
from hitcraft_assets.analytics.insights.text import ungrounded_numbers

FIXTURES = Path(__file__).parent / "fixtures" / "insights"
INCIDENT, CALM, LAST = date(2026, 11, 9), date(2026, 11, 18), date(2026, 11, 20)


@pytest.fixture(scope="module")
def tables():
    return {path.name.split(".")[0]: pd.read_csv(path) for path in FIXTURES.glob("*.csv.gz")}


def day_candidates(t, as_of):
    return (
        anomaly_insights(t["anomaly_flags"], t["anomaly_root_causes"], as_of)
        + prompt_outlier_insights(t["prompt_performance"], as_of)
        + channel_quality_insights(t["user_daily_activity"], t["dim_users"], as_of, t["churn_risk_by_segment"])
        + feature_retention_insights(t["user_daily_activity"], t["dim_users"], as_of)
    )


def test_incident_day_puts_the_render_failure_anomaly_with_its_ios_root_cause_near_the_top(tables):
    selected = select_insights(day_candidates(tables, INCIDENT)).selected
    top = {s.insight.key: s for s in selected[:2]}
    assert "anomaly:render_failure_rate" in top
    incident = top["anomaly:render_failure_rate"].insight
    assert (incident.segment_type, incident.segment_value) == ("platform", "ios")
    assert "platform = ios explains" in incident.statement
    assert incident.numbers["cause_value"] > 0.5  # iOS renders failed more than half the time


def test_calm_day_has_no_anomaly_insight(tables):
    assert anomaly_insights(tables["anomaly_flags"], tables["anomaly_root_causes"], CALM) == []
    selected = select_insights(day_candidates(tables, CALM)).selected
    assert selected and all(s.insight.insight_type != "anomaly" for s in selected)


def test_last_day_finds_the_better_converting_prompt_and_the_fast_churning_channel(tables):
    candidates = day_candidates(tables, LAST)
    selected = {s.insight.key: s for s in select_insights(candidates).selected}
    polish = selected["prompt_outlier:prd_polish_hit"]
    assert polish.rank == 1
    assert polish.insight.effect_relative == pytest.approx(0.27, abs=0.05)
    assert polish.insight.insight_type == "opportunity"
    tiktok = selected["channel_quality:tiktok"].insight
    assert tiktok.insight_type == "risk" and tiktok.effect < -0.08
    assert not any(k.startswith("prompt_outlier:") and k != "prompt_outlier:prd_polish_hit" for k in selected)
    # stem separation: the matched comparison points the planted way; with ~1,900 cohort users it is not
    # significant on this sample (p = 0.085 measured), so it is not asserted to be selected
    stems = next(c for c in candidates if c.key == "feature_retention:stem_separation")
    assert stems.effect > 0 and stems.insight_type == "success"
    for candidate in candidates:
        assert ungrounded_numbers(candidate.title + " " + candidate.statement, candidate.numbers) == []
