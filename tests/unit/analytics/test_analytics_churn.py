"""Churn features, labels, model and scoring on small constructed data with known answers."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hitcraft_assets.analytics.churn_features import (
    ChurnConfig,
    align_features,
    assert_no_future_leakage,
    build_churn_features,
    build_churn_labels,
    churn_population,
)
from hitcraft_assets.analytics.churn_model import (
    ChurnModelParams,
    build_training_frame,
    calibration_table,
    load_booster,
    risk_by_segment,
    score_users,
    should_promote,
    suggest_cutoffs,
    train_churn_model,
)
from hitcraft_assets.analytics.churn_reasons import describe_feature, feature_family, top_reasons

C = date(2024, 3, 1)  # cutoff of the hand-built cases
START = date(2024, 1, 1)  # first day of the synthetic data
FAST = ChurnModelParams(n_estimators=60, max_depth=3, n_jobs=1)


def _row(user: str, day: date, core: bool = True, **counts: float) -> dict:
    return {"activity_date": day, "user_key": user, "is_core_active": core, "sessions": 1, "events": 5} | counts


def _activity(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    numeric = [c for c in frame.columns if c not in ("activity_date", "user_key", "is_core_active")]
    frame[numeric] = frame[numeric].fillna(0)
    return frame


def _day(offset: int) -> date:
    return C + timedelta(days=offset)


def _synthetic(n_users: int = 500, n_days: int = 75, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users who sign up over time, are active on random days until they churn for good; tiktok users churn at
    3x the daily hazard, so the channel and recency carry signal."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(["organic", "tiktok", "youtube"], size=n_users, p=[0.5, 0.25, 0.25])
    signup = rng.integers(0, n_days - 20, size=n_users)
    hazard = np.where(channel == "tiktok", 0.06, 0.02)
    churn_day = signup + rng.geometric(hazard)
    p_active = rng.beta(3, 4, size=n_users)
    day = np.arange(n_days)
    alive = (day[None, :] >= signup[:, None]) & (day[None, :] < churn_day[:, None])
    active = alive & (rng.random((n_users, n_days)) < p_active[:, None])
    active[np.arange(n_users), signup] = True  # everyone is active on the signup day
    users_idx, day_idx = np.nonzero(active)
    n = len(users_idx)
    renders = rng.poisson(1.5, n)
    failed = rng.binomial(renders, 0.1)
    activity = pd.DataFrame(
        {
            "activity_date": [START + timedelta(days=int(d)) for d in day_idx],
            "user_key": [f"u{i:04d}" for i in users_idx],
            "sessions": 1 + rng.poisson(0.6, n),
            "events": 5 + rng.poisson(10, n),
            "minutes": rng.gamma(2.0, 8.0, n),
            "renders_started": renders,
            "renders_completed": renders - failed,
            "renders_failed": failed,
            "sketches_uploaded": rng.poisson(0.5, n),
            "prompts_selected": renders + rng.poisson(0.5, n),
            "stems_used": rng.poisson(0.2, n),
            "core_events": renders * 3 + rng.poisson(0.5, n),
        }
    )
    activity["is_core_active"] = activity["core_events"] > 0
    users = pd.DataFrame(
        {
            "user_key": [f"u{i:04d}" for i in range(n_users)],
            "first_seen_date": [START + timedelta(days=int(d)) for d in signup],
            "signup_date": [START + timedelta(days=int(d)) if i % 10 else None for i, d in enumerate(signup)],
            "role": rng.choice(["producer", "songwriter", None], size=n_users),
            "experience_level": rng.choice(["beginner", "pro"], size=n_users),
            "acquisition_channel": channel,
            "platform": rng.choice(["web", "ios"], size=n_users),
            "country": rng.choice(["US", "DE"], size=n_users),
            "last_seen_date": [START + timedelta(days=int(min(d, n_days) - 1)) for d in churn_day],
        }
    )
    return activity, users


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _synthetic()


@pytest.fixture(scope="module")
def trained(synthetic):
    activity, users = synthetic
    train_cutoffs = [START + timedelta(days=d) for d in (30, 37, 44)]
    return train_churn_model(activity, users, train_cutoffs, START + timedelta(days=58), params=FAST)


# --- population and labels -------------------------------------------------------------------------------------


def _label_case() -> pd.DataFrame:
    return _activity(
        [
            _row("a_retained", _day(-1)),
            _row("a_retained", _day(3)),
            _row("b_oldest_day", _day(-28)),  # first day of the active window: in the population, churned
            _row("c_too_old", _day(-29)),  # outside the window
            _row("c_too_old", _day(2)),
            _row("d_not_core", _day(-2), core=False),  # any event but no core event: not in the population
            _row("e_noncore_after", _day(-5)),
            _row("e_noncore_after", _day(4), core=False),  # non-core activity does not count as retained
            _row("f_last_label_day", _day(-3)),
            _row("f_last_label_day", _day(13)),
            _row("g_after_horizon", _day(-3)),
            _row("g_after_horizon", _day(14)),
        ]
    )


def test_population_and_labels_follow_the_definition():
    activity = _label_case()
    assert list(churn_population(activity, C)) == [
        "a_retained",
        "b_oldest_day",
        "e_noncore_after",
        "f_last_label_day",
        "g_after_horizon",
    ]
    labels = build_churn_labels(activity, C).set_index("user_key")["churned"].to_dict()
    assert labels == {
        "a_retained": 0,
        "b_oldest_day": 1,
        "e_noncore_after": 1,
        "f_last_label_day": 0,
        "g_after_horizon": 1,
    }
    short = ChurnConfig(active_window_days=7, horizon_days=3)
    assert build_churn_labels(activity, C, short).set_index("user_key")["churned"].to_dict() == {
        "a_retained": 1,
        "e_noncore_after": 1,
        "f_last_label_day": 1,
        "g_after_horizon": 1,
    }


def test_labels_refuse_an_uncovered_label_window():
    activity = _activity([_row("a", _day(-1)), _row("a", _day(12))])
    with pytest.raises(ValueError, match="not covered"):
        build_churn_labels(activity, C)
    assert len(build_churn_labels(activity, C, ChurnConfig(horizon_days=13))) == 1


# --- features --------------------------------------------------------------------------------------------------


def test_features_have_known_values():
    activity = _activity(
        [
            _row("u1", _day(-20), sessions=2, sketches_uploaded=1),
            _row("u1", _day(-10), sessions=3, renders_started=4, renders_completed=3, renders_failed=1),
            _row("u1", _day(-6), core=False, sessions=1),
            _row("u1", _day(-3), sessions=1, stems_used=2),
            _row("u1", _day(0), sessions=9, renders_completed=9),  # on the cutoff: must not count
            _row("u2", _day(-1), sessions=1, messages_sent=2),
        ]
    )
    users = pd.DataFrame(
        {
            "user_key": ["u1", "u2"],
            "first_seen_date": [_day(-40), _day(-1)],
            "signup_date": [_day(-40), _day(0)],  # u2 signs up on the cutoff day: not yet signed up
            "role": ["producer", None],
            "experience_level": ["pro", ""],
            "acquisition_channel": ["tiktok", "organic"],
            "platform": ["ios", "web"],
        }
    )
    features = build_churn_features(activity, users, C).set_index("user_key")
    u1, u2 = features.loc["u1"], features.loc["u2"]
    assert u1["days_since_last_active"] == 3 and u1["days_since_last_core_active"] == 3
    assert (u1["sessions_7d"], u1["sessions_14d"], u1["sessions_28d"]) == (2, 5, 7)
    assert u1["sessions_trend_7d"] == (2 + 1) / (3 + 1)  # last 7 days: 2 sessions, the 7 before: 3
    assert (u1["active_days_7d"], u1["core_active_days_7d"], u1["active_days_28d"]) == (2, 1, 4)
    assert u1["render_completion_rate_28d"] == 0.75 and u1["renders_failed_28d"] == 1
    assert u1["has_uploaded_sketch"] == 1 and u1["has_completed_render"] == 1 and u1["has_used_stems"] == 1
    assert u1["signed_up"] == 1 and u1["tenure_days"] == 40 and u1["lifetime_active_days"] == 4
    assert np.isnan(u2["render_completion_rate_28d"]) and u2["messages_sent_28d"] == 2
    assert u2["signed_up"] == 0 and u2["tenure_days"] == 1 and u2["has_completed_render"] == 0
    assert (u1["acquisition_channel=tiktok"], u2["acquisition_channel=tiktok"]) == (1, 0)
    assert (u1["role=unknown"], u2["role=unknown"]) == (0, 1)
    assert u2["experience_level=unknown"] == 1
    assert all(dtype == np.float64 for dtype in features.dtypes)


def test_features_do_not_depend_on_the_future(synthetic):
    activity, users = synthetic
    for offset in (30, 45):
        assert_no_future_leakage(build_churn_features, activity, users, START + timedelta(days=offset))


def test_leakage_helper_catches_a_feature_built_from_the_future(synthetic):
    activity, users = synthetic
    cutoff = START + timedelta(days=40)

    def leaky_activity(act, dims, c):
        features = build_churn_features(act, dims, c)
        future = act[pd.to_datetime(act["activity_date"]) >= pd.Timestamp(c)]
        sessions = future.groupby("user_key")["sessions"].sum()
        return features.assign(future_sessions=features["user_key"].map(sessions).fillna(0.0))

    def leaky_last_seen(act, dims, c):
        features = build_churn_features(act, dims, c)
        last_seen = pd.to_datetime(dims.set_index("user_key")["last_seen_date"])
        return features.assign(gone=(features["user_key"].map(last_seen) < pd.Timestamp(c)).astype(float))

    with pytest.raises(AssertionError, match="future_sessions"):
        assert_no_future_leakage(leaky_activity, activity, users, cutoff)
    with pytest.raises(AssertionError, match="gone"):
        assert_no_future_leakage(leaky_last_seen, activity, users, cutoff)


def test_align_features_fills_unseen_one_hot_columns_and_rejects_missing_numeric():
    frame = pd.DataFrame({"user_key": ["a"], "sessions_7d": [2.0], "platform=web": [1.0]})
    aligned = align_features(frame, ["platform=ios", "sessions_7d"])
    assert aligned.to_dict("records") == [{"platform=ios": 0.0, "sessions_7d": 2.0}]
    with pytest.raises(KeyError, match="tenure_days"):
        align_features(frame, ["tenure_days"])


# --- model -----------------------------------------------------------------------------------------------------


def test_training_reports_held_out_metrics_and_calibration(trained):
    assert set(trained.metrics) == {"xgboost", "logistic_baseline"}
    for metrics in trained.metrics.values():
        assert metrics["roc_auc"] > 0.7  # recency and channel carry a strong planted signal
        assert metrics["n"] == trained.eval_size
    xgb_metrics = trained.metrics["xgboost"]
    assert 0 < xgb_metrics["base_rate"] < 1 and 0 < xgb_metrics["brier"] < xgb_metrics["base_rate"]
    assert xgb_metrics["pr_auc"] > xgb_metrics["base_rate"]
    calibration = trained.calibration[trained.calibration["model"] == "xgboost"]
    assert list(calibration["decile"]) == list(range(1, 11))
    assert calibration["count"].sum() == trained.eval_size
    assert calibration["observed_rate"].iloc[-1] > calibration["observed_rate"].iloc[0]
    assert load_booster(trained.model_bytes).feature_names == list(trained.feature_list)


def test_training_is_deterministic(synthetic, trained):
    activity, users = synthetic
    again = train_churn_model(activity, users, trained.train_cutoffs, trained.eval_cutoff, params=FAST)
    assert again.model_bytes == trained.model_bytes
    assert again.metrics == trained.metrics
    pd.testing.assert_frame_equal(again.calibration, trained.calibration)


def test_training_refuses_overlapping_label_windows_and_one_class_eval(synthetic):
    activity, users = synthetic
    with pytest.raises(ValueError, match="label windows"):
        train_churn_model(activity, users, [START + timedelta(days=50)], START + timedelta(days=58), params=FAST)
    # Everyone keeps a core-active day in the eval label window: a single class.
    everyone = _activity([_row(f"u{i}", START + timedelta(days=d)) for i in range(4) for d in range(0, 70, 2)])
    dims = pd.DataFrame({"user_key": [f"u{i}" for i in range(4)]})
    with pytest.raises(ValueError, match="only retained users"):
        train_churn_model(everyone, dims, [START + timedelta(days=30)], START + timedelta(days=50), params=FAST)


def test_build_training_frame_stacks_cutoffs(synthetic):
    activity, users = synthetic
    cutoffs = [START + timedelta(days=30), START + timedelta(days=37)]
    frame = build_training_frame(activity, users, cutoffs)
    assert list(frame.columns[:3]) == ["cutoff", "user_key", "churned"]
    sizes = frame.groupby("cutoff").size()
    assert list(sizes) == [len(churn_population(activity, c)) for c in cutoffs]


def test_suggest_cutoffs_fits_the_windows():
    activity = _activity([_row("a", START + timedelta(days=d)) for d in range(60)])  # days 0..59
    train, eval_cutoff = suggest_cutoffs(activity, n_train=4, step_days=2)
    assert eval_cutoff == START + timedelta(days=46)  # label window 46..59
    assert train == [START + timedelta(days=d) for d in (28, 30, 32)]  # <= 46 - 14, >= 28 days of history
    assert suggest_cutoffs(activity) == ([START + timedelta(days=32)], START + timedelta(days=46))
    train, eval_cutoff = suggest_cutoffs(activity, step_days=2, last_complete_day=START + timedelta(days=57))
    assert (train, eval_cutoff) == ([START + timedelta(days=28), START + timedelta(days=30)], START + timedelta(44))
    with pytest.raises(ValueError, match="too short"):
        suggest_cutoffs(activity, last_complete_day=START + timedelta(days=50))


def test_calibration_table_bins_by_rank():
    table = calibration_table(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]), bins=2)
    assert table.to_dict("list") == {
        "decile": [1, 2],
        "count": [2, 2],
        "mean_predicted": [pytest.approx(0.15), pytest.approx(0.85)],
        "observed_rate": [0.0, 1.0],
    }


@pytest.mark.parametrize(
    ("candidate", "current", "expected", "reason_part"),
    [
        ({"roc_auc": 0.80, "pr_auc": 0.60}, None, True, "not worse"),
        ({"roc_auc": 0.74, "pr_auc": 0.60}, None, False, "roc_auc 0.7400 is below the logistic baseline"),
        ({"roc_auc": 0.80, "pr_auc": 0.54}, None, False, "pr_auc 0.5400 is below the logistic baseline"),
        ({"roc_auc": 0.748, "pr_auc": 0.55}, None, True, "not worse"),  # within the tolerance
        ({"roc_auc": 0.80, "pr_auc": 0.60}, {"roc_auc": 0.85, "pr_auc": 0.6}, False, "current model"),
        ({"roc_auc": 0.80, "pr_auc": 0.60}, {"roc_auc": 0.80, "pr_auc": 0.6}, True, "current model"),
    ],
)
def test_should_promote(candidate, current, expected, reason_part):
    baseline = {"roc_auc": 0.75, "pr_auc": 0.55}
    ok, reason = should_promote(candidate, baseline, current, tolerance=0.005)
    assert ok is expected and reason_part in reason


# --- scoring and reasons ---------------------------------------------------------------------------------------


def test_scores_have_tiers_and_reasons(synthetic, trained):
    activity, users = synthetic
    features = build_churn_features(activity, users, START + timedelta(days=65))
    scores = score_users(trained.model_bytes, features, trained.feature_list, tiers=(0.3, 0.6))
    assert len(scores) == len(features) and scores["user_key"].is_unique
    assert scores["churn_probability"].is_monotonic_decreasing
    expected_tier = np.select(
        [scores["churn_probability"] >= 0.6, scores["churn_probability"] >= 0.3], ["high", "medium"], "low"
    )
    assert (scores["risk_tier"] == expected_tier).all()
    top = scores.iloc[0]
    assert top["reason_1"] != ""
    reasons = scores[["reason_1", "reason_2", "reason_3"]].to_numpy().ravel()
    assert sum("no active day in the last" in r for r in reasons) > 0
    for row in scores[["reason_1", "reason_2", "reason_3"]].itertuples(index=False):
        assert sum(r.startswith("acquired via") for r in row) <= 1  # one-hot columns of an attribute grouped
    again = score_users(trained.model_bytes, features, trained.feature_list, tiers=(0.3, 0.6))
    pd.testing.assert_frame_equal(scores, again)


def test_scoring_the_eval_population_reproduces_the_reported_metrics(synthetic, trained):
    activity, users = synthetic
    held_out = build_training_frame(activity, users, [trained.eval_cutoff])
    scores = score_users(trained.model_bytes, held_out, trained.feature_list)
    merged = scores.merge(held_out[["user_key", "churned"]], on="user_key")
    auc = roc_auc_score(merged["churned"], merged["churn_probability"])
    assert auc == pytest.approx(trained.metrics["xgboost"]["roc_auc"], abs=1e-9)
    empty = score_users(trained.model_bytes, held_out.iloc[:0], trained.feature_list)
    assert list(empty.columns) == ["user_key", "churn_probability", "risk_tier", "reason_1", "reason_2", "reason_3"]
    assert empty.empty


def test_top_reasons_group_families_and_skip_risk_lowering_contributions():
    features = pd.DataFrame(
        {
            "days_since_last_active": [13.0, 1.0],
            "sessions_7d": [1.0, 4.0],
            "sessions_trend_7d": [(1 + 1) / (5 + 1), 1.0],
            "acquisition_channel=organic": [0.0, 1.0],
            "acquisition_channel=tiktok": [1.0, 0.0],
        }
    )
    contributions = np.array(
        [
            [0.9, 0.1, 0.5, 0.2, 0.25],  # families: recency 0.9, sessions 0.6, channel 0.45
            [-0.5, -0.2, -0.1, -0.3, 0.0],  # nothing raises the risk
        ]
    )
    reasons = top_reasons(features, contributions, n_reasons=3)
    assert reasons.iloc[0].tolist() == [
        "no active day in the last 12 days",
        "sessions fell from 5 to 1 week over week",
        "acquired via tiktok",
    ]
    assert reasons.iloc[1].tolist() == ["", "", ""]
    # The two recency features are one family: one reason, phrased from the larger contribution.
    both = pd.DataFrame({"days_since_last_active": [5.0], "days_since_last_core_active": [9.0], "tenure_days": [3.0]})
    reasons = top_reasons(both, np.array([[0.2, 0.3, 0.1]]), n_reasons=3)
    assert reasons.iloc[0].tolist() == [
        "no core action (upload, prompt, render, lyrics, chat, stems) in the last 8 days",
        "first seen 3 days ago",
        "",
    ]


def test_describe_feature_phrases():
    rows = pd.DataFrame({"renders_completed_28d": [0.0, 1.0, 3.0], "has_completed_render": [0.0, 1.0, 1.0]})
    assert describe_feature("renders_completed_28d", rows) == [
        "no productions completed in the last 28 days",
        "1 production completed in the last 28 days",
        "3 productions completed in the last 28 days",
    ]
    assert describe_feature("has_completed_render", rows)[0] == "never completed a render"
    assert feature_family("sessions_trend_7d") == feature_family("sessions_28d") == "sessions"
    assert feature_family("platform=ios") == "platform"


def test_risk_by_segment_counts_and_means():
    scores = pd.DataFrame(
        {
            "user_key": ["a", "b", "c", "d"],
            "churn_probability": [0.9, 0.5, 0.2, 0.7],
            "risk_tier": ["high", "medium", "low", "high"],
        }
    )
    users = pd.DataFrame({"user_key": ["a", "b", "c"], "acquisition_channel": ["tiktok", "tiktok", None]})
    table = risk_by_segment(scores, users, segment_columns=["acquisition_channel"])
    assert table.to_dict("list") == {
        "segment_type": ["acquisition_channel"] * 2,
        "segment_value": ["tiktok", "unknown"],
        "users": [2, 2],
        "mean_churn_probability": [pytest.approx(0.7), pytest.approx(0.45)],
        "high_risk_users": [1, 1],
        "high_risk_share": [0.5, 0.5],
    }
