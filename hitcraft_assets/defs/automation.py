"""The automation sensor: evaluates every asset's automation condition, so a new raw partition flows through dbt,
ML, insights and the reports without a person (eager, and `insights/insights` once a day when every input is
updated). Dagster's implicit default sensor starts stopped; this one runs from the start."""

import dagster as dg

automation_sensor = dg.AutomationConditionSensorDefinition(
    "hitcraft_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)
