"""Budget allocation on channels with known response curves: the fit recovers the elasticity, the optimiser's
proposal beats the current allocation on the fitted curves, meets the bounds and the total, and equals the
closed-form optimum when it is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hitcraft_assets.analytics.budget import fit_curves, optimise, what_if


def _days(channel: str, a: float, b: float, spend_mean: float, n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spend = spend_mean * np.exp(rng.normal(0, 0.4, n))
    signups = a * spend**b * np.exp(rng.normal(0, 0.05, n))
    return pd.DataFrame({"channel": channel, "spend": spend, "signups": signups})


@pytest.fixture(scope="module")
def curves():
    daily = pd.concat([_days("search", 2.0, 0.5, 400, seed=1), _days("video", 0.3, 0.8, 200, seed=2)])
    return fit_curves(daily, {"search": 10.0, "video": 12.0})


def test_the_fit_recovers_the_elasticity_with_an_interval(curves):
    by = {c.channel: c for c in curves}
    assert by["search"].b == pytest.approx(0.5, abs=0.03) and by["video"].b == pytest.approx(0.8, abs=0.03)
    assert by["search"].b_low < 0.5 < by["search"].b_high
    for c in curves:  # ROI and marginal ROI at the mean spend, marginal = b * ROI
        assert c.marginal_roi == pytest.approx(c.b * c.roi) and c.roi_low < c.roi < c.roi_high


def test_the_proposal_beats_the_current_allocation_and_meets_the_constraints(curves):
    plan = optimise(curves, 600.0, minimum={"search": 100.0}, maximum={"video": 500.0})
    assert plan["proposed_spend"].sum() == pytest.approx(600.0)
    assert plan["proposed_revenue"].sum() >= plan["current_revenue"].sum() - 1e-9
    by = plan.set_index("channel")
    assert by.loc["search", "proposed_spend"] >= 100.0 - 1e-6 and by.loc["video", "proposed_spend"] <= 500.0 + 1e-6
    with pytest.raises(ValueError, match="cannot meet the bounds"):
        optimise(curves, 600.0, minimum={"search": 700.0}, maximum={"search": 800.0})
    with pytest.raises(ValueError, match="no response curve for radio"):
        optimise(curves, 600.0, minimum={"radio": 1.0})


def test_same_elasticity_has_a_closed_form_optimum():
    # revenue_i = k_i s_i^b: at the optimum k_i b s_i^(b-1) are equal, so s_i is proportional to k_i^(1/(1-b))
    daily = pd.concat([_days("x", 1.0, 0.5, 300, seed=3), _days("y", 3.0, 0.5, 300, seed=4)])
    curves = fit_curves(daily, {"x": 5.0, "y": 5.0})
    plan = optimise(curves, 1000.0, maximum={"x": 1000.0, "y": 1000.0}).set_index("channel")
    k = {c.channel: c.value_per_signup * c.a for c in curves}
    b = np.mean([c.b for c in curves])
    weights = {ch: v ** (1 / (1 - b)) for ch, v in k.items()}
    expected = 1000.0 * weights["y"] / sum(weights.values())
    assert plan.loc["y", "proposed_spend"] == pytest.approx(expected, rel=0.05)


def test_what_if_predicts_an_allocation_with_intervals(curves):
    table = what_if(curves, {"search": 400.0, "video": 0.0}).set_index("channel")
    assert table.loc["video", "revenue"] == 0.0
    assert table.loc["search", "revenue_low"] < table.loc["search", "revenue"] < table.loc["search", "revenue_high"]
    with pytest.raises(ValueError, match="no response curve"):
        what_if(curves, {"radio": 10.0})
