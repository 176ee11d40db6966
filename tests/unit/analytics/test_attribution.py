"""Attribution models on constructed paths whose credits are known by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from hitcraft_assets.analytics.attribution import MODELS, Path, attribute, build_paths, compare, markov_removal_effects


def _p(touches, converted=True, revenue=10.0, days=None):
    days = days or tuple(float(len(touches) - 1 - i) for i in range(len(touches)))
    return Path("u", tuple(touches), tuple(days), converted, revenue)


def _credits(paths, model):
    f = attribute(paths, model)
    return dict(zip(f["key"], f["conversions"].round(9)))


def test_rule_based_models_on_a_known_case():
    paths = [_p(["A", "B", "C"]), _p(["B"]), _p(["C"], converted=False)]
    assert _credits(paths, "first_touch") == {"A": 1, "B": 1, "C": 0}
    assert _credits(paths, "last_touch") == {"A": 0, "B": 1, "C": 1}
    assert _credits(paths, "linear") == pytest.approx({"A": 1 / 3, "B": 4 / 3, "C": 1 / 3})
    assert _credits(paths, "position_based") == pytest.approx({"A": 0.4, "B": 1.2, "C": 0.4})
    # time decay, half-life 7 days: touches 2, 1 and 0 days before the conversion
    w = [2 ** (-2 / 7), 2 ** (-1 / 7), 1.0]
    assert _credits(paths, "time_decay") == pytest.approx({"A": w[0] / sum(w), "B": w[1] / sum(w) + 1, "C": 1 / sum(w)})


def test_markov_removal_effect_on_known_chains():
    # only A converts, B never does: removing A loses everything, removing B nothing
    effects = markov_removal_effects([_p(["A"]), _p(["B"], converted=False)])
    assert effects == pytest.approx({"A": 1.0, "B": 0.0})
    # start -> A (1/2) or B (1/2); A -> B always; B -> conversion 1/2 of the time (2 of 4 exits):
    # P(conv) = 1/2; without A: 1/2 * 1/2 = 1/4 (removal 1/2); without B: 0 (removal 1)
    paths = [_p(["A", "B"]), _p(["A", "B"], converted=False), _p(["B"]), _p(["B"], converted=False)]
    assert markov_removal_effects(paths) == pytest.approx({"A": 0.5, "B": 1.0})
    credits = _credits(paths, "markov")
    assert credits == pytest.approx({"A": 2 * 0.5 / 1.5, "B": 2 * 1.0 / 1.5})


@pytest.mark.parametrize("model", MODELS)
def test_every_model_hands_out_each_conversion_and_its_revenue_once(model):
    paths = [
        _p(["A", "B"], revenue=12),
        _p(["B", "C", "A"], revenue=29),
        _p(["C"], converted=False),
        _p(["A"], revenue=99),
    ]
    f = attribute(paths, model)
    assert f["conversions"].sum() == pytest.approx(3) and f["revenue"].sum() == pytest.approx(12 + 29 + 99)


def test_compare_puts_models_side_by_side_with_their_disagreement():
    paths = [_p(["A", "B", "C"]), _p(["B"]), _p(["C"], converted=False)]
    table = compare(paths)
    assert set(table["model"]) == set(MODELS) and set(table["key"]) == {"A", "B", "C"}
    a = table[table["key"] == "A"]
    assert a["disagreement"].iloc[0] == pytest.approx(a["share"].max() - a["share"].min())
    assert a["disagreement"].iloc[0] > 0.3  # A gets all of a conversion first-touch and none of it last-touch


def test_paths_keep_touches_before_the_conversion_within_the_lookback():
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    rows = pd.DataFrame(
        {
            "user_key": ["u1", "u1", "u1", "u2", "u2"],
            "touch_time": [t0, t0 + pd.Timedelta(days=40), t0 + pd.Timedelta(days=50), t0, t0 + pd.Timedelta(days=1)],
            "source": ["old", "google", "after", "tiktok", "tiktok"],
            "converted_at": [t0 + pd.Timedelta(days=45)] * 3 + [pd.NaT, pd.NaT],
            "days_before_conversion": [45.0, 5.0, -5.0, None, None],
            "revenue": [12.0] * 3 + [0.0, 0.0],
        }
    )
    paths = {p.user_key: p for p in build_paths(rows, "source", lookback_days=30)}
    assert paths["u1"].touches == ("google",) and paths["u1"].converted and paths["u1"].revenue == 12.0
    assert paths["u2"].touches == ("tiktok", "tiktok") and not paths["u2"].converted
    with pytest.raises(ValueError, match="level"):
        build_paths(rows, "medium")
