"""Generator 3: prompt performance outliers (marts.prompt_performance): a prompt whose render completion rate
differs from the rest of its category over the trailing window."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from hitcraft_assets.analytics.insights import text
from hitcraft_assets.analytics.insights.base import (
    ab_numbers,
    ab_test,
    build_insight,
    day_series,
    is_empty,
    require,
    weekly_users,
)
from hitcraft_assets.analytics.insights.model import Insight, Recommendation
from hitcraft_assets.analytics.insights.stats import binomial_dispersion, compare_proportions

PROMPT_COLUMNS = ["prompt_id", "prompt_category", "metric_date", "window_days", "renders_started",
                  "renders_completed"]  # fmt: skip


def prompt_outlier_insights(
    prompts: pd.DataFrame,
    as_of: date,
    activity: pd.DataFrame | None = None,
    window_days: int = 28,
    min_renders: int = 200,
) -> list[Insight]:
    """One candidate per prompt with renders (key 'prompt_outlier:<prompt_id>'): its completion rate
    (renders_completed / renders_started) over the `window_days` days ending `as_of` vs the pooled rate of the other
    prompts of its category.

    Input: marts.prompt_performance, one row per prompt_id x metric_date x window_days (1, 7, 28): columns
    prompt_id, prompt_text (optional), prompt_category, metric_date, window_days, renders_started,
    renders_completed. The window_days=1 rows of the trailing window are summed; they also give the day-to-day
    quasi-binomial dispersion phi of the prompt (`stats.binomial_dispersion`), by which the counts are deflated:
    renders of one user and day-level swings (an incident day hits every prompt) are not independent trials.
    Without daily rows the `window_days` row of `as_of` is used with phi = 1. Prompts with fewer than
    `min_renders` renders, or alone in their category, are skipped.
    `activity` (marts.user_daily_activity, optional) gives the weekly users starting renders, to size the A/B test.

    Reference: the other prompts of the category, leaving out outlier prompts (one at a time, most significant
    first, while p < 0.05 / prompts in the category vs the remaining pool), so one strong prompt does not make all
    the others look weak. Test: two-proportion z-test with the Newcombe interval of the difference
    (`stats.compare_proportions`).
    Type 'opportunity' when the prompt completes more often, 'risk' when less. Impact: |difference| x the prompt's
    renders per week = productions gained or lost per week.
    """
    if is_empty(prompts):
        return []
    require(prompts, PROMPT_COLUMNS, "prompt_performance")
    frame = prompts.assign(metric_date=day_series(prompts["metric_date"]))
    end = pd.Timestamp(as_of)
    start = end - pd.Timedelta(days=window_days - 1)
    daily = frame[(frame["window_days"] == 1) & frame["metric_date"].between(start, end)]
    if daily["metric_date"].nunique() >= window_days * 0.8:
        totals = daily.groupby(["prompt_id", "prompt_category"], as_index=False)[
            ["renders_started", "renders_completed"]
        ].sum()
        dispersion = {
            pid: binomial_dispersion(rows["renders_completed"], rows["renders_started"])
            for pid, rows in daily.groupby("prompt_id")
        }
    else:
        totals = frame[(frame["window_days"] == window_days) & (frame["metric_date"] == end)]
        dispersion = {}
    texts = frame.drop_duplicates("prompt_id").set_index("prompt_id").get("prompt_text", pd.Series(dtype=str))
    totals = totals[totals["renders_started"] > 0]
    dispersion = {pid: max(phi, 1.0) for pid, phi in dispersion.items()}
    traffic = weekly_users(activity, as_of, "renders_started") if activity is not None else 0
    insights = []
    for category, rows in totals.groupby("prompt_category"):
        rows = rows[rows["renders_started"] >= min_renders].set_index("prompt_id")
        if len(rows) < 2:
            continue
        outliers = _outliers(rows, dispersion, screen_alpha=0.05 / len(rows))
        typical = rows.drop(index=outliers)
        for prompt_id, row in rows.iterrows():
            reference = typical.drop(index=prompt_id, errors="ignore")
            if reference.empty:
                continue
            phi = dispersion.get(prompt_id, 1.0)
            cmp = compare_proportions(row["renders_completed"], row["renders_started"],
                                      reference["renders_completed"].sum(), reference["renders_started"].sum(),
                                      dispersion=phi)  # fmt: skip
            label = texts.get(prompt_id) if isinstance(texts.get(prompt_id), str) else prompt_id
            insights.append(_insight(prompt_id, label, category, cmp, len(reference), window_days, traffic, as_of))
    return insights


def _outliers(rows: pd.DataFrame, dispersion: dict, screen_alpha: float) -> list[str]:
    """Prompts that differ from the rest so clearly (p < screen_alpha, vs the pool without the outliers found so
    far) that they would distort the reference of the others; found one at a time, most significant first."""
    outliers: list[str] = []
    while len(rows) - len(outliers) > 2:
        pool = rows.drop(index=outliers)
        best_id, best_p = None, 1.0
        for prompt_id, row in pool.iterrows():
            rest = pool.drop(index=prompt_id)
            cmp = compare_proportions(row["renders_completed"], row["renders_started"],
                                      rest["renders_completed"].sum(), rest["renders_started"].sum(),
                                      dispersion=dispersion.get(prompt_id, 1.0))  # fmt: skip
            if cmp.p_value < best_p:
                best_id, best_p = prompt_id, cmp.p_value
        if best_id is None or best_p >= screen_alpha:
            break
        outliers.append(best_id)
    return outliers


def _insight(prompt_id, prompt_text, category, cmp, n_reference: int, window_days: int, traffic: int, as_of: date):
    better = cmp.difference > 0
    weekly_renders = cmp.n1 * 7 / window_days
    start = as_of - timedelta(days=window_days - 1)
    numbers = {
        "rate": cmp.rate1, "rest_rate": cmp.rate2, "rel": cmp.relative, "diff": cmp.difference,
        "ci_low": cmp.ci_low, "ci_high": cmp.ci_high, "ci_level": 0.95, "renders": cmp.n1, "rest_renders": cmp.n2,
        "p_value": cmp.p_value, "dispersion": cmp.dispersion, "window_days": window_days,
        "weekly_impact": abs(cmp.difference) * weekly_renders, "reference_prompts": n_reference,
    }  # fmt: skip
    phi = f", counts deflated by the day-to-day dispersion {text.num(cmp.dispersion, 2)}" if cmp.dispersion > 1 else ""
    statement = (
        f'The "{prompt_text}" prompt ({prompt_id}) completed {text.pct(cmp.rate1)} of its {text.count(cmp.n1)} '
        f"renders in the last {window_days} days ({start}..{as_of}), vs {text.pct(cmp.rate2)} for {n_reference} other "
        f"{category} prompts ({text.count(cmp.n2)} renders; outlier prompts left out of the reference): "
        f"{text.signed_pct(cmp.relative)} relative, "
        f"{text.pp(cmp.difference)} (95% CI {text.pp(cmp.ci_low)} to {text.pp(cmp.ci_high)}; two-proportion z-test"
        f"{phi}, {text.p_text(cmp.p_value)}). At its current volume that is {text.count(numbers['weekly_impact'])} "
        f"productions {'gained' if better else 'lost'} per week."
    )
    if better:
        rec_ab = ab_test(
            action=f'A/B test featuring "{prompt_text}" first in the {category} prompt picker.',
            hypothesis=f"Users who are shown {prompt_id} first complete more productions.",
            metric="production completion rate per user",
            baseline=cmp.rate2,
            weekly_traffic=traffic,
        )
        recs = (
            Recommendation(
                kind="campaign",
                action=f'Feature the "{prompt_text}" workflow in the interface and in e-mails to users who have '
                "not tried it.",
            ),
            rec_ab,
        )
    else:
        rec_ab = ab_test(
            action=f"A/B test a revised version of {prompt_id} against the current one.",
            hypothesis=f"A revised {prompt_id} completes as often as the other {category} prompts.",
            metric=f"{prompt_id} render completion rate",
            baseline=cmp.rate1,
            weekly_traffic=traffic,
        )
        recs = (
            Recommendation(kind="product_change", action=f"Review why {prompt_id} renders fail or are abandoned."),
            rec_ab,
        )
    numbers |= ab_numbers(rec_ab)
    return build_insight(
        key=f"prompt_outlier:{prompt_id}",
        insight_type="opportunity" if better else "risk",
        generator="prompt_outlier_insights",
        as_of=as_of,
        title=f'"{prompt_text}" completes {text.signed_pct(cmp.relative)} vs other {category} prompts',
        statement=statement,
        metric="render_completion_rate",
        segment_type="prompt",
        segment_value=prompt_id,
        window_start=start,
        window_end=as_of,
        baseline_start=start,
        baseline_end=as_of,
        sample_size=cmp.n1,
        sample_unit="renders",
        test="two-proportion z-test (score), Newcombe interval, quasi-binomial over days",
        **cmp.evidence(),
        impact=numbers["weekly_impact"],
        impact_unit="productions",
        numbers=numbers,
        recommendations=recs,
    )
