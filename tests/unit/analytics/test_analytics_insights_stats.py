import math

import numpy as np
import pytest
from statsmodels.stats.proportion import proportions_ztest

from hitcraft_assets.analytics.insights import text
from hitcraft_assets.analytics.insights.stats import (
    benjamini_hochberg,
    binomial_dispersion,
    clamp_p,
    compare_proportions,
    confidence_score,
    minimum_detectable_effect,
    p_value_from_interval,
    users_per_arm,
)


def test_bh_rejects_pure_noise_and_keeps_real_signals():
    rng = np.random.default_rng(7)
    noise = rng.uniform(size=200)
    reject, q = benjamini_hochberg(noise, alpha=0.05)
    assert reject.sum() == 0
    assert (q >= noise - 1e-12).all()
    signals = [1e-6, 2e-6, 1e-5, 3e-5, 1e-4]
    reject, _ = benjamini_hochberg(list(noise[:95]) + signals, alpha=0.05)
    assert reject[-5:].all()
    assert reject[:95].sum() == 0


def test_bh_known_values_and_missing_p_values_are_not_counted():
    reject, q = benjamini_hochberg([0.01, None, 0.04, 0.03, float("nan"), 0.5], alpha=0.05)
    # 4 tested: sorted 0.01, 0.03, 0.04, 0.5 -> q = 0.04, 0.0533, 0.0533, 0.5
    assert list(reject) == [True, False, False, False, False, False]
    assert q[0] == pytest.approx(0.04)
    assert q[2] == pytest.approx(0.04 * 4 / 3)
    assert math.isnan(q[1]) and math.isnan(q[4])


def test_two_proportion_test_matches_the_pooled_z_test():
    result = compare_proportions(120, 400, 90, 400)
    z, p = proportions_ztest([120, 90], [400, 400])
    assert result.z == pytest.approx(z, rel=1e-6)
    assert result.p_value == pytest.approx(p, rel=1e-6)
    assert result.difference == pytest.approx(0.075)
    assert result.relative == pytest.approx(120 / 90 - 1)
    assert result.ci_low < 0.075 < result.ci_high
    assert result.ci_low > 0  # significant at 5 %: the interval excludes 0


def test_dispersion_widens_the_interval_and_weakens_the_test():
    plain = compare_proportions(600, 1000, 500, 1000)
    deflated = compare_proportions(600, 1000, 500, 1000, dispersion=4.0)
    assert deflated.p_value > plain.p_value
    assert (deflated.ci_high - deflated.ci_low) > 1.8 * (plain.ci_high - plain.ci_low)
    assert deflated.difference == plain.difference


def test_binomial_dispersion_is_one_for_binomial_days_and_large_for_swinging_days():
    rng = np.random.default_rng(3)
    sizes = np.full(60, 1000)
    binomial = rng.binomial(sizes, 0.3)
    assert binomial_dispersion(binomial, sizes) < 1.6
    swinging = rng.binomial(sizes, rng.choice([0.2, 0.4], size=60))
    assert binomial_dispersion(swinging, sizes) > 10
    assert binomial_dispersion([5], [10]) == 1.0


def test_mde_and_users_per_arm_are_inverse():
    mde = minimum_detectable_effect(0.2, 1500)
    assert 0.03 < mde < 0.05
    n = users_per_arm(0.2, mde)
    assert abs(n - 1500) <= 2
    assert minimum_detectable_effect(0.2, 6000) < mde  # more traffic, smaller detectable effect
    assert math.isnan(minimum_detectable_effect(0.2, 1))
    with pytest.raises(ValueError):
        users_per_arm(0.9, 0.2)


def test_confidence_score_follows_its_formula_and_orders_evidence():
    expected = (min(1, 3 / 6) ** 0.5) * ((2000 / 2200) ** 0.25) * ((0.2 / 0.3) ** 0.25)
    assert confidence_score(1e-3, 2000, 0.2) == pytest.approx(expected, abs=1e-3)
    assert confidence_score(1e-8, 5000, 0.3) > confidence_score(0.01, 5000, 0.3)
    assert confidence_score(1e-8, 5000, 0.3) > confidence_score(1e-8, 50, 0.3)
    assert confidence_score(1e-8, 5000, 0.3) > confidence_score(1e-8, 5000, 0.01)
    assert 0 <= confidence_score(None, 0, None) <= 1


def test_interval_p_value_and_clamping():
    assert p_value_from_interval(1.96, 0.0, 3.92) == pytest.approx(0.05, rel=1e-3)
    assert math.isnan(p_value_from_interval(1.0, 1.0, 1.0))
    assert clamp_p(0.0) == 1e-300
    assert clamp_p(None) is None


def test_grounding_check_accepts_formatted_numbers_and_flags_others():
    numbers = {"rate": 0.6892, "n": 14945.0, "diff": 0.151, "p": 5.0e-116, "days": 28}
    statement = (
        f"Completed {text.pct(numbers['rate'])} of {text.count(numbers['n'])} renders in {numbers['days']} days "
        f"({text.pp(numbers['diff'])}, {text.p_text(numbers['p'])}) on 2026-11-20."
    )
    assert text.ungrounded_numbers(statement, numbers) == []
    assert text.ungrounded_numbers(statement + " About 42% more.", numbers) == ["42%"]
    # version names are not quoted numbers; a range written with a hyphen still is
    assert text.ungrounded_numbers("Prompt ap-8 (replacing ap-7) on gpt-4o and render-v4.", numbers) == []
    assert text.ungrounded_numbers("between 28-42 days", numbers) == ["42"]
