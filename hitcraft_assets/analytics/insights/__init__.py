"""Insights: candidate findings from the modeled data and ML outputs, tested, corrected for multiple testing,
ranked and merged across days. `model.Insight` is the record every part shares.

Entry point: `generate_insights(InsightInputs(...), as_of, previous=yesterday's records)`. The generators are in
`generators` (one pure function each), the statistics in `stats`, the selection in `ranking`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from hitcraft_assets.analytics.insights.gen_experiments import ai_version_insights, experiment_result_insights
from hitcraft_assets.analytics.insights.generators import (
    anomaly_insights,
    channel_quality_insights,
    churn_risk_insights,
    early_dropoff_insights,
    feature_retention_insights,
    forecast_target_insights,
    funnel_insights,
    metric_movement_insights,
    persona_shift_insights,
    prompt_outlier_insights,
    retention_change_insights,
)
from hitcraft_assets.analytics.insights.model import Insight, Recommendation
from hitcraft_assets.analytics.insights.ranking import (
    RankedInsight,
    RejectedInsight,
    history_records,
    is_history_record,
    select_insights,
)

__all__ = [
    "Insight",
    "InsightInputs",
    "InsightResult",
    "RankedInsight",
    "Recommendation",
    "RejectedInsight",
    "generate_insights",
    "is_history_record",
]


@dataclass(frozen=True)
class InsightInputs:
    """The tables the generators read, as DataFrames with the columns of their dbt / ML tables. Every field is
    optional: a generator whose inputs are missing (None or empty) produces nothing. Dates may be date objects,
    datetime64 or ISO strings. Rows after `as_of` are ignored (no look-ahead), so the full tables can be passed.

    daily_metrics: marts.daily_metrics (metric_date, metric, value, numerator, denominator).
    user_daily_activity: marts.user_daily_activity (activity_date, user_key, sessions, renders_started,
        renders_completed, stems_used, lyrics_generated, feedback_submitted, ...): one row per user and active day.
    dim_users: marts.dim_users (user_key, signup_date, role, experience_level, acquisition_channel, platform,
        country, ...).
    funnel_conversions: marts.funnel_conversions (funnel_name, entry_date, breakdown, breakdown_value, step, event,
        users, previous_step_users, first_step_users, ...).
    prompt_performance: marts.prompt_performance (prompt_id, prompt_text, prompt_category, metric_date,
        window_days, renders_started, renders_completed, ...).
    retention_cohorts: marts.retention_cohorts (cohort_grain, cohort_start, period_number, cohort_users,
        retained_users, ...).
    feature_adoption: marts.feature_adoption (feature, week_start, adoption_rate, adoption_rate_wow_change, ...).
    anomaly_flags: ml.anomaly_flags (metric_date, metric, segment_type, segment_value, value, expected, severity,
        direction, is_anomaly, kind, denominator, root_cause, root_cause_segment_type, root_cause_segment_value).
    anomaly_root_causes: ml.anomaly_root_causes (metric_date, metric, segment_type, segment_value, value, expected,
        contribution_share, size, z, p_value, significant).
    metric_trends: ml.metric_trends (as_of, metric, window_days, trend, p_value, sen_slope_per_day,
        sen_slope_pct_per_week, n_days, test, ...).
    metric_period_changes: ml.metric_period_changes (as_of, metric, comparison, kind, current, previous,
        rel_change, ci_low, ci_high, p_value, test, n_current, ...).
    churn_risk_by_segment: ml.churn_risk_by_segment (score_date, segment_type, segment_value, users,
        mean_churn_probability, high_risk_users, high_risk_share).
    persona_summary: ml.persona_summary (week_start, persona, users, ...).
    persona_migration: ml.persona_migration (week_start, from_persona, to_persona, users, share_of_from).
    metric_forecasts: ml.metric_forecasts (as_of, metric, forecast_date, forecast, lower_bound, upper_bound,
        level).
    experiment_summaries / experiment_readouts: experiments.experiment_summaries / readouts (decision, SRM, the
        effect per metric and variant); experiment_hypotheses: experiments.hypotheses (recommended tests and the
        experiment that tests them); ai_rollouts: experiments.ai_rollouts (difference in differences per version
        and segment).
    """

    daily_metrics: pd.DataFrame | None = None
    user_daily_activity: pd.DataFrame | None = None
    dim_users: pd.DataFrame | None = None
    funnel_conversions: pd.DataFrame | None = None
    prompt_performance: pd.DataFrame | None = None
    retention_cohorts: pd.DataFrame | None = None
    feature_adoption: pd.DataFrame | None = None
    anomaly_flags: pd.DataFrame | None = None
    anomaly_root_causes: pd.DataFrame | None = None
    metric_trends: pd.DataFrame | None = None
    metric_period_changes: pd.DataFrame | None = None
    churn_risk_by_segment: pd.DataFrame | None = None
    persona_summary: pd.DataFrame | None = None
    persona_migration: pd.DataFrame | None = None
    metric_forecasts: pd.DataFrame | None = None
    experiment_summaries: pd.DataFrame | None = None
    experiment_readouts: pd.DataFrame | None = None
    experiment_hypotheses: pd.DataFrame | None = None
    ai_rollouts: pd.DataFrame | None = None


@dataclass(frozen=True)
class InsightResult:
    """The day's insights. selected: ranked and merged with the previous days (best first); rejected: the other
    candidates with the reason; candidates: how many the generators produced; tests: p-values in the
    Benjamini-Hochberg family; errors: generator name -> error message for generators that raised (the others still
    ran; the caller decides whether that fails the run)."""

    as_of: date
    selected: list[RankedInsight]
    rejected: list[RejectedInsight]
    candidates: int
    tests: int
    errors: dict[str, str] = field(default_factory=dict)

    def selected_frame(self) -> pd.DataFrame:
        """One row per selected insight (RankedInsight.to_record)."""
        return pd.DataFrame([r.to_record() for r in self.selected])

    def rejected_frame(self) -> pd.DataFrame:
        """One row per rejected candidate (RejectedInsight.to_record)."""
        return pd.DataFrame([r.to_record() for r in self.rejected])

    def history_records(self) -> list[dict]:
        """What the next days' ranking takes as `previous` (`ranking.history_records`)."""
        return history_records(self.selected, self.rejected)


def generate_insights(
    inputs: InsightInputs,
    as_of: date,
    previous: Iterable[Mapping] = (),
    targets: Mapping[str, tuple[float, str]] | None = None,
    alpha: float = 0.05,
    top_n: int = 10,
    max_per_generator: int | None = 3,
) -> InsightResult:
    """Run every generator on `inputs` for day `as_of`, then `ranking.select_insights` on all their candidates.

    previous: the stored records of earlier days (RankedInsight.to_record dicts; yesterday's are enough) for
    novelty and merging. targets: metric -> (value, 'above' | 'below') for forecast_target_insights (none by
    default). alpha: the false discovery rate of the Benjamini-Hochberg correction across all candidates.
    top_n / max_per_generator: size of the selection and the per-generator cap (see select_insights).
    """
    i = inputs
    activity, users = i.user_daily_activity, i.dim_users
    runs = {
        "anomaly_insights": lambda: anomaly_insights(i.anomaly_flags, i.anomaly_root_causes, as_of),
        "metric_movement_insights": lambda: metric_movement_insights(
            i.metric_trends, i.metric_period_changes, i.daily_metrics, as_of
        ),
        "funnel_insights": lambda: funnel_insights(i.funnel_conversions, as_of),
        "prompt_outlier_insights": lambda: prompt_outlier_insights(i.prompt_performance, as_of, activity),
        "feature_retention_insights": lambda: feature_retention_insights(activity, users, as_of, i.feature_adoption),
        "churn_risk_insights": lambda: churn_risk_insights(i.churn_risk_by_segment, as_of),
        "retention_change_insights": lambda: retention_change_insights(i.retention_cohorts, as_of),
        "early_dropoff_insights": lambda: early_dropoff_insights(activity, users, as_of),
        "channel_quality_insights": lambda: channel_quality_insights(activity, users, as_of, i.churn_risk_by_segment),
        "persona_shift_insights": lambda: persona_shift_insights(i.persona_summary, i.persona_migration, as_of),
        "forecast_target_insights": lambda: forecast_target_insights(
            i.metric_forecasts, i.daily_metrics, as_of, targets
        ),
        "experiment_result_insights": lambda: experiment_result_insights(
            i.experiment_summaries, i.experiment_readouts, as_of, i.experiment_hypotheses
        ),
        "ai_version_insights": lambda: ai_version_insights(i.ai_rollouts, as_of),
    }
    candidates: list[Insight] = []
    errors: dict[str, str] = {}
    for name, run in runs.items():
        try:
            candidates += run()
        except (KeyError, ValueError, TypeError) as exc:  # a malformed table: report it, keep the other generators
            errors[name] = f"{type(exc).__name__}: {exc}"
    selection = select_insights(candidates, previous, alpha=alpha, top_n=top_n, max_per_generator=max_per_generator)
    return InsightResult(
        as_of=as_of,
        selected=selection.selected,
        rejected=selection.rejected,
        candidates=len(candidates),
        tests=selection.tests,
        errors=errors,
    )
