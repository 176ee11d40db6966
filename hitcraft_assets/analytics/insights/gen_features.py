"""Generator 4: feature impact on retention. Early adopters of a feature vs matched non-adopters, on user level
(marts.user_daily_activity + marts.dim_users), with the feature's weekly adoption from marts.feature_adoption."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from hitcraft_assets.analytics.insights import text
from hitcraft_assets.analytics.insights.base import (
    ab_numbers,
    ab_test,
    build_insight,
    day_series,
    is_empty,
    new_user_cohort,
    prepare_activity,
)
from hitcraft_assets.analytics.insights.model import Insight, Recommendation
from hitcraft_assets.analytics.insights.stats import clamp_p

# feature name (as in marts.feature_adoption / the product_features seed) -> user_daily_activity count column
DEFAULT_FEATURES = {"stem_separation": "stems_used", "lyrics": "lyrics_generated", "feedback": "feedback_submitted"}
DEFAULT_MATCH_ON = ("signup_week", "role", "acquisition_channel", "signup_day_sessions")


def feature_retention_insights(
    activity: pd.DataFrame,
    users: pd.DataFrame,
    as_of: date,
    feature_adoption: pd.DataFrame | None = None,
    features: Mapping[str, str] = DEFAULT_FEATURES,
    retention_days: tuple[int, int] = (28, 34),
    match_on: Sequence[str] = DEFAULT_MATCH_ON,
    min_adopters: int = 30,
) -> list[Insight]:
    """Day-30 retention of a feature's early adopters vs matched non-adopters, one candidate per feature
    (key 'feature_retention:<feature>', type 'success' when adopters retain better, else 'risk').

    Inputs: marts.user_daily_activity (activity_date, user_key, sessions and the count columns named in
    `features`); marts.dim_users (user_key, signup_date and the columns in `match_on` other than the derived
    'signup_week' and 'signup_day_sessions'); marts.feature_adoption (feature, week_start, is_complete_week,
    adoption_rate, adoption_rate_wow_change), optional, for the adoption numbers in the statement.
    Cohort: users who signed up on or after the first activity day and early enough that day
    retention_days[1] after signup is <= as_of. Adopter: used the feature (column > 0) on the signup day; using it
    later is not counted, because only users who stay can use it later (immortal-time bias). Retained: any activity
    on days retention_days[0]..retention_days[1] after signup.
    Matching: exact strata on `match_on` (signup_week = Monday of the signup week, signup_day_sessions = 1, 2 or
    3+ sessions on the signup day, a proxy for early engagement that otherwise confounds any feature); strata without
    both groups are dropped. Test: Cochran-Mantel-Haenszel (statsmodels StratifiedTable), pooled odds ratio with
    its 95 % interval. Effect: the Mantel-Haenszel risk difference (same strata weights as the test) with Sato's
    variance, 95 % normal interval; the matched non-adopters' rate quoted is the adopters' rate minus it.
    Observational: the statement says so.
    Impact: effect x non-adopters signing up per week (users who would be retained if the effect were causal).
    """
    if is_empty(activity) or is_empty(users):
        return []
    frame = prepare_activity(activity, as_of)
    cohort = new_user_cohort(users, frame, as_of, followup_days=retention_days[1] + 1)
    if cohort.empty:
        return []
    cohort = cohort.set_index("user_key")
    days = frame.merge(cohort["signup_date"], left_on="user_key", right_index=True)
    days["day"] = (days["activity_date"] - days["signup_date"]).dt.days
    first_day = days[days["day"] == 0].groupby("user_key").sum(numeric_only=True)
    lo, hi = retention_days
    retained = days[(days["day"] >= lo) & (days["day"] <= hi)]["user_key"].unique()
    cohort["retained"] = cohort.index.isin(retained)
    cohort["signup_week"] = (cohort["signup_date"] - pd.to_timedelta(cohort["signup_date"].dt.weekday, "D")).dt.date
    sessions = first_day["sessions"].reindex(cohort.index).fillna(0)
    cohort["signup_day_sessions"] = np.where(sessions >= 3, "3+", sessions.astype(int).astype(str))
    for column in match_on:
        cohort[column] = cohort[column].fillna("unknown") if column in cohort else "unknown"
    weeks = max(1.0, (cohort["signup_date"].max() - cohort["signup_date"].min()).days / 7 + 1 / 7)
    insights = []
    for feature, column in features.items():
        if column not in first_day.columns:
            continue
        cohort["adopter"] = first_day[column].reindex(cohort.index).fillna(0) > 0
        result = _matched(cohort, list(match_on))
        if result is None or result["adopters"] < min_adopters:
            continue
        adoption = _adoption(feature_adoption, feature, as_of)
        insights.append(_insight(feature, result, adoption, cohort, weeks, retention_days, list(match_on), as_of))
    return insights


def _matched(cohort: pd.DataFrame, match_on: list[str]) -> dict | None:
    tables = []
    for _, group in cohort.groupby(match_on, observed=True):
        adopters = group["adopter"].to_numpy()
        if adopters.all() or not adopters.any():
            continue
        ka, kn = group.loc[adopters, "retained"].sum(), group.loc[~adopters, "retained"].sum()
        tables.append([ka, adopters.sum() - ka, kn, (~adopters).sum() - kn])
    if not tables:
        return None
    t = np.array(tables, dtype=float)
    table = StratifiedTable([row.reshape(2, 2) for row in t])
    odds_low, odds_high = table.oddsratio_pooled_confint()
    diff, se = _mantel_haenszel_difference(t)
    z = stats.norm.ppf(0.975)
    rate_a = t[:, 0].sum() / t[:, :2].sum()
    return {
        "rate_adopters": rate_a,
        "rate_matched": rate_a - diff,
        "diff": diff,
        "ci_low": diff - z * se,
        "ci_high": diff + z * se,
        "odds_ratio": float(table.oddsratio_pooled),
        "or_low": float(odds_low),
        "or_high": float(odds_high),
        "p_value": clamp_p(float(table.test_null_odds(correction=False).pvalue)),
        "adopters": float(t[:, :2].sum()),
        "non_adopters": float(t[:, 2:].sum()),
        "strata": float(len(t)),
    }


def _mantel_haenszel_difference(t: np.ndarray) -> tuple[float, float]:
    """Mantel-Haenszel risk difference over strata rows (a, b, c, d) = (exposed retained, exposed not, unexposed
    retained, unexposed not) with Sato's variance, which stays valid when strata are sparse."""
    a, b, c, d = t.T
    n1, n0 = a + b, c + d
    n = n1 + n0
    w = n1 * n0 / n
    diff = float(np.sum(w * (a / n1 - c / n0)) / w.sum())
    p = np.sum((n1**2 * c - n0**2 * a + n1 * n0 * (n0 - n1) / 2) / n**2)
    q = np.sum((a * (n0 - c) + c * (n1 - a)) / (2 * n))
    return diff, math.sqrt(max(0.0, (diff * p + q) / w.sum() ** 2))


def _adoption(feature_adoption: pd.DataFrame | None, feature: str, as_of: date) -> pd.Series | None:
    if is_empty(feature_adoption):
        return None
    fa = feature_adoption.assign(week_start=day_series(feature_adoption["week_start"]))
    done = fa[(fa["feature"] == feature) & (fa["week_start"] + pd.Timedelta(days=6) <= pd.Timestamp(as_of))]
    return None if done.empty else done.sort_values("week_start").iloc[-1]


def _insight(feature, r, adoption, cohort, weeks, retention_days, match_on, as_of) -> Insight:
    name = feature.replace("_", " ")  # 'stem_separation' -> 'stem separation'
    better = r["diff"] > 0
    rel = r["rate_adopters"] / r["rate_matched"] - 1 if r["rate_matched"] > 0 else math.nan
    n = r["adopters"] + r["non_adopters"]
    lo, hi = retention_days
    first, last = cohort["signup_date"].min().date(), cohort["signup_date"].max().date()
    weekly_new_non_adopters = float((~cohort["adopter"]).sum()) / weeks
    numbers = dict(r) | {"rel": rel, "n": n, "day_from": lo, "day_to": hi, "ci_level": 0.95}
    matched = ", ".join(c.replace("_", " ") for c in match_on)
    statement = (
        f"New users who used {name} on their signup day were active on days {lo}-{hi} after signup "
        f"{text.pct(r['rate_adopters'])} of the time vs {text.pct(r['rate_matched'])} for matched non-adopters "
        f"(same {matched}): {text.signed_pct(rel)} relative, {text.pp(r['diff'])} (95% CI {text.pp(r['ci_low'])} to "
        f"{text.pp(r['ci_high'])}). Cochran-Mantel-Haenszel odds ratio {text.num(r['odds_ratio'], 2)} (95% CI "
        f"{text.num(r['or_low'], 2)} to {text.num(r['or_high'], 2)}), {text.p_text(r['p_value'])}; "
        f"{text.count(n)} users who signed up {first}..{last}, {text.count(r['adopters'])} adopters, "
        f"{text.count(r['strata'])} strata. Observational comparison, not an experiment: adopters may differ in "
        "ways the matching does not capture."
    )
    if adoption is not None and pd.notna(adoption.get("adoption_rate")):
        numbers["adoption_rate"] = adoption["adoption_rate"]
        statement += (
            f" Adoption: {text.pct(adoption['adoption_rate'])} of weekly active users in the week of "
            f"{adoption['week_start'].date()}"
        )
        change = adoption.get("adoption_rate_wow_change")
        if change is not None and pd.notna(change):
            numbers["adoption_wow_change"] = change
            statement += f" ({text.pp(change)} vs the week before)"
        statement += "."
    rec_ab = ab_test(
        action=f"A/B test prompting new users to try {name} in their first session.",
        hypothesis=f"New users nudged to {name} on day 0 retain better at day {lo}-{hi}.",
        metric=f"day {lo}-{hi} retention",
        baseline=r["rate_matched"],
        weekly_traffic=weekly_new_non_adopters,
    )
    numbers |= ab_numbers(rec_ab)
    if better:
        recs = (
            Recommendation(kind="campaign", action=f"Promote {name} to user segments that have not discovered it."),
            rec_ab,
        )
    else:
        recs = (Recommendation(kind="investigate", action=f"Look into why early {name} users retain worse."),)
    return build_insight(
        key=f"feature_retention:{feature}",
        insight_type="success" if better else "risk",
        generator="feature_retention_insights",
        as_of=as_of,
        title=f"{name.capitalize()} adopters: {text.signed_pct(rel)} day {lo}-{hi} retention vs matched non-adopters",
        statement=statement,
        metric=f"day_{lo}_{hi}_retention",
        segment_type="feature",
        segment_value=feature,
        window_start=first,
        window_end=last + timedelta(days=hi),
        baseline_start=None,
        baseline_end=None,
        sample_size=n,
        sample_unit="users",
        test="Cochran-Mantel-Haenszel test over exact-matched strata (observational)",
        p_value=r["p_value"],
        effect=r["diff"],
        effect_relative=rel,
        ci_low=r["ci_low"],
        ci_high=r["ci_high"],
        impact=abs(r["diff"]) * weekly_new_non_adopters,
        impact_unit="users",
        numbers=numbers,
        recommendations=recs,
    )
