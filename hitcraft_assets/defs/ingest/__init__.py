"""Ingest domain: Mixpanel → `raw` schema, with data-quality checks and the daily schedule."""

import dagster as dg

from hitcraft_assets.defs.ingest.assets import raw_events, raw_profiles
from hitcraft_assets.defs.ingest.checks import raw_event_checks
from hitcraft_assets.defs.ingest.resources import MixpanelResource, WarehouseResource
from hitcraft_assets.defs.ingest.schedules import (
    daily_ingest_job,
    daily_ingest_schedule,
    profiles_job,
    profiles_schedule,
)

defs = dg.Definitions(
    assets=[raw_events, raw_profiles],
    asset_checks=raw_event_checks,
    jobs=[daily_ingest_job, profiles_job],
    schedules=[daily_ingest_schedule, profiles_schedule],
    resources={"warehouse": WarehouseResource(), "mixpanel": MixpanelResource()},
)
