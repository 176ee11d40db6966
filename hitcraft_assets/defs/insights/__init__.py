"""Insights domain: the day's ranked insights (insight library), the daily, weekly and monthly reports, and the
sensor that carries new data through every automated asset."""

import dagster as dg

from hitcraft_assets.defs.insights.insights import insights
from hitcraft_assets.defs.insights.reports import daily_report, monthly_review, weekly_digest

#: Evaluates every asset's automation condition (eager: a new raw partition flows through dbt, ML, insights
#: and the reports). Dagster's implicit default sensor starts stopped; this one runs from the start.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "hitcraft_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)

defs = dg.Definitions(assets=[insights, daily_report, weekly_digest, monthly_review], sensors=[automation_sensor])
