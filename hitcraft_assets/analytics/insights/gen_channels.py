"""Generator 6: acquisition channel quality. Channels whose new users retain worse (or better) than the other
channels' new users (marts.user_daily_activity + marts.dim_users), with the channel's churn scores
(ml.churn_risk_by_segment) beside it."""

from __future__ import annotations

from datetime import date

import pandas as pd

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
from hitcraft_assets.analytics.insights.stats import compare_proportions


def channel_quality_insights(
    activity: pd.DataFrame,
    users: pd.DataFrame,
    as_of: date,
    churn_by_segment: pd.DataFrame | None = None,
    retention_days: tuple[int, int] = (28, 34),
    cohort_days: int = 90,
    channel_column: str = "acquisition_channel",
    min_users: int = 50,
) -> list[Insight]:
    """One candidate per acquisition channel (key 'channel_quality:<channel>'; type 'risk' when its new users
    retain worse than the other channels' new users, 'opportunity' when better).

    Inputs: marts.user_daily_activity (activity_date, user_key, sessions); marts.dim_users (user_key, signup_date,
    `channel_column`); ml.churn_risk_by_segment (score_date, segment_type, segment_value, users,
    mean_churn_probability, high_risk_share), optional: the channel's scores on `as_of` are quoted beside the
    retention (segment_type 'acquisition_channel').
    Cohort: users who signed up within `cohort_days` before as_of, on or after the first activity day, and early
    enough that day retention_days[1] after signup is <= as_of. Retained: any activity on days
    retention_days[0]..retention_days[1] after signup. Test: two-proportion z-test, channel vs all other channels.
    Channels with fewer than `min_users` cohort users are skipped. Impact: |difference| x the channel's signups per
    week = users retained (or lost) per week compared with the other channels.
    """
    if is_empty(activity) or is_empty(users) or channel_column not in users:
        return []
    frame = prepare_activity(activity, as_of)
    lo, hi = retention_days
    cohort = new_user_cohort(users, frame, as_of, followup_days=hi + 1, max_age_days=cohort_days)
    if cohort.empty:
        return []
    days = frame.merge(cohort[["user_key", "signup_date"]], on="user_key")
    offset = (days["activity_date"] - days["signup_date"]).dt.days
    retained = days.loc[(offset >= lo) & (offset <= hi), "user_key"].unique()
    cohort = cohort.assign(retained=cohort["user_key"].isin(retained), channel=cohort[channel_column].fillna("unknown"))
    weeks = max(1.0, (cohort["signup_date"].max() - cohort["signup_date"].min()).days / 7 + 1 / 7)
    scores = _scores(churn_by_segment, as_of)
    counts = cohort.groupby("channel")["retained"].agg(["sum", "size"])
    insights = []
    for channel, row in counts.iterrows():
        rest = counts.drop(index=channel).sum()
        if row["size"] < min_users or rest["size"] <= 0:
            continue
        cmp = compare_proportions(row["sum"], row["size"], rest["sum"], rest["size"])
        first, last = cohort["signup_date"].min().date(), cohort["signup_date"].max().date()
        insights.append(_insight(str(channel), cmp, scores, weeks, (lo, hi), first, last, as_of))
    return insights


def _scores(churn_by_segment: pd.DataFrame | None, as_of: date) -> pd.DataFrame:
    if is_empty(churn_by_segment):
        return pd.DataFrame()
    frame = churn_by_segment[churn_by_segment["segment_type"] == "acquisition_channel"]
    frame = frame[day_series(frame["score_date"]) == pd.Timestamp(as_of)]
    return frame.set_index(frame["segment_value"].astype(str))


def _insight(channel: str, cmp, scores: pd.DataFrame, weeks: float, days, first: date, last: date, as_of: date):
    worse = cmp.difference < 0
    lo, hi = days
    weekly_signups = cmp.n1 / weeks
    numbers = {"rate": cmp.rate1, "rest_rate": cmp.rate2, "diff": cmp.difference, "rel": cmp.relative,
               "n": cmp.n1, "rest_n": cmp.n2, "p_value": cmp.p_value, "ci_low": cmp.ci_low, "ci_high": cmp.ci_high,
               "ci_level": 0.95, "day_from": lo, "day_to": hi, "weekly_signups": weekly_signups}  # fmt: skip
    statement = (
        f"New users acquired via {channel} were active on days {lo}-{hi} after signup {text.pct(cmp.rate1)} of the "
        f"time ({text.count(cmp.n1)} users who signed up {first}..{last}) vs {text.pct(cmp.rate2)} for the other "
        f"channels ({text.count(cmp.n2)} users): {text.signed_pct(cmp.relative)} relative, {text.pp(cmp.difference)}"
        f" (95% CI {text.pp(cmp.ci_low)} to {text.pp(cmp.ci_high)}; two-proportion z-test, {text.p_text(cmp.p_value)})."
    )
    if channel in scores.index and not scores.empty:
        own = scores.loc[channel]
        others = scores.drop(index=channel)
        if others["users"].sum() > 0:
            other_mean = float((others["mean_churn_probability"] * others["users"]).sum() / others["users"].sum())
            numbers |= {"churn_mean": own["mean_churn_probability"], "churn_mean_rest": other_mean,
                        "churn_users": own["users"]}  # fmt: skip
            agrees = (own["mean_churn_probability"] > other_mean) == worse
            verdict = "agrees" if agrees else "does not agree"
            own_mean, rest_mean = text.pct(own["mean_churn_probability"]), text.pct(other_mean)
            statement += (
                f" The churn model {verdict}: mean churn probability {own_mean} for its "
                f"{text.count(own['users'])} scored users vs {rest_mean} for the other channels on {as_of}."
            )
    if worse:
        rec = ab_test(
            action=f"A/B test a tailored first-week onboarding for users arriving from {channel}.",
            hypothesis=f"{channel} users who get a tailored first week are active more often on days {lo}-{hi}.",
            metric=f"day {lo}-{hi} retention of {channel} signups",
            baseline=cmp.rate1,
            weekly_traffic=weekly_signups,
        )
        numbers |= ab_numbers(rec)
        recs = (
            Recommendation(
                kind="campaign",
                action=f"Review spend on {channel} against its retention, and move budget to channels that retain.",
            ),
            rec,
        )
    else:
        recs = (
            Recommendation(kind="campaign", action=f"Increase acquisition spend on {channel}, whose users retain."),
        )
    return build_insight(
        key=f"channel_quality:{channel}",
        insight_type="risk" if worse else "opportunity",
        generator="channel_quality_insights",
        as_of=as_of,
        title=f"{channel} users retain {text.signed_pct(cmp.relative)} vs other channels (days {lo}-{hi})",
        statement=statement,
        metric=f"day_{lo}_{hi}_retention",
        segment_type="acquisition_channel",
        segment_value=channel,
        window_start=first,
        window_end=last,
        baseline_start=first,
        baseline_end=last,
        sample_size=cmp.n1,
        sample_unit="users",
        test="two-proportion z-test (score), Newcombe interval",
        **cmp.evidence(),
        impact=abs(cmp.difference) * weekly_signups,
        impact_unit="users",
        numbers=numbers,
        recommendations=recs,
    )
