"""Generator 5: segment risks. Segments whose churn risk rises (ml.churn_risk_by_segment), cohorts whose retention
falls (marts.retention_cohorts), and segments whose new users drop off early when they have not completed a
production in their first sessions (marts.user_daily_activity + marts.dim_users)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd

from hitcraft_assets.analytics.insights import text
from hitcraft_assets.analytics.insights.base import (
    ab_numbers,
    ab_test,
    build_insight,
    day_series,
    is_empty,
    label,
    new_user_cohort,
    prepare_activity,
    require,
)
from hitcraft_assets.analytics.insights.model import Insight, Recommendation
from hitcraft_assets.analytics.insights.stats import compare_proportions

EARLY_SEGMENT_TYPES = ("role", "experience_level", "acquisition_channel", "platform")


def churn_risk_insights(churn_by_segment: pd.DataFrame, as_of: date, days_back: int = 7) -> list[Insight]:
    """Segments whose share of high-risk users rose since `days_back` days ago (key
    'churn_risk_rising:<segment_type>=<value>', type 'risk'); falls are not reported.

    Input: ml.churn_risk_by_segment (score_date, segment_type, segment_value, users, mean_churn_probability,
    high_risk_users, high_risk_share). Test: two-proportion z-test of high_risk_users / users on as_of vs
    as_of - days_back. The two days share most users, which makes the independent-samples test conservative.
    Impact: the rise in the share x users = users newly at high risk.
    """
    if is_empty(churn_by_segment):
        return []
    require(churn_by_segment, ["score_date", "segment_type", "segment_value", "users", "high_risk_users"], "churn")
    frame = churn_by_segment.assign(score_date=day_series(churn_by_segment["score_date"]))
    before_day = as_of - timedelta(days=days_back)
    now = frame[frame["score_date"] == pd.Timestamp(as_of)]
    before = frame[frame["score_date"] == pd.Timestamp(before_day)]
    merged = now.merge(before, on=["segment_type", "segment_value"], suffixes=("", "_before"))
    insights = []
    for _, r in merged.iterrows():
        if r["users"] <= 0 or r["users_before"] <= 0:
            continue
        cmp = compare_proportions(r["high_risk_users"], r["users"], r["high_risk_users_before"], r["users_before"])
        if cmp.difference <= 0:
            continue
        seg = label(r["segment_type"], r["segment_value"])
        numbers = {"share": cmp.rate1, "share_before": cmp.rate2, "diff": cmp.difference, "users": r["users"],
                   "users_before": r["users_before"], "high_risk_users": r["high_risk_users"],
                   "mean_churn": r.get("mean_churn_probability"), "mean_churn_before": r.get(
                       "mean_churn_probability_before"), "p_value": cmp.p_value, "days_back": days_back,
                   "ci_low": cmp.ci_low, "ci_high": cmp.ci_high, "ci_level": 0.95}  # fmt: skip
        statement = (
            f"{text.pct(cmp.rate1)} of the {text.count(r['users'])} scored {seg} users are at high churn risk on "
            f"{as_of}, vs {text.pct(cmp.rate2)} of {text.count(r['users_before'])} on {before_day} "
            f"({text.pp(cmp.difference)}, 95% CI {text.pp(cmp.ci_low)} to {text.pp(cmp.ci_high)}; two-proportion "
            f"z-test, {text.p_text(cmp.p_value)})."
        )
        if pd.notna(numbers["mean_churn"]) and pd.notna(numbers["mean_churn_before"]):
            now, before = text.pct(numbers["mean_churn"]), text.pct(numbers["mean_churn_before"])
            statement += f" Mean churn probability {now} vs {before}."
        insights.append(
            build_insight(
                key=f"churn_risk_rising:{r['segment_type']}={r['segment_value']}",
                insight_type="risk",
                generator="churn_risk_insights",
                as_of=as_of,
                title=f"Churn risk rising for {seg}: {text.pct(cmp.rate1)} high-risk ({text.pp(cmp.difference)})",
                statement=statement,
                metric="high_risk_share",
                segment_type=r["segment_type"],
                segment_value=str(r["segment_value"]),
                window_start=as_of,
                window_end=as_of,
                baseline_start=before_day,
                baseline_end=before_day,
                sample_size=r["users"],
                sample_unit="users",
                test="two-proportion z-test (score), Newcombe interval",
                **cmp.evidence(),
                impact=cmp.difference * r["users"],
                impact_unit="users",
                numbers=numbers,
                recommendations=(
                    Recommendation(
                        kind="campaign",
                        action=f"Send a re-engagement campaign to the {text.count(r['high_risk_users'])} high-risk "
                        f"{seg} users.",
                    ),
                ),
            )
        )
    return insights


def retention_change_insights(
    cohorts: pd.DataFrame, as_of: date, periods: Sequence[int] = (1, 4), baseline_cohorts: int = 3
) -> list[Insight]:
    """Weekly-cohort retention: the latest cohort whose period `p` has ended by `as_of` vs the `baseline_cohorts`
    cohorts before it, pooled (key 'retention_change:week_<p>', type 'risk' when lower, 'success' when higher).

    Input: marts.retention_cohorts (cohort_grain, cohort_start, period_number, period_end, cohort_users,
    retained_users): rows with cohort_grain 'week' are used; retained = active in week p after the cohort week
    (bounded retention). The earliest cohort of the table is skipped: on a fresh backfill it holds every user
    already active when the data starts. Test: two-proportion z-test.
    """
    if is_empty(cohorts):
        return []
    require(cohorts, ["cohort_grain", "cohort_start", "period_number", "cohort_users", "retained_users"], "cohorts")
    weekly = cohorts[cohorts["cohort_grain"] == "week"].assign(cohort_start=lambda f: day_series(f["cohort_start"]))
    if weekly.empty:
        return []
    weekly = weekly[weekly["cohort_start"] > weekly["cohort_start"].min()]
    insights = []
    for period in periods:
        rows = weekly[weekly["period_number"] == period].sort_values("cohort_start")
        rows = rows[rows["cohort_start"] + pd.Timedelta(days=7 * (period + 1) - 1) <= pd.Timestamp(as_of)]
        if len(rows) < baseline_cohorts + 1:
            continue
        latest, base = rows.iloc[-1], rows.iloc[-1 - baseline_cohorts : -1]
        cmp = compare_proportions(latest["retained_users"], latest["cohort_users"], base["retained_users"].sum(),
                                  base["cohort_users"].sum())  # fmt: skip
        lower = cmp.difference < 0
        start = latest["cohort_start"].date()
        numbers = {"rate": cmp.rate1, "base_rate": cmp.rate2, "diff": cmp.difference, "n": cmp.n1, "base_n": cmp.n2,
                   "period": period, "cohorts": baseline_cohorts, "p_value": cmp.p_value, "ci_low": cmp.ci_low,
                   "ci_high": cmp.ci_high, "ci_level": 0.95}  # fmt: skip
        statement = (
            f"Week-{period} retention of the cohort that started {start} is {text.pct(cmp.rate1)} "
            f"({text.count(cmp.n1)} users) vs {text.pct(cmp.rate2)} for the {baseline_cohorts} cohorts before it "
            f"({text.count(cmp.n2)} users): {text.pp(cmp.difference)} (95% CI {text.pp(cmp.ci_low)} to "
            f"{text.pp(cmp.ci_high)}; two-proportion z-test, {text.p_text(cmp.p_value)})."
        )
        recs = (
            Recommendation(
                kind="investigate" if lower else "campaign",
                action=(f"Check what the cohort of {start} met in its first weeks (incidents, releases, channels)."
                        if lower else f"Find what the cohort of {start} did differently and repeat it."),
            ),
        )  # fmt: skip
        insights.append(
            build_insight(
                key=f"retention_change:week_{period}",
                insight_type="risk" if lower else "success",
                generator="retention_change_insights",
                as_of=as_of,
                title=f"Week-{period} retention {'down' if lower else 'up'} {text.pp(cmp.difference)} for the "
                f"cohort of {start}",
                statement=statement,
                metric=f"week_{period}_retention",
                segment_type=None,
                segment_value=None,
                window_start=start,
                window_end=start + timedelta(days=7 * (period + 1) - 1),
                baseline_start=base["cohort_start"].min().date(),
                baseline_end=base["cohort_start"].max().date() + timedelta(days=6),
                sample_size=cmp.n1,
                sample_unit="users",
                test="two-proportion z-test (score), Newcombe interval",
                **cmp.evidence(),
                impact=abs(cmp.difference) * cmp.n1,
                impact_unit="users",
                numbers=numbers,
                recommendations=recs,
            )
        )
    return insights


def early_session_outcomes(
    activity: pd.DataFrame, users: pd.DataFrame, as_of: date, after_session: int = 2, followup_days: int = 7
) -> pd.DataFrame:
    """Per new user whose session `after_session` (k) was the last session of its day: did they complete a
    production (renders_completed > 0) in sessions 1..k, and did they drop (no activity after that day up to as_of)?

    Inputs: user_daily_activity (activity_date, user_key, sessions, renders_completed) and dim_users (user_key,
    signup_date, segment columns). Only users who signed up on or after the first activity day, and whose
    session-k day is at least `followup_days` days before as_of, are kept; the drop is judged on all activity up to
    as_of (a user back after 20 days did not drop), so the follow-up is the same for both groups on average.
    Activity is daily, so sessions are placed by cumulative daily counts. A user whose session-k day also holds
    session k+1 did not drop, but the renders of that day cannot be split between sessions 1..k and k+1; keeping
    such users only when the split does not matter selects on the outcome (on simulated data without any effect it
    made no-production users look 4 pp more likely to drop), so all of them are left out: whether session k ends
    its day is decided by the drop and the day's session count, not by what happened in the sessions, so the two
    groups stay comparable when there is no effect. Among the users kept, the drop share is P(drop) /
    P(session k ends its day), which makes it higher than the share of all users who never have session k+1.
    Output columns: user_key, produced (bool), dropped (bool), plus the dim_users columns.
    """
    frame = prepare_activity(activity, as_of)
    require(frame, ["renders_completed"], "user_daily_activity")
    cohort = new_user_cohort(users, frame, as_of, followup_days=1)
    frame = frame[frame["user_key"].isin(cohort["user_key"])].sort_values(["user_key", "activity_date"])
    if frame.empty:
        return pd.DataFrame(columns=["user_key", "produced", "dropped"])
    by_user = frame.groupby("user_key")
    frame["cum_sessions"] = by_user["sessions"].cumsum()
    frame["cum_renders"] = by_user["renders_completed"].cumsum()
    reach = frame[frame["cum_sessions"] >= after_session].groupby("user_key").head(1).set_index("user_key")
    last_judged = pd.Timestamp(as_of) - pd.Timedelta(days=followup_days)
    reach = reach[(reach["cum_sessions"] == after_session) & (reach["activity_date"] <= last_judged)]
    last_active = by_user["activity_date"].max().reindex(reach.index)
    out = pd.DataFrame(
        {
            "produced": (reach["cum_renders"] > 0).to_numpy(),
            "dropped": (last_active == reach["activity_date"]).to_numpy(),
        },
        index=reach.index,
    )
    return out.reset_index().merge(cohort, on="user_key", how="left")


def early_dropoff_insights(
    activity: pd.DataFrame,
    users: pd.DataFrame,
    as_of: date,
    after_session: int = 2,
    followup_days: int = 7,
    segment_types: Sequence[str] = EARLY_SEGMENT_TYPES,
    min_users: int = 20,
) -> list[Insight]:
    """New users without a completed production in their first `after_session` sessions vs those with one: share
    with no activity after the day of session k (up to as_of, at least `followup_days` days later), among users
    whose session k was the last session of its day, per segment of `segment_types` and overall (key
    'early_dropoff:<segment_type>=<value>' or 'early_dropoff:all', type 'risk'; only segments where the
    no-production group drops more are reported). Inputs and how users are classified: `early_session_outcomes`.
    Test: two-proportion z-test (no-production vs production users of the segment); groups with fewer than
    `min_users` users are skipped. When one segment explains the overall gap (the overall and the segment's gaps are
    significant at 5 %, everyone outside the segment shows none), the overall candidate is left out and the
    segment's statement quotes the others' gap. Impact: excess drop rate x no-production users of the segment per
    week.
    """
    if is_empty(activity) or is_empty(users):
        return []
    outcomes = early_session_outcomes(activity, users, as_of, after_session, followup_days)
    if outcomes.empty:
        return []
    signups = outcomes["signup_date"]
    weeks = max(1.0, (signups.max() - signups.min()).days / 7 + 1 / 7)
    groups = [("all", "all", outcomes)]
    for segment_type in segment_types:
        if segment_type in outcomes:
            groups += [(segment_type, str(v), rows) for v, rows in outcomes.groupby(segment_type)]
    tested = {}
    for segment_type, value, rows in groups:
        cmp = _produced_vs_not(rows, min_users)
        if cmp is not None and cmp.difference > 0:
            tested[(segment_type, value)] = (cmp, len(rows))
    rest = _explaining_segment(outcomes, tested, min_users)
    if rest is not None:
        del tested[("all", "all")]  # the segment explains the overall gap: report it there, not twice
    insights = []
    for (segment_type, value), (cmp, n_segment) in tested.items():
        explains = rest[1] if rest is not None and rest[0] == (segment_type, value) else None
        insights.append(
            _early(segment_type, value, cmp, n_segment, weeks, signups, after_session, followup_days, as_of, explains)
        )
    return insights


def _produced_vs_not(rows: pd.DataFrame, min_users: int):
    without, with_ = rows[~rows["produced"]], rows[rows["produced"]]
    if len(without) < min_users or len(with_) < min_users:
        return None
    return compare_proportions(without["dropped"].sum(), len(without), with_["dropped"].sum(), len(with_))


def _explaining_segment(outcomes: pd.DataFrame, tested: dict, min_users: int, alpha: float = 0.05):
    """((segment_type, value), comparison among everyone else) when the overall gap is significant, the most
    significant segment's gap is too, and the users outside that segment show no significant gap; else None."""
    overall = tested.get(("all", "all"))
    segments = {k: v for k, v in tested.items() if k[0] != "all" and v[0].p_value < alpha}
    if overall is None or overall[0].p_value >= alpha or not segments:
        return None
    segment_type, value = min(segments, key=lambda k: segments[k][0].p_value)
    others = _produced_vs_not(outcomes[outcomes[segment_type].astype(str) != value], min_users)
    if others is None or (others.p_value < alpha and others.difference > 0):
        return None
    return (segment_type, value), others


def _early(segment_type, value, cmp, n_segment, weeks, signups, k, followup_days, as_of, others=None) -> Insight:
    who = "new users" if segment_type == "all" else f"new {value} users"  # 'new songwriter users', 'new ios users'
    first, last = signups.min().date(), signups.max().date()
    no_prod_share = cmp.n1 / n_segment
    numbers = {"rate": cmp.rate1, "rate_produced": cmp.rate2, "rel": cmp.relative, "diff": cmp.difference,
               "n": cmp.n1, "n_produced": cmp.n2, "share_without": no_prod_share, "session": k,
               "followup_days": followup_days, "p_value": cmp.p_value, "ci_low": cmp.ci_low, "ci_high": cmp.ci_high,
               "ci_level": 0.95}  # fmt: skip
    statement = (
        f"{text.pct(cmp.rate1)} of {who} without a completed production in sessions 1-{k} were not active again after "
        f"the day of session {k} ({text.count(cmp.n1)} users), vs {text.pct(cmp.rate2)} of those with one "
        f"({text.count(cmp.n2)} users): {text.signed_pct(cmp.relative)} relative, {text.pp(cmp.difference)} (95% CI "
        f"{text.pp(cmp.ci_low)} to {text.pp(cmp.ci_high)}; two-proportion z-test, {text.p_text(cmp.p_value)}). "
        f"Users whose session {k} was the last session of its day, at least {followup_days} days before {as_of}; "
        f"{text.pct(no_prod_share)} of them had no production by session {k}; signups {first}..{last}."
    )
    if others is not None:
        numbers |= {"others_rate": others.rate1, "others_rate_produced": others.rate2,
                    "others_diff": others.difference, "others_p_value": others.p_value}  # fmt: skip
        statement += (
            f" Among all other new users the gap is {text.pp(others.difference)} ({text.pct(others.rate1)} vs "
            f"{text.pct(others.rate2)}, {text.p_text(others.p_value)}): the segment explains the overall drop-off."
        )
    rec = ab_test(
        action=f"A/B test a guided quick-win production in the first session for {who}.",
        hypothesis=f"A guided first production lowers the share of {who} who do not return after session {k}.",
        metric=f"return after session {k}",
        baseline=1 - cmp.rate1,
        weekly_traffic=n_segment / weeks,
    )
    numbers |= ab_numbers(rec)
    segment = None if segment_type == "all" else (segment_type, value)
    return build_insight(
        key=f"early_dropoff:{'all' if segment is None else f'{segment_type}={value}'}",
        insight_type="risk",
        generator="early_dropoff_insights",
        as_of=as_of,
        title=f"{who.capitalize()} without a production by session {k} drop off {text.signed_pct(cmp.relative)} more",
        statement=statement,
        metric=f"dropoff_after_session_{k}",
        segment_type=segment_type if segment else None,
        segment_value=value if segment else None,
        window_start=first,
        window_end=as_of,
        baseline_start=None,
        baseline_end=None,
        sample_size=cmp.n1 + cmp.n2,
        sample_unit="users",
        test="two-proportion z-test (score), Newcombe interval",
        **cmp.evidence(),
        impact=cmp.difference * cmp.n1 / weeks,
        impact_unit="users",
        numbers=numbers,
        recommendations=(
            Recommendation(
                kind="onboarding",
                action=f"Guide {who} to complete a first production with fewer steps within {k} sessions.",
            ),
            rec,
        ),
    )
