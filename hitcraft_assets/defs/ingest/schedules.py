"""The daily ingest job: yesterday plus a lookback window for late-arriving events, at 04:00 (HITCRAFT_INGEST_CRON)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from hitcraft_assets import settings
from hitcraft_assets.defs.ingest.assets import RAW_EVENTS, RAW_PROFILES
from hitcraft_assets.defs.partitions import daily_partitions

daily_ingest_job = dg.define_asset_job(
    "daily_ingest",
    selection=dg.AssetSelection.assets(RAW_EVENTS),  # with its asset checks
    partitions_def=daily_partitions,
    description="Load reporting days from the Mixpanel export into raw.events and check them.",
)

profiles_job = dg.define_asset_job("refresh_profiles", selection=dg.AssetSelection.assets(RAW_PROFILES))


def daily_range(scheduled_day, lookback: int) -> tuple[str, str]:
    """Partition range for a run on `scheduled_day`: yesterday and the `lookback` days before it."""
    yesterday = scheduled_day - timedelta(days=1)
    first = max(yesterday - timedelta(days=lookback), daily_partitions.start.date())
    return first.isoformat(), yesterday.isoformat()


@dg.schedule(
    job=daily_ingest_job,
    cron_schedule=settings.ingest_cron(),
    execution_timezone=settings.reporting_timezone(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="HITCRAFT_INGEST_CRON (default 04:00) in the reporting time zone: load yesterday and re-load the "
    "lookback window (HITCRAFT_LOOKBACK_DAYS, default 5) in one run.",
)
def daily_ingest_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    tz = ZoneInfo(settings.reporting_timezone())
    first, last = daily_range(context.scheduled_execution_time.astimezone(tz).date(), settings.lookback_days())
    return dg.RunRequest(
        run_key=f"daily-{last}",
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
    )


profiles_schedule = dg.ScheduleDefinition(
    job=profiles_job,
    cron_schedule="30 3 * * *",
    execution_timezone=settings.reporting_timezone(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="03:30: refresh user profiles from the Engage API before the daily event load.",
)
