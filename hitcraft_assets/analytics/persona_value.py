"""What personas are worth: a per-user value proxy, size and value per persona, and a value-potential score.
Inputs are a behaviour_profile (personas.py) and persona assignments (assign_personas)."""

from __future__ import annotations

import pandas as pd

# value proxy: a subscription is worth ten completed productions, a completed lyric half of one
VALUE_WEIGHTS: dict[str, float] = {"productions_completed": 1.0, "lyrics_completed": 0.5, "subscriptions_started": 10.0}


def _require(frame: pd.DataFrame, columns, name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}")


def user_value(profile: pd.DataFrame, value_weights: dict[str, float] | None = None) -> pd.Series:
    """Value proxy per profile row: sum of weight x column over value_weights (default VALUE_WEIGHTS:
    productions_completed + 0.5 x lyrics_completed + 10 x subscriptions_started in the window)."""
    weights = VALUE_WEIGHTS if value_weights is None else value_weights
    _require(profile, list(weights), "profile")
    return sum(profile[column].astype(float).fillna(0.0) * weight for column, weight in weights.items())


def persona_summary(
    profile: pd.DataFrame, assignments: pd.DataFrame, value_weights: dict[str, float] | None = None
) -> pd.DataFrame:
    """Size and value per persona.

    Inputs: profile (user_key, active_days, productions_completed, lyrics_completed, subscription_started and
    the value_weights columns), assignments (user_key, persona). Users present in both are counted.
    Output, one row per persona, largest first: persona, users, share (of assigned users), mean_active_days,
    productions_per_user, lyrics_completed_per_user, subscription_rate (share with a subscription started in the
    window), value_per_user (user_value mean), value_share (persona's share of total value).
    """
    frame = profile.assign(value=user_value(profile, value_weights)).merge(
        assignments[["user_key", "persona"]], on="user_key"
    )
    grouped = frame.groupby("persona")
    summary = pd.DataFrame(
        {
            "users": grouped.size(),
            "mean_active_days": grouped["active_days"].mean(),
            "productions_per_user": grouped["productions_completed"].mean(),
            "lyrics_completed_per_user": grouped["lyrics_completed"].mean(),
            "subscription_rate": grouped["subscription_started"].mean(),
            "value_per_user": grouped["value"].mean(),
            "value": grouped["value"].sum(),
        }
    )
    summary.insert(1, "share", summary["users"] / summary["users"].sum())
    total = summary.pop("value")
    summary["value_share"] = total / total.sum() if total.sum() > 0 else 0.0
    summary = summary.rename_axis("persona").reset_index()
    return summary.sort_values(["users", "persona"], ascending=[False, True]).reset_index(drop=True)


def value_potential(
    profile: pd.DataFrame,
    assignments: pd.DataFrame,
    value_weights: dict[str, float] | None = None,
    quantile: float = 0.75,
) -> pd.DataFrame:
    """How much more value each user could produce, in [0, 1], relative to peers of the same persona.

        value            = user_value(profile, value_weights)        (the documented value proxy)
        target_value     = persona's `quantile` (upper quartile) of value
        value_gap        = clip((target_value - value) / target_value, 0, 1)   (0 when target_value is 0)
        engagement       = clip(active_days / `quantile` of active_days over ALL assigned users, 0, 1)
        value_potential  = value_gap x engagement

    A user far below their persona's upper-quartile output but as active as the upper quartile of all users
    scores near 1 (shows up, does not yet produce: the conversion opportunity); a user already at the target, or
    barely active (little sign they would stay to produce more; e.g. one-time tryers), scores near 0. Output is
    compared within the persona (a lyric writer is not measured against power producers), engagement across all
    users (so one active day is low engagement whatever the persona).
    Inputs: profile (user_key, active_days, value_weights columns), assignments (user_key, persona).
    Output, users present in both: user_key, persona, value, target_value, value_gap, engagement,
    value_potential.
    """
    frame = profile[["user_key", "active_days"]].assign(value=user_value(profile, value_weights))
    frame = frame.merge(assignments[["user_key", "persona"]], on="user_key")
    by_persona = frame.groupby("persona")
    frame["target_value"] = by_persona["value"].transform("quantile", quantile)
    target_days = float(frame["active_days"].quantile(quantile))
    gap = (frame["target_value"] - frame["value"]) / frame["target_value"].where(frame["target_value"] > 0)
    frame["value_gap"] = gap.fillna(0.0).clip(0.0, 1.0)
    frame["engagement"] = (frame["active_days"] / target_days).clip(0.0, 1.0) if target_days > 0 else 0.0
    frame["value_potential"] = frame["value_gap"] * frame["engagement"]
    return frame[["user_key", "persona", "value", "target_value", "value_gap", "engagement", "value_potential"]]
