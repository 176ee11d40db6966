"""Alerts domain: anomaly alerts and run-failure notices (sensors only; the `warehouse` resource comes from ingest)."""

import dagster as dg

from hitcraft_assets.defs.alerts.sensors import anomaly_alert_sensor, run_failure_notice_sensor

defs = dg.Definitions(sensors=[anomaly_alert_sensor, run_failure_notice_sensor])
