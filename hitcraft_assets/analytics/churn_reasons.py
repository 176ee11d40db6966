"""Plain-word churn reasons from per-feature model contributions (XGBoost pred_contribs / SHAP values).

Features are grouped into families before ranking, so one idea gives one reason: the one-hot columns of one
dim_users attribute ("acquisition_channel=tiktok", "acquisition_channel=organic", ...), the windows and trend of
one measure ("sessions_7d", "sessions_28d", "sessions_trend_7d"), and the two recency features. A family's reason
is phrased from its member with the largest contribution, with that user's value.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from hitcraft_assets.analytics.churn_features import ONE_HOT_SEPARATOR

_WINDOW = re.compile(r"^(?P<measure>.+?)(?P<trend>_trend)?_(?P<days>\d+)d$")

# measure -> (singular, plural) nouns used in "<n> <noun> in the last <W> days".
MEASURE_NOUNS = {
    "sessions": ("session", "sessions"),
    "minutes": ("minute in sessions", "minutes in sessions"),
    "core_events": ("core action", "core actions"),
    "renders_started": ("render started", "renders started"),
    "renders_completed": ("production completed", "productions completed"),
    "renders_failed": ("failed render", "failed renders"),
    "sketches_uploaded": ("sketch uploaded", "sketches uploaded"),
    "prompts_selected": ("prompt selected", "prompts selected"),
    "active_days": ("active day", "active days"),
    "core_active_days": ("day with a core action", "days with a core action"),
    "production_prompts_selected": ("production prompt used", "production prompts used"),
    "mixing_prompts_selected": ("mixing prompt used", "mixing prompts used"),
    "lyrics_prompts_selected": ("lyrics prompt used", "lyrics prompts used"),
    "messages_sent": ("chat message sent", "chat messages sent"),
    "messages_liked": ("reply liked", "replies liked"),
    "messages_disliked": ("reply disliked", "replies disliked"),
    "feedback_submitted": ("feedback given", "feedback given"),
    "stems_used": ("stem separation", "stem separations"),
    "lyrics_generated": ("lyrics generation", "lyrics generations"),
    "lyrics_completed": ("lyrics completed", "lyrics completed"),
    "productions_downloaded": ("production downloaded", "productions downloaded"),
}
# flag feature -> (phrase when 0, phrase when 1)
FLAG_PHRASES = {
    "has_uploaded_sketch": ("never uploaded a sketch", "has uploaded a sketch"),
    "has_completed_render": ("never completed a render", "has completed a render"),
    "has_used_stems": ("never used stem separation", "has used stem separation"),
    "has_used_lyrics": ("never generated lyrics", "has generated lyrics"),
    "has_subscribed": ("not subscribed", "subscribed"),
    "signed_up": ("not signed up", "signed up"),
}
ATTRIBUTE_PHRASES = {
    "acquisition_channel": "acquired via {}",
    "platform": "uses the {} app",
    "role": "role: {}",
    "experience_level": "experience level: {}",
}


def feature_family(feature: str) -> str:
    """The reason group of a feature: the attribute of a one-hot column, "recency" for days_since_last_*, the
    measure of a windowed count or trend ("sessions_7d", "sessions_trend_7d" -> "sessions"), else the feature."""
    if ONE_HOT_SEPARATOR in feature:
        return feature.split(ONE_HOT_SEPARATOR, 1)[0]
    if feature.startswith("days_since_last_"):
        return "recency"
    match = _WINDOW.match(feature)
    return match["measure"] if match else feature


def top_reasons(
    features: pd.DataFrame, contributions: np.ndarray, n_reasons: int = 3, min_contribution: float = 1e-6
) -> pd.DataFrame:
    """reason_1..reason_<n_reasons> per row of `features`.

    features: the model's feature columns (in model order, as given to the model) for each user.
    contributions: array (users x features) of per-feature contributions to the log-odds of churn (the bias
        column removed). Families are ranked by their summed contribution; only families raising the risk by
        more than `min_contribution` give a reason, the rest of the reason columns are "".
    Returns a DataFrame with the same row order (RangeIndex) and str columns reason_1..reason_<n_reasons>.
    """
    names = list(features.columns)
    n_users = len(features)
    families = pd.Index(dict.fromkeys(feature_family(f) for f in names))
    codes = families.get_indexer([feature_family(f) for f in names])
    membership = np.zeros((len(names), len(families)))
    membership[np.arange(len(names)), codes] = 1.0
    family_contrib = np.asarray(contributions, dtype=float) @ membership

    # Representative member per user and family: the member with the largest contribution.
    representative = np.empty((n_users, len(families)), dtype=int)
    for g in range(len(families)):
        members = np.flatnonzero(codes == g)
        representative[:, g] = members[np.argmax(contributions[:, members], axis=1)] if n_users else 0

    values = features.reset_index(drop=True)
    ranked = np.argsort(-family_contrib, axis=1, kind="stable")[:, :n_reasons]
    rows = np.arange(n_users)
    out = {}
    for k in range(n_reasons):
        column = np.full(n_users, "", dtype=object)
        if k < ranked.shape[1]:
            family = ranked[:, k]
            raises = family_contrib[rows, family] > min_contribution
            chosen = representative[rows, family]
            for feature_idx in np.unique(chosen[raises]):
                who = np.flatnonzero(raises & (chosen == feature_idx))
                column[who] = describe_feature(names[feature_idx], values.iloc[who])
        out[f"reason_{k + 1}"] = column
    return pd.DataFrame(out)


def describe_feature(feature: str, rows: pd.DataFrame) -> list[str]:
    """Plain words for `feature` with each row's values (rows: feature columns of some users), e.g.
    days_since_last_active = 13 -> "no active day in the last 12 days"."""
    if ONE_HOT_SEPARATOR in feature:
        attribute = feature.split(ONE_HOT_SEPARATOR, 1)[0]
        template = ATTRIBUTE_PHRASES.get(attribute, attribute.replace("_", " ") + ": {}")
        return [template.format(v) for v in _category_of(rows, attribute)]
    v = rows[feature].to_numpy(dtype=float)
    if feature in ("days_since_last_active", "days_since_last_core_active"):
        what = (
            "active day"
            if feature == "days_since_last_active"
            else "core action (upload, prompt, render, lyrics, chat, stems)"
        )
        return [_recency_phrase(what, int(d) - 1) for d in v]
    if feature in FLAG_PHRASES:
        return [FLAG_PHRASES[feature][int(x > 0)] for x in v]
    if feature == "tenure_days":
        return [f"first seen {int(x)} days ago" for x in v]
    if feature == "lifetime_active_days":
        return [f"{int(x)} active day{'s' * (int(x) != 1)} in total" for x in v]
    match = _WINDOW.match(feature)
    if match and match["trend"]:
        return _describe_trend(match["measure"], int(match["days"]), rows, v)
    if match and match["measure"] == "render_completion_rate":
        days = match["days"]
        return [
            f"no renders in the last {days} days"
            if np.isnan(x)
            else f"{x:.0%} of renders completed in the last {days} days"
            for x in v
        ]
    if match and match["measure"] in MEASURE_NOUNS:
        singular, plural = MEASURE_NOUNS[match["measure"]]
        days = match["days"]
        return [
            f"no {plural} in the last {days} days"
            if round(x) == 0
            else f"{round(x)} {singular if round(x) == 1 else plural} in the last {days} days"
            for x in v
        ]
    return [f"{feature.replace('_', ' ')} = {x:g}" for x in v]


def _recency_phrase(what: str, idle_days: int) -> str:
    """idle_days: whole days without it before the cutoff (days_since - 1)."""
    if idle_days >= 2:
        return f"no {what} in the last {idle_days} days"
    return f"no {what} on the last day" if idle_days == 1 else f"{what} on the last day"


def _category_of(rows: pd.DataFrame, attribute: str) -> list[str]:
    prefix = attribute + ONE_HOT_SEPARATOR
    columns = [c for c in rows.columns if c.startswith(prefix)]
    if not columns:
        return ["unknown"] * len(rows)
    hot = rows[columns].to_numpy(dtype=float)
    labels = np.array([c[len(prefix) :] for c in columns], dtype=object)
    # All zeros: a value the model was not trained on.
    return [labels[i] if hot[r, i] > 0 else "another value" for r, i in enumerate(np.argmax(hot, axis=1))]


def _describe_trend(measure: str, days: int, rows: pd.DataFrame, ratio: np.ndarray) -> list[str]:
    noun = MEASURE_NOUNS.get(measure, (measure, measure))[1]
    recent_column = f"{measure}_{days}d"
    span = "week over week" if days == 7 else f"from the previous {days} days to the last {days}"
    if recent_column not in rows:
        return [f"{noun} changed {r:.2f}x {span}" for r in ratio]
    recent = rows[recent_column].to_numpy(dtype=float)
    prior = np.rint((recent + 1.0) / ratio - 1.0)  # the feature is (recent + 1) / (prior + 1)
    out = []
    for now, before in zip(recent, prior):
        if now < before:
            out.append(f"{noun} fell from {before:.0f} to {now:.0f} {span}")
        elif now > before:
            out.append(f"{noun} rose from {before:.0f} to {now:.0f} {span}")
        else:
            out.append(f"{noun} flat at {now:.0f} {span}")
    return out
