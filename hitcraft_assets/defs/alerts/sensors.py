"""Sensors that notify people: an anomaly alert when ml/anomaly_flags is materialized, and the operator's notice of a
failed run. Both run by default and launch no runs; settings are read from the environment at every tick."""

import dagster as dg

from hitcraft_assets.defs.resources import WarehouseResource

ANOMALY_FLAGS = dg.AssetKey(["ml", "anomaly_flags"])


class AlertDeliveryError(RuntimeError):
    """Some alerts could not be delivered; raised so that the tick fails and the next one retries them."""


@dg.asset_sensor(
    asset_key=ANOMALY_FLAGS,
    name="anomaly_alert_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="E-mails (and posts to HITCRAFT_ALERT_WEBHOOK_URL) each new anomaly flag above "
    "HITCRAFT_ALERT_MIN_SEVERITY once; flags older than HITCRAFT_ALERT_MAX_AGE_DAYS are recorded, not sent.",
)
def anomaly_alert_sensor(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry, warehouse: WarehouseResource
):
    # The materialization is only the trigger: the pending flags are read from the warehouse, so the latest of
    # several materializations (a backfill writes one per day) covers them all.
    from hitcraft_assets.reports import alerts  # at tick time: e-mail pulls in the report renderers

    settings = alerts.alert_settings_from_env()
    run = alerts.send_pending_alerts(settings, warehouse.url())
    summary = run.summary()
    context.log.info(f"after the materialization of {_event_partition(asset_event)}: {summary}")
    if run.retry:
        # A failed tick keeps the cursor, so the next tick runs this again and retries only what is still pending.
        raise AlertDeliveryError(summary)
    return dg.SkipReason(summary)


@dg.run_failure_sensor(
    name="run_failure_notice_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="E-mails HITCRAFT_OPERATOR_RECIPIENTS (and posts to the alert webhook) when a run fails.",
)
def run_failure_notice_sensor(context: dg.RunFailureSensorContext):
    from hitcraft_assets.reports import alerts

    settings = alerts.alert_settings_from_env()
    run = context.dagster_run
    step_errors = [(event.step_key, _root_error(event)) for event in context.get_step_failure_events()]
    message = alerts.run_failure_message(
        run.job_name,
        run.run_id,
        context.failure_event.message,
        step_errors,
        settings,
        partition=_partition(run.tags),
    )
    delivery = alerts.notify(message, settings.operator_recipients, settings)
    if not delivery.ok:
        # The error shows on the sensor's tick; the message itself is kept in the outbox when e-mail failed.
        raise AlertDeliveryError(f"failure notice for run {run.run_id}: {delivery.errors}")
    context.log.info(f"failure notice for run {run.run_id} sent via {', '.join(delivery.delivered)}")


def _partition(tags) -> str | None:
    """The run's partition, or its range for a single-run backfill."""
    if tags.get("dagster/partition"):
        return tags["dagster/partition"]
    first, last = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return f"{first}..{last}" if first and last else None


def _event_partition(event: dg.EventLogEntry) -> str:
    partition = event.dagster_event.partition if event.dagster_event else None
    return f"ml/anomaly_flags {partition}" if partition else "ml/anomaly_flags"


def _root_error(event: dg.DagsterEvent) -> str:
    """The user code's error behind a step failure (Dagster wraps it in DagsterExecutionStepExecutionError)."""
    error = getattr(event.event_specific_data, "error", None)
    if error is None:
        return event.message or ""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()
