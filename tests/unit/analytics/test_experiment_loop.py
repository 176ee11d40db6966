"""From a recommended A/B test to its result: hypotheses from the insight library, their link to an experiment on
the metric, the insights of the experiments domain and the report section."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from hitcraft_assets.analytics.experiments.hypotheses import hypotheses_from_insights, link_hypotheses
from hitcraft_assets.analytics.insights.gen_experiments import ai_version_insights, experiment_result_insights
from hitcraft_assets.analytics.insights.text import ungrounded_numbers
from hitcraft_assets.reports.experiments import experiment_section

REC = {
    "kind": "ab_test",
    "action": "A/B test the new picker.",
    "hypothesis": "Users shown X complete more.",
    "metric": "production completion rate per user",
    "minimum_detectable_effect": 0.03,
    "users_per_arm": 1200,
}


def _library():
    return pd.DataFrame(
        [
            {
                "key": "prompt_outlier:x",
                "as_of": date(2025, 3, 1),
                "metric": "render_completion_rate",
                "recommendations": json.dumps([REC, {"kind": "campaign", "action": "Feature X."}]),
            },
            {
                "key": "prompt_outlier:x",
                "as_of": date(2025, 3, 2),
                "metric": "render_completion_rate",
                "recommendations": [REC],
            },
        ]
    )


def _summaries(first=date(2025, 3, 5), decision="ship", trustworthy=True):
    return pd.DataFrame(
        [
            {
                "as_of": date(2025, 4, 1),
                "experiment": "picker_test",
                "control": "control",
                "variants": {"control": 3000, "x_first": 3000} if trustworthy else {"control": 3120, "x_first": 2871},
                "excluded_users": 0,
                "first_exposure": first,
                "last_exposure": date(2025, 3, 30),
                "status": "ended",
                "srm_p_value": 0.4 if trustworthy else 1e-6,
                "srm_segment": None if trustworthy else "platform = web",
                "srm_segment_p_value": None if trustworthy else 1e-7,
                "trustworthy": trustworthy,
                "decision": decision,
                # the real reason's figures (some rounded otherwise than the readout rows): not quoted by the insight
                "reason": "x_first improves Users who complete a render by +8.0% (always-valid interval +0.0112 .. "
                "+0.0694) with no guardrail worse",
                "summary": "SHIP: ..." if trustworthy else "UNTRUSTWORTHY: sample-ratio mismatch (...)",
                "winner": "x_first",
                "primary_metric": "render_conversion",
                "needed_users_per_arm": 2000,
                "users_per_arm_now": 3000,
                "expected_date": None,
            }
        ]
    )


def _readouts():
    return pd.DataFrame(
        [
            {
                "as_of": date(2025, 4, 1),
                "experiment": "picker_test",
                "metric": "render_conversion",
                "variant": "x_first",
                "label": "Users who complete a render",
                "guardrail": False,
                "significant": True,
                "direction": "better",
                "rel_effect": 0.08,
                "variant_mean": 0.54,
                "control_mean": 0.50,
                "seq_ci_low": 0.01,
                "seq_ci_high": 0.07,
                "p_adjusted": 0.001,
                "n_variant": 3000,
                "n_control": 3000,
                "cuped_abs_effect": 0.04,
            }
        ]
    )


def test_a_recommended_test_becomes_one_hypothesis_and_links_to_the_experiment_on_its_metric():
    hyps = hypotheses_from_insights(_library())
    assert len(hyps) == 1
    h = hyps.iloc[0]
    assert h["created_on"] == date(2025, 3, 1) and h["predicted_effect"] == 0.03 and h["users_per_arm"] == 1200
    linked = link_hypotheses(hyps, _summaries(), date(2025, 4, 1))
    assert linked.iloc[0]["experiment"] == "picker_test"
    # an experiment that started before the recommendation does not test it
    assert pd.isna(link_hypotheses(hyps, _summaries(first=date(2025, 2, 1)), date(2025, 4, 1)).iloc[0]["experiment"])
    # a known link is kept when the library is read again
    again = hypotheses_from_insights(_library(), linked)
    assert again.iloc[0]["experiment"] == "picker_test"


def test_the_result_is_stated_next_to_the_hypothesis_in_the_insight_and_the_report():
    hyps = link_hypotheses(hypotheses_from_insights(_library()), _summaries(), date(2025, 4, 1))
    (ins,) = experiment_result_insights(_summaries(), _readouts(), date(2025, 4, 1), hyps)
    assert ins.insight_type == "success" and "Users shown X complete more." in ins.statement
    assert ins.numbers["predicted_effect"] == 0.03
    table = experiment_section(_summaries(), hyps, date(2025, 4, 1))
    (row,) = table.rows
    assert row[2] == "ship" and "Users shown X complete more." in row[4] and "+3.0 pp" in row[4]


def _grounded(insight) -> bool:
    return ungrounded_numbers(insight.title + " " + insight.statement, insight.numbers) == []


def test_an_srm_experiment_is_a_risk_said_first():
    (ins,) = experiment_result_insights(_summaries(trustworthy=False, decision="stop"), _readouts(), date(2025, 4, 1))
    assert ins.insight_type == "risk" and ins.statement.startswith("UNTRUSTWORTHY")
    assert "control 3,120 vs x_first 2,871" in ins.statement and "platform = web: p = 1.0e-07" in ins.statement
    assert _grounded(ins), ungrounded_numbers(ins.statement, ins.numbers)
    # users in a variant the design lacks: the readout's p = 0 is said as what it is, not as a chi-square
    undesigned = _summaries(trustworthy=False, decision="stop").assign(srm_p_value=0.0, srm_segment=None)
    undesigned["srm_segment_p_value"] = None
    (ins,) = experiment_result_insights(undesigned, _readouts(), date(2025, 4, 1))
    assert "a variant outside the design" in ins.statement and "chi-square" not in ins.statement and _grounded(ins)


def test_every_number_of_a_ship_or_stop_insight_is_evidence():
    hyps = link_hypotheses(hypotheses_from_insights(_library()), _summaries(), date(2025, 4, 1))
    (ship,) = experiment_result_insights(_summaries(), _readouts(), date(2025, 4, 1), hyps)
    assert "3,000 and 3,000 users" in ship.statement and "95% interval" in ship.statement
    assert _grounded(ship), ungrounded_numbers(ship.title + " " + ship.statement, ship.numbers)
    goal_worse = _readouts().assign(direction="worse", rel_effect=-0.05, n_variant=2871)
    guard_worse = goal_worse.assign(metric="error_rate", label="Render errors", guardrail=True, rel_effect=0.31)
    (stop,) = experiment_result_insights(
        _summaries(decision="stop"), pd.concat([goal_worse, guard_worse]), date(2025, 4, 1)
    )
    # the guardrail is what stops it (the readout's order), whatever the row order
    assert stop.title == "Stop picker_test: Render errors +31% in x_first" and "a guardrail got worse" in stop.statement
    assert _grounded(stop), ungrounded_numbers(stop.title + " " + stop.statement, stop.numbers)
    row = experiment_section(_summaries(trustworthy=False, decision="stop"), None, date(2025, 4, 1)).rows[0]
    assert row[2].startswith("UNTRUSTWORTHY")


def test_ai_regression_by_segment_and_version_win():
    base = {
        "as_of": date(2025, 4, 1),
        "generation_type": "render",
        "column_name": "model",
        "version": "v4",
        "previous": "v3",
        "rollout_day": date(2025, 3, 20),
        "outcome": "is_failure",
        "treated_pre": 0.08,
        "treated_post": 0.28,
        "control_pre": 0.08,
        "control_post": 0.08,
        "ci_low": 0.15,
        "ci_high": 0.25,
        "p_value": 1e-9,
        "treated_users": 300,
        "control_users": 90,
        "significant": True,
    }
    rows = pd.DataFrame(
        [
            {**base, "segment_type": "platform", "segment_value": "android", "did": 0.2, "effect": "worse"},
            {**base, "segment_type": "platform", "segment_value": "web", "did": 0.0, "effect": "none", "p_value": 0.7},
            {
                **base,
                "version": "ap-8",
                "previous": "ap-7",
                "treated_users": 2361,
                "column_name": "prompt_version",
                "outcome": "liked",
                "segment_type": "all",
                "segment_value": "all",
                "did": 0.09,
                "effect": "better",
            },
        ]
    )
    found = {i.key: i for i in ai_version_insights(rows, date(2025, 4, 1))}
    assert set(found) == {"ai_regression:v4:android", "version_win:ap-8:all"}
    assert found["ai_regression:v4:android"].segment_value == "android"
    assert found["ai_regression:v4:android"].insight_type == "risk"
    for insight in found.values():  # "ap-8" is a name; every figure quoted is evidence
        assert _grounded(insight), ungrounded_numbers(insight.title + " " + insight.statement, insight.numbers)
