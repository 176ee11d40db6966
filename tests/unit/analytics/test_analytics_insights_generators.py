from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from hitcraft_assets.analytics.insights.generators import (
    anomaly_insights,
    channel_quality_insights,
    churn_risk_insights,
    early_dropoff_insights,
    early_session_outcomes,
    feature_retention_insights,
    forecast_target_insights,
    funnel_insights,
    metric_movement_insights,
    persona_shift_insights,
    prompt_outlier_insights,
    retention_change_insights,
)
from hitcraft_assets.analytics.insights.ranking import select_insights
from hitcraft_assets.analytics.insights.text import ungrounded_numbers

AS_OF = date(2026, 3, 31)


def assert_grounded(insights):
    for insight in insights:
        assert ungrounded_numbers(insight.title + " " + insight.statement, insight.numbers) == [], insight.key
        assert 1 <= len(insight.recommendations) <= 2


def prompt_days(rates: dict, days=35, per_day=150, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days):
        for prompt, (category, rate) in rates.items():
            n = int(rng.poisson(per_day))
            rows.append({"prompt_id": prompt, "prompt_text": f"Prompt {prompt}", "prompt_category": category,
                         "metric_date": AS_OF - timedelta(days=i), "window_days": 1, "renders_started": n,
                         "renders_completed": int(rng.binomial(n, rate))})  # fmt: skip
    return pd.DataFrame(rows)


def test_planted_prompt_outlier_is_found_and_the_others_are_not():
    rates = {"polish": ("production", 0.70), "lofi": ("production", 0.55), "trap": ("production", 0.55),
             "edm": ("production", 0.55), "solo_mix": ("mixing", 0.5)}  # fmt: skip
    candidates = prompt_outlier_insights(prompt_days(rates), AS_OF)
    by_key = {c.key: c for c in candidates}
    assert set(by_key) == {"prompt_outlier:polish", "prompt_outlier:lofi", "prompt_outlier:trap", "prompt_outlier:edm"}
    polish = by_key["prompt_outlier:polish"]
    assert polish.insight_type == "opportunity"
    assert polish.effect_relative == pytest.approx(0.70 / 0.55 - 1, abs=0.05)
    assert polish.numbers["reference_prompts"] == 3  # compared with the three ordinary prompts only
    selected = select_insights(candidates).selected
    assert [s.insight.key for s in selected] == ["prompt_outlier:polish"]
    assert_grounded(candidates)


def test_anomaly_insight_carries_its_root_cause_and_only_on_its_day():
    day = date(2026, 3, 20)
    flags = pd.DataFrame(
        [
            {"metric_date": day, "metric": "render_failure_rate", "segment_type": "all", "segment_value": "all",
             "value": 0.28, "expected": 0.125, "severity": 22.0, "is_anomaly": True, "kind": "proportion",
             "denominator": 2000.0, "root_cause_segment_type": "platform", "root_cause_segment_value": "ios"},
            {"metric_date": day, "metric": "productions_completed", "segment_type": "platform",
             "segment_value": "ios", "value": 270.0, "expected": 540.0, "severity": -5.1, "is_anomaly": True,
             "kind": "count", "denominator": np.nan, "root_cause_segment_type": None,
             "root_cause_segment_value": None},
            {"metric_date": day, "metric": "render_failure_rate", "segment_type": "platform", "segment_value": "ios",
             "value": 0.6, "expected": 0.12, "severity": 30.0, "is_anomaly": True, "kind": "proportion",
             "denominator": 700.0, "root_cause_segment_type": None, "root_cause_segment_value": None},
            {"metric_date": day, "metric": "dau", "segment_type": "all", "segment_value": "all", "value": 600.0,
             "expected": 610.0, "severity": -0.4, "is_anomaly": False, "kind": "count", "denominator": np.nan,
             "root_cause_segment_type": None, "root_cause_segment_value": None},
        ]
    )  # fmt: skip
    causes = pd.DataFrame([{"metric_date": day, "metric": "render_failure_rate", "segment_type": "platform",
                            "segment_value": "ios", "value": 0.6, "expected": 0.12, "contribution_share": 1.0,
                            "size": 700.0, "z": 30.0, "p_value": 1e-100, "significant": True}])  # fmt: skip
    insights = anomaly_insights(flags, causes, day)
    assert [i.key for i in insights] == ["anomaly:render_failure_rate"]
    incident = insights[0]
    assert (incident.segment_type, incident.segment_value) == ("platform", "ios")
    assert "platform = ios explains 100%" in incident.statement
    assert "productions completed was also off" in incident.statement  # the segment's other flag is folded in
    assert incident.impact == pytest.approx((0.28 - 0.125) * 2000)
    assert incident.p_value < 1e-50
    assert_grounded(insights)
    assert anomaly_insights(flags, causes, day + timedelta(days=1)) == []


def funnel_rows(rates_by_role: dict, days=40, entrants=60, seed=2):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days):
        entry = AS_OF - timedelta(days=i)
        totals = np.zeros(3)
        for role, (p2, p3) in rates_by_role.items():
            n1 = int(rng.poisson(entrants))
            n2 = int(rng.binomial(n1, p2))
            n3 = int(rng.binomial(n2, p3))
            counts = [n1, n2, n3]
            totals += counts
            rows += _steps(entry, "role", role, counts)
        rows += _steps(entry, "all", "all", totals.astype(int).tolist())
    return pd.DataFrame(rows)


def _steps(entry, breakdown, value, counts):
    events = ["Sign Up", "Sketch Uploaded", "Render Completed"]
    return [
        {"funnel_name": "onboarding", "entry_date": entry, "breakdown": breakdown, "breakdown_value": value,
         "step": k + 1, "event": events[k], "users": counts[k], "first_step_users": counts[0],
         "previous_step_users": counts[max(k - 1, 0)]}
        for k in range(3)
    ]  # fmt: skip


def test_funnel_segment_below_the_rest_and_the_bottleneck_are_found():
    frame = funnel_rows({"songwriter": (0.70, 0.80), "producer": (0.90, 0.95), "artist": (0.90, 0.95)})
    # conversions of the last 7 entry days are not complete by AS_OF: a wild value there must be ignored
    recent = frame["entry_date"] > AS_OF - timedelta(days=7)
    frame.loc[recent & (frame["step"] == 3), "users"] = 0
    insights = funnel_insights(frame, AS_OF)
    by_key = {i.key: i for i in insights}
    songwriter = by_key["funnel_segment:onboarding:role=songwriter"]
    assert songwriter.insight_type == "risk"
    assert songwriter.effect == pytest.approx(0.56 - 0.855, abs=0.05)
    assert songwriter.p_value < 1e-10
    bottleneck = by_key["funnel_bottleneck:onboarding"]
    assert "Sign Up -> Sketch Uploaded" in bottleneck.title
    assert bottleneck.p_value is None and bottleneck.ci_low > 0
    assert by_key["funnel_change:onboarding:3"].p_value > 0.001  # no week-over-week change was planted
    assert_grounded(insights)


def activity_frame(rows):
    columns = ["activity_date", "user_key", "sessions", "renders_completed"]
    return pd.DataFrame(rows, columns=columns)


def test_early_session_outcomes_classify_users_from_daily_counts():
    d0 = date(2026, 2, 1)
    late = AS_OF - timedelta(days=9)
    users = pd.DataFrame(
        {"user_key": [f"u{i}" for i in range(1, 10)],
         "signup_date": [d0] * 5 + [AS_OF - timedelta(days=3), d0 - timedelta(days=10), late, late],
         "role": ["songwriter"] * 9}
    )  # fmt: skip
    activity = activity_frame(
        [
            (d0, "u1", 2, 0),  # sessions 1-2 on day 1, no production, never back: dropped
            (d0, "u2", 1, 1), (d0 + timedelta(days=1), "u2", 1, 0), (d0 + timedelta(days=5), "u2", 1, 0),
            (d0, "u3", 3, 0),  # session 3 on the day of session 2: left out (even without renders)
            (d0, "u4", 1, 0), (d0 + timedelta(days=1), "u4", 2, 1),  # sessions 2-3 share a day: left out
            (d0, "u5", 2, 1), (d0 + timedelta(days=25), "u5", 1, 0),  # back after 25 days: not dropped
            (AS_OF - timedelta(days=3), "u6", 2, 0),  # session 2 too recent to judge
            (d0, "u7", 2, 0),  # signed up 10 days before the data starts: its first sessions are unseen
            (late, "u8", 1, 0), (late + timedelta(days=1), "u8", 1, 2),  # 8 days of follow-up, never back
            (late, "u9", 2, 0), (AS_OF + timedelta(days=1), "u9", 1, 0),  # back only after as_of: dropped
        ]
    )  # fmt: skip
    out = early_session_outcomes(activity, users, AS_OF, after_session=2, followup_days=7).set_index("user_key")
    assert sorted(out.index) == ["u1", "u2", "u5", "u8", "u9"]
    assert out.loc["u1", ["produced", "dropped"]].tolist() == [False, True]
    assert out.loc["u2", ["produced", "dropped"]].tolist() == [True, False]
    assert out.loc["u5", ["produced", "dropped"]].tolist() == [True, False]
    assert out.loc["u8", ["produced", "dropped"]].tolist() == [True, True]
    assert out.loc["u9", ["produced", "dropped"]].tolist() == [False, True]
    strict = early_session_outcomes(activity, users, AS_OF, after_session=2, followup_days=14)
    assert sorted(strict["user_key"]) == ["u1", "u2", "u5"]


def test_early_session_outcomes_show_no_gap_without_an_effect_when_session_3_shares_the_day():
    # No effect: every user drops after session 2 with 30 % whatever they produced. Users who stay often have
    # session 3 on the day of session 2; leaving out only those whose renders could belong to session 3 made the
    # production group look more likely to drop (about -12 pp here); leaving all of them out keeps the groups equal.
    rng = np.random.default_rng(11)
    d0 = date(2026, 1, 1)
    users, rows = [], []
    for i in range(6000):
        signup = d0 + timedelta(days=int(rng.integers(0, 50)))
        renders = rng.random(3) < 0.3  # a production in session 1, 2, 3
        users.append({"user_key": f"u{i}", "signup_date": signup, "role": "songwriter"})
        if rng.random() < 0.3:
            rows.append((signup, f"u{i}", 2, int(renders[:2].sum())))
        elif rng.random() < 0.5:
            rows += [(signup, f"u{i}", 3, int(renders.sum())), (signup + timedelta(days=2), f"u{i}", 1, 0)]
        else:
            rows += [(signup, f"u{i}", 2, int(renders[:2].sum())), (signup + timedelta(days=2), f"u{i}", 1, 0)]
    out = early_session_outcomes(activity_frame(rows), pd.DataFrame(users), AS_OF)
    rates = out.groupby("produced")["dropped"].mean()
    assert rates[True] == pytest.approx(0.3 / 0.65, abs=0.03)  # P(drop | session 2 ends its day)
    assert rates[False] - rates[True] == pytest.approx(0.0, abs=0.04)
    assert len(out) == pytest.approx(6000 * 0.65, rel=0.05)


def dropoff_sample(dropping_roles, seed=5):
    """2,400 new users (songwriters and producers) who reached session 2; those of `dropping_roles` without a
    production drop 60 % of the time, everyone else 30 %."""
    rng = np.random.default_rng(seed)
    d0 = date(2026, 1, 1)
    users, rows = [], []
    for i in range(2400):
        role = ["songwriter", "producer"][i % 2]
        signup = d0 + timedelta(days=int(rng.integers(0, 50)))
        produced = rng.random() < 0.5
        drop = rng.random() < (0.6 if (role in dropping_roles and not produced) else 0.3)
        users.append({"user_key": f"u{i}", "signup_date": signup, "role": role})
        rows.append((signup, f"u{i}", 2, int(produced)))
        if not drop:
            rows.append((signup + timedelta(days=3), f"u{i}", 1, 0))
    return activity_frame(rows), pd.DataFrame(users)


def test_early_dropoff_risk_is_reported_for_the_planted_segment_only():
    insights = early_dropoff_insights(*dropoff_sample({"songwriter"}), AS_OF, segment_types=("role",))
    selected = {s.insight.key for s in select_insights(insights).selected}
    assert "early_dropoff:role=songwriter" in selected
    assert "early_dropoff:role=producer" not in selected
    songwriter = next(i for i in insights if i.key == "early_dropoff:role=songwriter")
    assert songwriter.effect == pytest.approx(0.3, abs=0.07)
    # the songwriters explain the overall gap: it is reported once, on the segment, with the others' gap
    assert "early_dropoff:all" not in {i.key for i in insights}
    assert "the segment explains the overall drop-off" in songwriter.statement
    assert abs(songwriter.numbers["others_diff"]) < 0.07 and songwriter.numbers["others_p_value"] >= 0.05
    assert_grounded(insights)


def test_early_dropoff_overall_gap_stays_when_no_segment_explains_it():
    insights = early_dropoff_insights(*dropoff_sample({"songwriter", "producer"}), AS_OF, segment_types=("role",))
    keys = {i.key for i in insights}
    assert {"early_dropoff:all", "early_dropoff:role=songwriter", "early_dropoff:role=producer"} <= keys
    assert not any("explains the overall" in i.statement for i in insights)


def cohort(n, seed, adopt, retain, channel=lambda rng, i: "organic"):
    """Users signed up over 3 weeks; adopt(rng, s0) and retain(rng, adopter, s0, channel) draw booleans."""
    rng = np.random.default_rng(seed)
    d0 = date(2026, 1, 5)
    users, rows = [], []
    for i in range(n):
        signup = d0 + timedelta(days=int(rng.integers(0, 21)))
        s0 = int(rng.integers(1, 3))
        ch = channel(rng, i)
        adopter = adopt(rng, s0)
        users.append({"user_key": f"u{i}", "signup_date": signup, "role": ["songwriter", "producer"][i % 2],
                      "acquisition_channel": ch})  # fmt: skip
        rows.append({"activity_date": signup, "user_key": f"u{i}", "sessions": s0, "stems_used": int(adopter)})
        if retain(rng, adopter, s0, ch):
            rows.append({"activity_date": signup + timedelta(days=30), "user_key": f"u{i}", "sessions": 1,
                         "stems_used": 0})  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(users)


def test_feature_retention_finds_a_real_effect_and_not_a_confounded_one():
    features = {"stem_separation": "stems_used"}
    activity, users = cohort(
        3000, 1, lambda r, s0: r.random() < 0.3, lambda r, a, s0, ch: r.random() < (0.3 if a else 0.15)
    )
    (real,) = feature_retention_insights(activity, users, AS_OF, features=features)
    assert real.insight_type == "success" and real.p_value < 1e-6
    assert real.effect == pytest.approx(0.15, abs=0.04)
    assert "observational" in real.statement.lower()
    # adoption and retention both follow signup-day sessions only: the crude gap is large, the matched one is not
    activity, users = cohort(3000, 2, lambda r, s0: r.random() < (0.6 if s0 == 2 else 0.1),
                             lambda r, a, s0, ch: r.random() < (0.3 if s0 == 2 else 0.1))  # fmt: skip
    first_day = activity.groupby("user_key").first()
    retained = activity.groupby("user_key").size() > 1
    crude = retained[first_day["stems_used"] > 0].mean() - retained[first_day["stems_used"] == 0].mean()
    assert crude > 0.1
    (confounded,) = feature_retention_insights(activity, users, AS_OF, features=features)
    assert confounded.p_value > 0.01
    assert abs(confounded.effect) < 0.05
    assert_grounded([real, confounded])


def test_channel_quality_flags_the_fast_churning_channel():
    channels = ["tiktok", "organic", "google_ads", "youtube"]
    activity, users = cohort(
        3000, 3, lambda r, s0: False, lambda r, a, s0, ch: r.random() < (0.05 if ch == "tiktok" else 0.2),
        channel=lambda rng, i: channels[i % 4],
    )  # fmt: skip
    insights = channel_quality_insights(activity, users, AS_OF, retention_days=(28, 34))
    selected = {s.insight.key for s in select_insights(insights).selected}
    assert "channel_quality:tiktok" in selected
    assert selected <= {"channel_quality:tiktok", "channel_quality:organic", "channel_quality:google_ads",
                        "channel_quality:youtube"}  # fmt: skip
    tiktok = next(i for i in insights if i.key == "channel_quality:tiktok")
    assert tiktok.insight_type == "risk" and tiktok.effect == pytest.approx(-0.15, abs=0.04)
    assert_grounded(insights)


def test_churn_risk_rising_and_retention_change():
    day, before = AS_OF, AS_OF - timedelta(days=7)
    churn = pd.DataFrame(
        [
            {"score_date": before, "segment_type": "role", "segment_value": "songwriter", "users": 1000,
             "high_risk_users": 500, "mean_churn_probability": 0.5},
            {"score_date": day, "segment_type": "role", "segment_value": "songwriter", "users": 1000,
             "high_risk_users": 600, "mean_churn_probability": 0.6},
            {"score_date": before, "segment_type": "role", "segment_value": "producer", "users": 1000,
             "high_risk_users": 500, "mean_churn_probability": 0.5},
            {"score_date": day, "segment_type": "role", "segment_value": "producer", "users": 1000,
             "high_risk_users": 450, "mean_churn_probability": 0.45},
        ]
    )  # fmt: skip
    (rising,) = churn_risk_insights(churn, AS_OF)
    assert rising.key == "churn_risk_rising:role=songwriter" and rising.p_value < 1e-4
    starts = [date(2026, 2, 2) + timedelta(days=7 * k) for k in range(6)]
    rates = [0.9, 0.45, 0.45, 0.45, 0.45, 0.30]  # first cohort: everyone already active, skipped
    cohorts = pd.DataFrame([{"cohort_grain": "week", "cohort_start": s, "period_number": 1, "cohort_users": 1000,
                             "retained_users": int(1000 * r)} for s, r in zip(starts, rates, strict=True)])  # fmt: skip
    (change,) = retention_change_insights(cohorts, starts[-1] + timedelta(days=13), periods=(1,))
    assert change.insight_type == "risk"
    assert change.numbers["base_rate"] == pytest.approx(0.45)
    assert retention_change_insights(cohorts, starts[-1] + timedelta(days=12), periods=(1,))[0].numbers[
        "rate"
    ] == pytest.approx(0.45)  # the newest cohort's week 1 has not ended yet
    assert_grounded([rising, change])


def test_persona_shifts_only_between_comparable_weeks():
    w1, w2 = date(2026, 3, 9), date(2026, 3, 16)
    summary = pd.DataFrame(
        [{"week_start": w1, "persona": "power producer", "users": 400},
         {"week_start": w1, "persona": "tryer", "users": 600},
         {"week_start": w2, "persona": "power producer", "users": 550},
         {"week_start": w2, "persona": "tryer", "users": 450}]
    )  # fmt: skip
    shifts = persona_shift_insights(summary, None, AS_OF)
    assert {i.key for i in shifts} == {"persona_share:power producer", "persona_share:tryer"}
    assert all(i.p_value < 1e-6 for i in shifts)
    relabelled = summary.replace({"persona": {"tryer": "chat tryer"}}).where(summary["week_start"] == w2, summary)
    assert persona_shift_insights(relabelled, None, AS_OF) == []
    assert_grounded(shifts)


def test_forecast_target_crossing_uses_the_interval():
    days = [AS_OF + timedelta(days=k) for k in range(1, 15)]
    forecasts = pd.DataFrame({"as_of": AS_OF, "metric": "dau", "forecast_date": days,
                              "forecast": [700 + 10 * k for k in range(14)],
                              "lower_bound": [655 + 10 * k for k in range(14)],
                              "upper_bound": [740 + 10 * k for k in range(14)], "level": 0.9})  # fmt: skip
    metrics = pd.DataFrame({"metric_date": [AS_OF], "metric": ["dau"], "value": [690.0]})
    (crossing,) = forecast_target_insights(forecasts, metrics, AS_OF, {"dau": (750.0, "above")})
    assert crossing.p_value is None and crossing.ci_low > 0
    assert crossing.window_end == AS_OF + timedelta(days=6)  # point forecast reaches 750 on day 6
    assert forecast_target_insights(forecasts, metrics, AS_OF, None) == []
    assert forecast_target_insights(forecasts, metrics, AS_OF, {"dau": (650.0, "above")}) == []  # already above
    assert_grounded([crossing])


def test_metric_movement_combines_tests_into_one_candidate_per_metric():
    trend = {"as_of": AS_OF, "metric": "dau", "window_days": 28, "window_start": AS_OF, "n_days": 28,
             "test": "seasonal_mk(period=7)", "trend": "increasing", "p_value": 1e-4, "sen_slope_per_day": 2.5,
             "sen_slope_pct_per_week": 2.6, "window_mean": 670.0}  # fmt: skip
    trends = pd.DataFrame([trend])
    changes = pd.DataFrame([{"as_of": AS_OF, "metric": "dau", "comparison": "wow", "kind": "count", "current": 690.0,
                             "previous": 677.0, "rel_change": 0.019, "ci_low": -0.01, "ci_high": 0.05,
                             "p_value": 0.2, "test": "paired t", "n_current": 7.0}])  # fmt: skip
    (movement,) = metric_movement_insights(trends, changes, None, AS_OF)
    assert movement.key == "trend:dau"
    assert movement.p_value == pytest.approx(2e-4)  # smallest p x 2 tests
    assert movement.effect == pytest.approx(17.5)
    assert "period=7" not in movement.statement
    assert_grounded([movement])
