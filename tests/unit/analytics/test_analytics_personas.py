from datetime import date

import numpy as np
import pandas as pd
import pytest

from hitcraft_assets.analytics.persona_value import persona_summary, user_value, value_potential
from hitcraft_assets.analytics.personas import (
    CLUSTER_FEATURES,
    assign_personas,
    behaviour_profile,
    fit_personas,
    name_cluster,
    name_clusters,
    persona_migration,
)

AS_OF = date(2025, 6, 1)
ACTIVITY_COUNTS = [
    "sessions",
    "minutes",
    "renders_started",
    "renders_completed",
    "sketches_uploaded",
    "prompts_selected",
    "lyrics_generated",
    "lyrics_completed",
    "messages_sent",
    "messages_liked",
    "messages_disliked",
    "stems_used",
    "productions_downloaded",
    "subscriptions_started",
    "production_prompts_selected",
    "lyrics_prompts_selected",
]


def activity_row(day: str, user: str, **counts) -> dict:
    return {"activity_date": day, "user_key": user, **dict.fromkeys(ACTIVITY_COUNTS, 0), **counts}


def group_profile(rng, n, prefix, active_days, sessions, minutes, productions, lyrics, messages, stems, mix):
    """n users around the given means (lognormal noise); mix = action shares (production, lyrics, chat, stems)."""

    def noisy(mean):
        return np.round(mean * rng.lognormal(0.0, 0.15, n))

    shares = rng.dirichlet(np.asarray(mix) * 200 + 1e-3, n)
    return pd.DataFrame(
        {
            "user_key": [f"{prefix}{i:03d}" for i in range(n)],
            "active_days": np.clip(noisy(active_days), 1, 28).astype(int),
            "sessions": np.maximum(noisy(sessions), 1),
            "minutes": noisy(minutes),
            "productions_completed": noisy(productions),
            "lyrics_generated": noisy(lyrics),
            "lyrics_completed": noisy(lyrics * 0.6),
            "messages_sent": noisy(messages),
            "stems_used": noisy(stems),
            "subscriptions_started": 0.0,
            "subscription_started": 0,
            "production_action_share": shares[:, 0],
            "lyrics_action_share": shares[:, 1],
            "chat_action_share": shares[:, 2],
            "stems_action_share": shares[:, 3],
        }
    )


@pytest.fixture(scope="module")
def three_groups() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.concat(
        [
            group_profile(rng, 120, "pow", 15, 30, 300, 40, 3, 20, 0, (0.7, 0.05, 0.25, 0)),
            group_profile(rng, 100, "lyr", 6, 10, 80, 2, 30, 10, 0, (0.05, 0.75, 0.2, 0)),
            group_profile(rng, 150, "one", 1, 1, 5, 0, 0, 2, 0, (0.1, 0.05, 0.85, 0)),
        ],
        ignore_index=True,
    )


def test_behaviour_profile_window_sums_shares_and_tenure():
    activity = pd.DataFrame(
        [
            activity_row(
                "2025-05-31",
                "a",
                sessions=2,
                minutes=30.0,
                renders_started=4,
                renders_completed=3,
                messages_sent=4,
                production_prompts_selected=3,
                lyrics_prompts_selected=1,
                prompts_selected=4,
            ),  # fmt: skip
            activity_row(
                "2025-05-04", "a", sessions=1, lyrics_generated=2, lyrics_completed=1, subscriptions_started=1
            ),  # fmt: skip
            activity_row("2025-05-03", "a", sessions=5, renders_completed=100),  # one day before the window
            activity_row("2025-06-01", "a", sessions=5),  # as_of itself is excluded
            activity_row("2025-05-20", "b", sessions=1, minutes=2.5),
        ]
    )
    users = pd.DataFrame(
        {"user_key": ["a", "c"], "first_seen_date": ["2025-05-03", "2025-05-01"], "signup_date": ["2025-04-01", None]}
    )
    profile = behaviour_profile(activity, users, AS_OF, window_days=28).set_index("user_key")

    assert list(profile.index) == ["a", "b"]
    a, b = profile.loc["a"], profile.loc["b"]
    assert (a["active_days"], a["sessions"], a["minutes"]) == (2, 3, 30.0)
    assert (a["productions_completed"], a["renders_started"], a["lyrics_generated"]) == (3, 4, 2)
    assert a["subscription_started"] == 1 and b["subscription_started"] == 0
    assert a["days_since_last_active"] == 1 and b["days_since_last_active"] == 12
    # actions: 4 renders + 2 lyrics + 4 messages + 0 stems
    assert a[["production_action_share", "lyrics_action_share", "chat_action_share"]].tolist() == [0.4, 0.2, 0.4]
    assert a["stems_action_share"] == 0.0 and b["production_action_share"] == 0.0
    assert (a["production_prompt_share"], a["lyrics_prompt_share"]) == (0.75, 0.25)
    assert b["lyrics_prompt_share"] == 0.0
    assert a["tenure_days"] == 61  # signup 2025-04-01 is earlier than first_seen_date
    assert b["tenure_days"] == 12  # not in users: first active day in the window


def test_behaviour_profile_rejects_missing_columns():
    activity = pd.DataFrame([activity_row("2025-05-31", "a")]).drop(columns="stems_used")
    with pytest.raises(ValueError, match="stems_used"):
        behaviour_profile(activity, pd.DataFrame({"user_key": ["a"]}), AS_OF)


def test_fit_finds_planted_groups_and_names_them(three_groups):
    model = fit_personas(three_groups, k_range=range(3, 6))

    assert list(model.criteria["k"]) == [3, 4, 5]
    assert model.criteria["chosen"].sum() == 1
    # k = 4 and 5 only split off a single outlier user: a higher silhouette, but below the 3 % minimum share
    criteria = model.criteria.set_index("k")
    assert model.k == 3
    assert criteria.loc[3, "eligible"] and not criteria.loc[4, "eligible"] and not criteria.loc[5, "eligible"]
    assert criteria.loc[3, "min_cluster_share"] == pytest.approx(100 / 370)
    assignments = assign_personas(model, three_groups)
    by_group = pd.crosstab(assignments["user_key"].str[:3], assignments["persona"])
    expected = {"pow": "power producer", "lyr": "lyric writer", "one": "one-time tryer"}
    for group, persona in expected.items():
        assert by_group.loc[group].idxmax() == persona
        assert by_group.loc[group, persona] == by_group.loc[group].sum()
    # clusters numbered by size: the 150 one-time tryers are cluster 0
    assert model.names[0] == "one-time tryer"
    assert model.summary["users"].tolist() == [150, 120, 100]
    assert ((assignments["confidence"] >= 0) & (assignments["confidence"] <= 1)).all()


def test_fit_is_deterministic_and_independent_of_row_order(three_groups):
    first = assign_personas(fit_personas(three_groups, k_range=range(3, 6)), three_groups)
    shuffled = three_groups.sample(frac=1.0, random_state=3)
    second = assign_personas(fit_personas(shuffled, k_range=range(3, 6)), three_groups)
    pd.testing.assert_frame_equal(first, second)


def test_min_cluster_share_excludes_k_and_falls_back_when_none_qualifies(three_groups):
    strict = fit_personas(three_groups, k_range=range(3, 6), min_cluster_share=0.5)
    assert not strict.criteria["eligible"].any()
    assert strict.k == strict.criteria.loc[strict.criteria["silhouette"].idxmax(), "k"]  # best silhouette overall
    assert strict.k != 3
    none_required = fit_personas(three_groups, k_range=range(3, 6), min_cluster_share=0.0)
    assert none_required.k == strict.k


def test_fit_rejects_too_few_users(three_groups):
    with pytest.raises(ValueError, match="no k"):
        fit_personas(three_groups.head(3), k_range=range(3, 6))


def test_fixed_model_applied_to_next_week_measures_migration(three_groups):
    model = fit_personas(three_groups, k_range=range(3, 6))
    previous = assign_personas(model, three_groups)
    # next week: the first 10 power producers now write lyrics only; the one-time tryers are gone
    next_week = three_groups[~three_groups["user_key"].str.startswith("one")].copy()
    lyr = three_groups[three_groups["user_key"].str.startswith("lyr")].iloc[0]
    changed = next_week["user_key"].isin([f"pow{i:03d}" for i in range(10)])
    columns = [c for c in CLUSTER_FEATURES if c != "user_key"]
    next_week.loc[changed, columns] = lyr[columns].to_numpy()
    current = assign_personas(model, next_week)

    flows = persona_migration(previous, current).set_index(["from_persona", "to_persona"])
    assert flows.loc[("power producer", "lyric writer"), "users"] == 10
    assert flows.loc[("power producer", "power producer"), "users"] == 110
    assert flows.loc[("power producer", "lyric writer"), "share_of_from"] == pytest.approx(10 / 120)
    assert flows.loc[("one-time tryer", "inactive"), "users"] == 150


def test_persona_migration_counts_new_and_inactive():
    previous = pd.DataFrame({"user_key": ["a", "b", "c", "d"], "persona": ["x", "x", "x", "y"]})
    current = pd.DataFrame({"user_key": ["a", "b", "d", "e"], "persona": ["x", "y", "y", "x"]})
    flows = persona_migration(previous, current)
    got = {(r.from_persona, r.to_persona): (r.users, round(r.share_of_from, 4)) for r in flows.itertuples()}
    assert got == {
        ("new", "x"): (1, 1.0),
        ("x", "x"): (1, 0.3333),
        ("x", "y"): (1, 0.3333),
        ("x", "inactive"): (1, 0.3333),
        ("y", "y"): (1, 1.0),
    }


def test_name_clusters_qualifies_duplicates():
    zeros = {f"z_{t}_action_share": 0.0 for t in ("production", "lyrics", "chat", "stems")}
    base = {"median_active_days": 4, "productions_completed": 0.5, "z_productions_completed": 0.0, **zeros}
    stats = pd.DataFrame(
        [
            {"cluster": 0, "active_days": 3.0, "z_active_days": 0.0, **base, "z_lyrics_action_share": 1.2},
            {"cluster": 1, "active_days": 9.0, "z_active_days": 0.9, **base, "z_lyrics_action_share": 0.8},
            {
                "cluster": 2,
                "active_days": 1.0,
                "z_active_days": -1.0,
                **base,
                "median_active_days": 1,
                "z_productions_completed": -0.5,
                "z_production_action_share": 0.3,
            },  # fmt: skip
            {
                "cluster": 3,
                "active_days": 1.1,
                "z_active_days": -1.0,
                **base,
                "median_active_days": 1,
                "z_productions_completed": -0.5,
                "z_chat_action_share": 0.7,
            },  # fmt: skip
        ]
    )
    names = name_clusters(stats)
    assert names[0] == "lyric writer (less engaged)"
    assert names[1] == "lyric writer (more engaged)"
    # both one-time tryers, told apart by their most over-represented task
    assert names[2] == "one-time tryer (production-led)"
    assert names[3] == "one-time tryer (chat-led)"
    assert len(set(names.values())) == 4


def test_name_cluster_rule_order():
    mix = {f"z_{t}_action_share": 0.0 for t in ("production", "lyrics", "chat", "stems")}
    engaged = {"median_active_days": 8, "active_days": 8.0, "productions_completed": 25.0, **mix}
    productive = {"z_active_days": 0.9, "z_productions_completed": 0.9}
    assert name_cluster(pd.Series({**engaged, **productive, "z_chat_action_share": 0.6})) == "power producer"
    assert name_cluster(pd.Series({**engaged, **productive, "z_stems_action_share": 0.6})) == "stem remixer"
    light = {**engaged, "z_active_days": 0.1, "z_productions_completed": -0.2}
    assert name_cluster(pd.Series({**light, "z_chat_action_share": 0.6})) == "chat explorer"
    assert name_cluster(pd.Series({**light, "productions_completed": 0.5})) == "light user"
    one_day = {**light, "median_active_days": 1, "z_stems_action_share": 2.0}
    assert name_cluster(pd.Series(one_day)) == "one-time tryer"


def test_persona_summary_and_value():
    profile = pd.DataFrame(
        {
            "user_key": ["a", "b", "c"],
            "active_days": [4, 2, 1],
            "productions_completed": [10.0, 0.0, 1.0],
            "lyrics_completed": [0.0, 4.0, 0.0],
            "subscriptions_started": [1.0, 0.0, 0.0],
            "subscription_started": [1, 0, 0],
        }
    )
    assignments = pd.DataFrame({"user_key": ["a", "b", "c"], "persona": ["p", "p", "q"]})
    assert user_value(profile).tolist() == [20.0, 2.0, 1.0]
    summary = persona_summary(profile, assignments).set_index("persona")
    assert summary.loc["p", ["users", "share", "mean_active_days", "productions_per_user"]].tolist() == [
        2,
        pytest.approx(2 / 3),
        3.0,
        5.0,  # fmt: skip
    ]
    assert summary.loc["p", "subscription_rate"] == 0.5
    assert summary.loc["p", "value_per_user"] == 11.0
    assert summary.loc["q", "value_share"] == pytest.approx(1 / 23)


def test_value_potential_formula():
    profile = pd.DataFrame(
        {
            "user_key": ["a", "b", "c", "d", "e"],
            "active_days": [8, 8, 2, 4, 1],
            "productions_completed": [10.0, 2.0, 0.0, 6.0, 0.0],
            "lyrics_completed": 0.0,
            "subscriptions_started": 0.0,
        }
    )
    assignments = pd.DataFrame({"user_key": list("abcde"), "persona": ["p", "p", "p", "p", "q"]})
    scores = value_potential(profile, assignments).set_index("user_key")
    # persona p: upper quartile of value [10, 2, 0, 6] = 7; all users' active days [8, 8, 2, 4, 1]: 8
    assert scores.loc["a", "target_value"] == 7.0
    assert scores.loc["a", "value_potential"] == 0.0  # above the target
    assert scores.loc["b", "value_potential"] == pytest.approx((7 - 2) / 7 * 1.0)
    assert scores.loc["c", "value_potential"] == pytest.approx(1.0 * 2 / 8)
    assert scores.loc["d", "value_potential"] == pytest.approx((1 / 7) * 0.5)
    assert scores.loc["e", "value_potential"] == 0.0  # persona target 0: nothing to gain
    assert scores.loc["e", "engagement"] == pytest.approx(1 / 8)  # engagement is measured against all users
    assert scores["value_potential"].between(0, 1).all()
