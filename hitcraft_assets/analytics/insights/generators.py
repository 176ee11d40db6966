"""The insight generators, one pure function each: DataFrames + `as_of` in, candidate `Insight`s (with p-values or
intervals) out. They live in the gen_* modules (one per area); this module lists them.

| # | generator | module | inputs (source tables) |
| --- | --- | --- | --- |
| 1 | metric_movement_insights, anomaly_insights | gen_metrics | ml.metric_trends, ml.metric_period_changes, marts.daily_metrics; ml.anomaly_flags, ml.anomaly_root_causes |
| 2 | funnel_insights | gen_funnels | marts.funnel_conversions |
| 3 | prompt_outlier_insights | gen_prompts | marts.prompt_performance (+ user_daily_activity for test sizing) |
| 4 | feature_retention_insights | gen_features | marts.user_daily_activity, marts.dim_users, marts.feature_adoption |
| 5 | churn_risk_insights, retention_change_insights, early_dropoff_insights | gen_segments | ml.churn_risk_by_segment; marts.retention_cohorts; marts.user_daily_activity + dim_users |
| 6 | channel_quality_insights | gen_channels | marts.user_daily_activity, marts.dim_users, ml.churn_risk_by_segment |
| 7 | persona_shift_insights | gen_personas | ml.persona_summary, ml.persona_migration |
| 8 | forecast_target_insights | gen_personas | ml.metric_forecasts, marts.daily_metrics, targets |
"""  # noqa: E501

from hitcraft_assets.analytics.insights.gen_channels import channel_quality_insights
from hitcraft_assets.analytics.insights.gen_features import DEFAULT_FEATURES, feature_retention_insights
from hitcraft_assets.analytics.insights.gen_funnels import funnel_insights
from hitcraft_assets.analytics.insights.gen_metrics import anomaly_insights, metric_movement_insights
from hitcraft_assets.analytics.insights.gen_personas import forecast_target_insights, persona_shift_insights
from hitcraft_assets.analytics.insights.gen_prompts import prompt_outlier_insights
from hitcraft_assets.analytics.insights.gen_segments import (
    churn_risk_insights,
    early_dropoff_insights,
    early_session_outcomes,
    retention_change_insights,
)

__all__ = [
    "DEFAULT_FEATURES",
    "anomaly_insights",
    "channel_quality_insights",
    "churn_risk_insights",
    "early_dropoff_insights",
    "early_session_outcomes",
    "feature_retention_insights",
    "forecast_target_insights",
    "funnel_insights",
    "metric_movement_insights",
    "persona_shift_insights",
    "prompt_outlier_insights",
    "retention_change_insights",
]
