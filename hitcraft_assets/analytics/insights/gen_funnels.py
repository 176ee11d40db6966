"""Generator 2: funnel drop-off points and their changes (marts.funnel_conversions): the step that loses the most
users, week-over-week changes of each step, and breakdown segments converting significantly worse (or better)
than the rest of their breakdown."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from hitcraft_assets.analytics.insights import text
from hitcraft_assets.analytics.insights.base import ab_numbers, ab_test, build_insight, day_series, is_empty, require
from hitcraft_assets.analytics.insights.model import Insight, Recommendation
from hitcraft_assets.analytics.insights.stats import binomial_dispersion, compare_proportions

FUNNEL_COLUMNS = ["funnel_name", "entry_date", "breakdown", "breakdown_value", "step", "event", "users",
                  "previous_step_users", "first_step_users"]  # fmt: skip


def funnel_insights(
    funnels: pd.DataFrame,
    as_of: date,
    conversion_window_days: int = 7,
    segment_window_days: int = 28,
    min_segment_users: int = 30,
) -> list[Insight]:
    """Funnel candidates as of `as_of`.

    Input: marts.funnel_conversions, one row per funnel_name x entry_date x breakdown x breakdown_value x step:
    columns funnel_name, entry_date, breakdown ('all' for the total, else a user property), breakdown_value, step
    (1..k), event, users (reached this step within the conversion window), previous_step_users, first_step_users.
    Only entry dates whose conversion window has closed by `as_of` are used (entry_date <= as_of -
    conversion_window_days), so a past as_of never sees later conversions. "This week" is the 7 latest such entry
    dates, "last week" the 7 before.

    Candidates:
    - 'funnel_bottleneck:<funnel>' (type 'opportunity'): the step losing the most users this week; evidence is the
      Wilson 95 % interval of its drop-off rate (interval only, no p-value); impact = users lost at it per week.
    - 'funnel_change:<funnel>:<step>' (type 'risk' when step conversion fell, 'success' when it rose): this week's
      step conversion (users / previous_step_users) vs last week's, two-proportion z-test.
    - 'funnel_segment:<funnel>:<breakdown>=<value>' (type 'risk' below, 'opportunity' above): overall conversion
      (last step / first step) of the segment vs the rest of its breakdown over the last `segment_window_days`
      entry dates, two-proportion z-test; segments with fewer than `min_segment_users` entrants are skipped.
    """
    if is_empty(funnels):
        return []
    require(funnels, FUNNEL_COLUMNS, "funnel_conversions")
    last_entry = pd.Timestamp(as_of) - pd.Timedelta(days=conversion_window_days)
    frame = funnels.assign(entry_date=day_series(funnels["entry_date"]))
    frame = frame[frame["entry_date"] <= last_entry]
    insights: list[Insight] = []
    for funnel, rows in frame.groupby("funnel_name", sort=True):
        total = rows[rows["breakdown"] == "all"]
        this_week = _steps(total, last_entry, 7)
        last_week = _steps(total, last_entry - pd.Timedelta(days=7), 7)
        if this_week.empty:
            continue
        insights.append(_bottleneck(funnel, this_week, last_entry.date(), as_of))
        if not last_week.empty:
            insights += _step_changes(funnel, this_week, last_week, last_entry.date(), as_of)
        segments = rows[rows["breakdown"] != "all"]
        insights += _segments(funnel, segments, last_entry, segment_window_days, min_segment_users, as_of)
    return insights


def _steps(rows: pd.DataFrame, last_entry: pd.Timestamp, days: int) -> pd.DataFrame:
    window = rows[(rows["entry_date"] <= last_entry) & (rows["entry_date"] > last_entry - pd.Timedelta(days=days))]
    if window.empty:
        return window
    steps = window.groupby(["step", "event"], as_index=False)[["users", "previous_step_users"]].sum()
    return steps.sort_values("step").reset_index(drop=True)


def _step_name(steps: pd.DataFrame, step: int) -> str:
    previous = steps.loc[steps["step"] == step - 1, "event"]
    current = steps.loc[steps["step"] == step, "event"]
    return f"{previous.iloc[0] if len(previous) else 'start'} -> {current.iloc[0]}"


def _bottleneck(funnel: str, steps: pd.DataFrame, last_entry: date, as_of: date) -> Insight:
    later = steps[steps["step"] > 1].assign(lost=lambda f: f["previous_step_users"] - f["users"])
    worst = later.sort_values(["lost", "step"], ascending=[False, True]).iloc[0]
    lost, entered = float(worst["lost"]), float(worst["previous_step_users"])
    rate = lost / entered if entered else 0.0
    low, high = proportion_confint(lost, entered, alpha=0.05, method="wilson") if entered else (0.0, 0.0)
    start = last_entry - timedelta(days=6)
    step_name = _step_name(steps, int(worst["step"]))
    rec = ab_test(
        action=f"Test a simplified {worst['event']} step in the {funnel} funnel.",
        hypothesis=f"Removing friction at {step_name} raises the share of users who get past it.",
        metric=f"{funnel} funnel conversion at step {int(worst['step'])}",
        baseline=1 - rate,
        weekly_traffic=entered,
    )
    numbers = {"lost": lost, "entered": entered, "drop_rate": rate, "ci_low": low, "ci_high": high,
               "ci_level": 0.95, "step": float(worst["step"])} | ab_numbers(rec)  # fmt: skip
    statement = (
        f"In the {funnel} funnel the largest drop-off is at step {int(worst['step'])} ({step_name}): "
        f"{text.count(lost)} of {text.count(entered)} users who reached the previous step did not continue "
        f"({text.pct(rate)}, Wilson 95% CI {text.pct(low)} to {text.pct(high)}), users entering {start}..{last_entry} "
        "with their conversion window closed."
    )
    return build_insight(
        key=f"funnel_bottleneck:{funnel}",
        insight_type="opportunity",
        generator="funnel_insights",
        as_of=as_of,
        title=f"{funnel} funnel: biggest drop-off at {step_name} ({text.pct(rate)})",
        statement=statement,
        metric=f"{funnel}_funnel_step_{int(worst['step'])}",
        segment_type=None,
        segment_value=None,
        window_start=start,
        window_end=last_entry,
        baseline_start=None,
        baseline_end=None,
        sample_size=entered,
        sample_unit="users",
        test="Wilson interval of the drop-off rate",
        p_value=None,
        effect=rate,
        effect_relative=None,
        ci_low=float(low),
        ci_high=float(high),
        impact=lost,
        impact_unit="users",
        numbers=numbers,
        recommendations=(
            Recommendation(kind="product_change", action=f"Reduce friction at {step_name} in the {funnel} flow."),
            rec,
        ),
    )


def _step_changes(funnel: str, now: pd.DataFrame, before: pd.DataFrame, last_entry: date, as_of: date) -> list:
    merged = now.merge(before, on=["step", "event"], suffixes=("", "_prev"))
    insights = []
    for _, row in merged[merged["step"] > 1].iterrows():
        if row["previous_step_users"] <= 0 or row["previous_step_users_prev"] <= 0:
            continue
        cmp = compare_proportions(row["users"], row["previous_step_users"], row["users_prev"],
                                  row["previous_step_users_prev"])  # fmt: skip
        step, name = int(row["step"]), _step_name(now, int(row["step"]))
        fell = cmp.difference < 0
        numbers = {"rate_now": cmp.rate1, "rate_before": cmp.rate2, "diff": cmp.difference, "ci_low": cmp.ci_low,
                   "ci_high": cmp.ci_high, "ci_level": 0.95, "n_now": cmp.n1, "n_before": cmp.n2,
                   "p_value": cmp.p_value, "step": step}  # fmt: skip
        statement = (
            f"{funnel} funnel step {step} ({name}) converted {text.pct(cmp.rate1)} of {text.count(cmp.n1)} users "
            f"entering {last_entry - timedelta(days=6)}..{last_entry}, vs {text.pct(cmp.rate2)} of "
            f"{text.count(cmp.n2)} the week before ({text.pp(cmp.difference)}, 95% CI {text.pp(cmp.ci_low)} to "
            f"{text.pp(cmp.ci_high)}; two-proportion z-test, {text.p_text(cmp.p_value)})."
        )
        action = (
            f"Check what changed at {name} in the {funnel} flow this week (release, content, errors)."
            if fell
            else f"Find what lifted {name} in the {funnel} flow this week and keep it."
        )
        insights.append(
            build_insight(
                key=f"funnel_change:{funnel}:{step}",
                insight_type="risk" if fell else "success",
                generator="funnel_insights",
                as_of=as_of,
                title=f"{funnel} funnel step {step} {text.pp(cmp.difference)} week over week",
                statement=statement,
                metric=f"{funnel}_funnel_step_{step}",
                segment_type=None,
                segment_value=None,
                window_start=last_entry - timedelta(days=6),
                window_end=last_entry,
                baseline_start=last_entry - timedelta(days=13),
                baseline_end=last_entry - timedelta(days=7),
                sample_size=cmp.n1 + cmp.n2,
                sample_unit="users",
                test="two-proportion z-test (score), Newcombe interval",
                **cmp.evidence(),
                impact=abs(cmp.difference) * cmp.n1,
                impact_unit="users",
                numbers=numbers,
                recommendations=(Recommendation(kind="investigate", action=action),),
            )
        )
    return insights


def _segments(funnel, segments, last_entry, window_days, min_users, as_of) -> list[Insight]:
    window = segments[segments["entry_date"] > last_entry - pd.Timedelta(days=window_days)]
    if window.empty:
        return []
    sums = window.groupby(["breakdown", "breakdown_value", "step", "event"], as_index=False)[
        ["users", "previous_step_users"]
    ].sum()
    last_step = int(sums["step"].max())
    daily = window[window["step"].isin([1, last_step])].pivot_table(
        index=["breakdown", "breakdown_value", "entry_date"], columns="step", values="users", aggfunc="sum"
    )
    insights = []
    for breakdown, rows in sums.groupby("breakdown"):
        first = rows[rows["step"] == 1].set_index("breakdown_value")["users"]
        final = rows[rows["step"] == last_step].set_index("breakdown_value")["users"].reindex(first.index).fillna(0)
        for value in first.index:
            rest_n, rest_k = first.drop(value).sum(), final.drop(value).sum()
            if first[value] < min_users or rest_n <= 0:
                continue
            days = daily.loc[(breakdown, value)].fillna(0)
            phi = binomial_dispersion(days[last_step], days[1])
            cmp = compare_proportions(final[value], first[value], rest_k, rest_n, dispersion=phi)
            mine = rows[rows["breakdown_value"] == value]
            insights.append(_segment(funnel, breakdown, value, cmp, mine, rows, last_entry.date(), window_days, as_of))
    return insights


def _widest_step(mine: pd.DataFrame, rows: pd.DataFrame, value, below: bool) -> tuple[int, float, float]:
    others = rows[rows["breakdown_value"] != value].groupby("step")[["users", "previous_step_users"]].sum()
    own = mine.set_index("step")[["users", "previous_step_users"]]
    rate_own = (own["users"] / own["previous_step_users"]).drop(1, errors="ignore")
    rate_rest = (others["users"] / others["previous_step_users"]).reindex(rate_own.index)
    gap = (rate_own - rate_rest).dropna()
    gap = gap[gap < 0] if below else gap[gap > 0]
    step = int(gap.idxmin() if below else gap.idxmax()) if not gap.empty else 1
    return step, float(rate_own.get(step, float("nan"))), float(rate_rest.get(step, float("nan")))


def _segment(funnel, breakdown, value, cmp, mine, rows, last_entry: date, window_days: int, as_of: date) -> Insight:
    below = cmp.difference < 0
    step, own_rate, rest_rate = _widest_step(mine, rows, value, below)
    start = last_entry - timedelta(days=window_days - 1)
    weekly_entrants = cmp.n1 * 7 / window_days
    numbers = {"rate": cmp.rate1, "rest_rate": cmp.rate2, "diff": cmp.difference, "rel": cmp.relative,
               "ci_low": cmp.ci_low, "ci_high": cmp.ci_high, "ci_level": 0.95, "n": cmp.n1, "rest_n": cmp.n2,
               "p_value": cmp.p_value, "window_days": window_days}  # fmt: skip
    statement = (
        f"Users with {breakdown} = {value} converted through the whole {funnel} funnel at {text.pct(cmp.rate1)} "
        f"({text.count(cmp.n1)} entrants, {start}..{last_entry}) vs {text.pct(cmp.rate2)} for the other "
        f"{breakdown} values ({text.count(cmp.n2)} entrants): {text.pp(cmp.difference)} "
        f"({text.signed_pct(cmp.relative)}), 95% CI {text.pp(cmp.ci_low)} to {text.pp(cmp.ci_high)}; "
        f"two-proportion z-test{_phi_text(cmp.dispersion)}, {text.p_text(cmp.p_value)}."
    )
    numbers["dispersion"] = cmp.dispersion
    if step > 1 and own_rate == own_rate:
        name = _step_name(mine.sort_values("step"), step)
        numbers |= {"step": step, "step_rate": own_rate, "step_rest_rate": rest_rate}
        statement += f" The widest gap is at step {step} ({name}): {text.pct(own_rate)} vs {text.pct(rest_rate)}."
    subject = f"{breakdown} = {value}"
    if below:
        rec = ab_test(
            action=f"A/B test a guided first run of the {funnel} flow for {subject} users.",
            hypothesis=f"Guidance at the weak step raises the {funnel} conversion of {subject} users.",
            metric=f"{funnel} funnel conversion",
            baseline=cmp.rate1,
            weekly_traffic=weekly_entrants,
        )
        recs = (Recommendation(kind="onboarding", action=f"Add a guided path through the {funnel} flow for "
                                                         f"{subject} users."), rec)  # fmt: skip
        numbers |= ab_numbers(rec)
    else:
        recs = (Recommendation(kind="campaign", action=f"Aim acquisition and campaigns at {subject} users, who "
                                                       f"complete the {funnel} flow more often."),)  # fmt: skip
    return build_insight(
        key=f"funnel_segment:{funnel}:{breakdown}={value}",
        insight_type="risk" if below else "opportunity",
        generator="funnel_insights",
        as_of=as_of,
        title=f"{value} users convert {text.signed_pct(cmp.relative)} in the {funnel} funnel vs other {breakdown}s",
        statement=statement,
        metric=f"{funnel}_funnel_conversion",
        segment_type=breakdown,
        segment_value=str(value),
        window_start=start,
        window_end=last_entry,
        baseline_start=start,
        baseline_end=last_entry,
        sample_size=cmp.n1,
        sample_unit="users",
        test="two-proportion z-test (score), Newcombe interval, quasi-binomial over entry days",
        **cmp.evidence(),
        impact=abs(cmp.difference) * weekly_entrants,
        impact_unit="users",
        numbers=numbers,
        recommendations=recs,
    )


def _phi_text(phi: float) -> str:
    return "" if phi <= 1 else f" with counts deflated by the day-to-day dispersion {text.num(phi, 2)}"
