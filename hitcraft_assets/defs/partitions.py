"""Partitions shared by the assets: calendar days, Monday-Sunday weeks and months of the reporting time zone."""

from __future__ import annotations

import dagster as dg

from hitcraft_assets import settings

_SCHEDULE = settings.schedule_settings()  # HITCRAFT_PARTITIONS_START, HITCRAFT_REPORTING_TIMEZONE (and .env)
#: First day of history (`HITCRAFT_PARTITIONS_START`); backfills can reach any day from here to yesterday.
PARTITIONS_START = _SCHEDULE.partitions_start.isoformat()

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START,
    timezone=_SCHEDULE.reporting_timezone,
    end_offset=0,  # the last partition is yesterday: only complete days are loaded
)

weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=PARTITIONS_START,
    timezone=_SCHEDULE.reporting_timezone,
    day_offset=1,  # weeks run Monday..Sunday
    end_offset=0,  # only complete weeks
)

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=PARTITIONS_START,
    timezone=_SCHEDULE.reporting_timezone,
    end_offset=0,  # only complete months
)
