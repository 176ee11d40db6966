"""ML domain: anomaly flags with root causes, metric trends and forecasts, churn model and scores, personas."""

import dagster as dg

from hitcraft_assets.defs.ml.anomalies import anomaly_flags
from hitcraft_assets.defs.ml.churn import churn_model, churn_model_job, churn_model_schedule, churn_scores
from hitcraft_assets.defs.ml.personas import user_segments
from hitcraft_assets.defs.ml.trends import metric_trends

defs = dg.Definitions(
    assets=[anomaly_flags, metric_trends, churn_model, churn_scores, user_segments],
    jobs=[churn_model_job],
    schedules=[churn_model_schedule],
)
