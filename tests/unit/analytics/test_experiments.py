"""Experiment statistics without a database: sequential false-positive control, interval coverage, CUPED, SRM,
the delta method, agreement with statsmodels, the planner, decisions and the AI difference in differences."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats import proportion as sm_proportion

from hitcraft_assets.analytics import ai_attribution as ai
from hitcraft_assets.analytics.experiments import planner
from hitcraft_assets.analytics.experiments.metrics import (
    DESIGNS_PATH,
    ExperimentMetric,
    experiment_designs,
    experiment_metrics,
)
from hitcraft_assets.analytics.experiments.readout import read_experiment, read_metric
from hitcraft_assets.analytics.experiments.simulate import aa_false_positive_rates, planted_effect_coverage
from hitcraft_assets.analytics.experiments.stats import always_valid, arm_stats, srm_test
from hitcraft_assets.analytics.insights import stats as insight_stats

PROP = ExperimentMetric("conv", "Conversion", "proportion", "y", None, True, False)


def test_aa_daily_looks_sequential_stays_below_alpha_naive_does_not():
    r = aa_false_positive_rates(simulations=600, days=28, users_per_day=200, seed=3)
    assert r.sequential_rate <= 0.05
    assert r.naive_rate > 0.10  # repeated fixed-horizon tests inflate the false-positive rate


def test_planted_effect_is_covered_and_cuped_reduces_variance():
    r = planted_effect_coverage(simulations=80, seed=5)
    assert r.fixed_coverage >= 0.90
    assert r.sequential_coverage >= 0.90
    assert r.mean_variance_reduction > 0.3  # the pre-period count is correlated with the outcome


def test_cuped_achieves_nothing_without_pre_period_correlation():
    rng = np.random.default_rng(0)
    n = 4000
    frame = pd.DataFrame(
        {"variant_name": np.repeat(["control", "b"], n // 2), "y": rng.poisson(3, n), "pre_y": rng.poisson(3, n)}
    )
    r = read_metric(frame, ExperimentMetric("m", "M", "mean", "y", None, True, False), "control", "b")
    assert abs(r.variance_reduction) < 0.01


def test_proportion_readout_equals_statsmodels_two_proportion_test():
    rng = np.random.default_rng(1)
    a, b = rng.random(3000) < 0.30, rng.random(2900) < 0.33
    frame = pd.DataFrame(
        {"variant_name": ["control"] * len(a) + ["b"] * len(b), "y": np.r_[a, b].astype(int), "pre_y": 0}
    )
    r = read_metric(frame, PROP, "control", "b")
    stat, p = sm_proportion.test_proportions_2indep(b.sum(), len(b), a.sum(), len(a), method="wald", compare="diff")
    lo, hi = sm_proportion.confint_proportions_2indep(b.sum(), len(b), a.sum(), len(a), method="wald", compare="diff")
    assert r.abs_effect == pytest.approx(b.mean() - a.mean())
    assert r.p_value == pytest.approx(p, rel=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), rel=1e-9)


def test_srm_flags_an_eight_percent_loss_and_not_a_fair_split():
    assert srm_test({"a": 10000, "b": 9200}).failed
    assert not srm_test({"a": 10000, "b": 9950}).failed
    assert srm_test({"a": 6000, "b": 4000}, {"a": 0.6, "b": 0.4}).p_value > 0.5  # against the designed split
    undesigned = srm_test({"a": 500, "b": 500, "c": 3}, {"a": 0.5, "b": 0.5})  # users in a variant not designed
    assert undesigned.failed and undesigned.p_value == 0.0
    nobody = srm_test({"a": 1000}, {"a": 0.5, "b": 0.5})  # a designed variant nobody was exposed to
    assert nobody.failed and nobody.counts == {"a": 1000, "b": 0}


def test_delta_method_variance_of_a_ratio_matches_replications():
    rng = np.random.default_rng(2)
    ratios, variances = [], []
    for _ in range(400):
        den = rng.poisson(5, 800) + 1
        num = rng.binomial(den, 0.3)
        s = arm_stats(num.astype(float), den.astype(float))
        ratios.append(s.mean)
        variances.append(s.var_mean)
    assert np.mean(variances) == pytest.approx(np.var(ratios), rel=0.15)


def test_confidence_sequence_is_wider_than_fixed_and_p_value_monotone():
    lo, hi, p = always_valid(0.02, 0.01, 5000)
    assert hi - lo > 2 * 1.96 * 0.01
    assert always_valid(0.04, 0.01, 5000)[2] < p
    assert math.isnan(always_valid(0.0, 0.0, 10)[0])


def test_planner_proportions_are_the_insights_numbers_and_sequential_needs_more():
    assert planner.proportion_users_per_arm(0.3, 0.03) == insight_stats.users_per_arm(0.3, 0.03)
    assert planner.proportion_mde(0.3, 2000) == insight_stats.minimum_detectable_effect(0.3, 2000)
    plan = planner.plan_test(
        metric="conv", kind="proportion", baseline=0.3, sd=None, daily_users=400, mde_rel=0.1, start=date(2025, 1, 1)
    )
    assert plan.users_per_arm == planner.proportion_users_per_arm(0.3, 0.03)
    assert plan.sequential_users_per_arm > plan.users_per_arm
    assert plan.days == math.ceil(plan.sequential_users_per_arm / 200)
    assert plan.expected_end == date(2025, 1, 1) + timedelta(days=plan.days)
    with pytest.raises(ValueError, match="exactly one"):
        planner.plan_test(metric="m", kind="mean", baseline=1, sd=1, daily_users=1)


def _experiment(n: int, lift: float, loss: float = 0.0, seed: int = 0, split: list[float] | None = None):
    rng = np.random.default_rng(seed)
    variant = rng.choice(["control", "treatment"], n, p=split)
    platform = rng.choice(["web", "ios"], n, p=[0.6, 0.4])
    keep = ~((variant == "treatment") & (platform == "web") & (rng.random(n) < loss))
    variant, platform = variant[keep], platform[keep]
    m = len(variant)
    lam = rng.gamma(1.0, 3.0, m)
    day = [date(2025, 3, 1) + timedelta(days=int(k)) for k in rng.integers(0, 20, m)]
    exposures = pd.DataFrame(
        {
            "experiment_name": "e",
            "user_key": [f"u{i}" for i in range(m)],
            "variant_name": variant,
            "platform": platform,
            "is_excluded": False,
            "first_exposure_date": day,
        }
    )
    outcomes = exposures.assign(
        is_window_complete=True,
        downloads=rng.poisson(lam * np.where(variant == "treatment", 1 + lift, 1.0)),
        pre_downloads=rng.poisson(lam),
        renders_completed=rng.poisson(lam),
        pre_renders_completed=rng.poisson(lam),
        renders_started=rng.poisson(lam) + 1,
        renders_failed=0,
        pre_renders_started=1,
        pre_renders_failed=0,
        active_days=rng.poisson(2, m),
        pre_active_days=rng.poisson(2, m),
        messages=rng.poisson(3, m) + 1,
        likes=rng.poisson(1, m),
        pre_messages=1,
        pre_likes=0,
        subscriptions=0,
        pre_subscriptions=0,
    )
    return exposures, outcomes


def test_decisions_ship_a_win_and_stop_an_srm_first():
    ex, out = _experiment(12000, lift=0.15)
    r = read_experiment("e", ex, out, date(2025, 3, 25))
    assert r.decision == "ship" and r.winner == "treatment" and r.trustworthy
    ex, out = _experiment(12000, lift=0.15, loss=0.15, seed=1)
    r = read_experiment("e", ex, out, date(2025, 3, 25))
    assert not r.trustworthy and r.decision == "stop"
    assert r.summary().startswith("UNTRUSTWORTHY: sample-ratio mismatch") and "platform = web" in r.summary()


def test_an_aa_readout_keeps_running_with_a_date_until_the_sample_is_reached():
    ex, out = _experiment(600, lift=0.0, seed=2)
    r = read_experiment("e", ex, out, date(2025, 3, 15))
    assert r.decision == "keep running"
    assert r.expected_date is not None and r.expected_date > date(2025, 3, 15)
    assert all(m.direction == "none" for m in r.metrics)


def test_an_unequal_design_is_read_against_its_own_split():
    ex, out = _experiment(8000, lift=0.0, seed=3, split=[0.7, 0.3])
    equal = read_experiment("e", ex, out, date(2025, 3, 25))
    assert not equal.trustworthy and "against a designed 50 % / 50 %" in equal.summary()
    designed = read_experiment("e", ex, out, date(2025, 3, 25), expected_shares={"control": 0.7, "treatment": 0.3})
    assert designed.trustworthy and designed.srm.p_value > 0.001


def test_experiment_designs_seed_is_valid_and_bad_rows_are_named(tmp_path):
    designs = experiment_designs()
    assert set(designs) == {"download_cta_v2", "assistant_greeting_aa", "onboarding_checklist"}
    assert all(abs(sum(d.weights.values()) - 1) < 1e-12 for d in designs.values())
    header = "experiment,variant,weight,primary_metric\n"
    for body, message in (
        ("x,a,0,render_conversion\n", "line 2: weight 0.0 must be greater than 0"),
        ("x,a,half,render_conversion\n", "line 2: weight 'half' is not a number"),
        ("x,a,1,render_conversion\nx,a,1,render_conversion\n", "line 3: variant 'a' of 'x' is listed twice"),
        ("x,a,1,no_such_metric\n", "line 2: primary_metric 'no_such_metric' is not in experiment_metrics.csv"),
        ("x,a,1,render_conversion\nx,b,1,download_conversion\n", "line 3: 'x' already has primary_metric"),
    ):
        path = tmp_path / "experiment_designs.csv"
        path.write_text(header + body)
        experiment_designs.cache_clear()
        with pytest.raises(ValueError, match=message):
            experiment_designs(path)
    experiment_designs.cache_clear()
    assert experiment_designs(DESIGNS_PATH) == designs


def test_experiment_metrics_seed_is_valid():
    metrics = experiment_metrics()
    assert {m.kind for m in metrics} <= {"proportion", "mean", "ratio"}
    assert any(m.guardrail for m in metrics) and any(m.kind == "ratio" for m in metrics)


def test_rollout_did_finds_the_regressed_segment():
    rng = np.random.default_rng(4)
    rows = []
    for u in range(3000):
        platform = ["web", "ios", "android"][u % 3]
        treated = u % 5 != 0
        for d in range(28):
            day = date(2025, 4, 1) + timedelta(days=d)
            post = d >= 14
            new = treated and post
            p = 0.08 + (0.15 if new and platform == "android" else 0.0)
            rows.append(("render", f"u{u}", day, platform, "v2" if new else "v1", "p1", int(rng.random() < p)))
    gen = pd.DataFrame(
        rows, columns=["generation_type", "user_key", "event_date", "platform", "model", "prompt_version", "is_failure"]
    )
    (roll,) = [r for r in ai.detect_rollouts(gen) if r.column == "model"]
    assert (roll.version, roll.previous, roll.rollout_day) == ("v2", "v1", date(2025, 4, 15))
    did = ai.rollout_did(gen, roll).set_index("segment_value")
    assert did.loc["android", "effect"] == "worse"
    assert did.loc["android", "ci_low"] < 0.15 < did.loc["android", "ci_high"]
    assert did.loc["web", "effect"] == "none" and did.loc["ios", "effect"] == "none"
