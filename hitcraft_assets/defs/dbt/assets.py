"""dbt models as Dagster assets: daily-partitioned incremental models (tag `daily`) and the rest."""

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
    get_asset_key_for_model,
)

from hitcraft_assets import settings
from hitcraft_assets.defs.dbt.partition_vars import vars_arg
from hitcraft_assets.defs.dbt.project import dbt_project
from hitcraft_assets.defs.partitions import daily_partitions
from hitcraft_assets.defs.resources import WarehouseResource
from hitcraft_assets.store import warehouse

DAILY = "tag:daily"


class HitcraftDbtTranslator(DagsterDbtTranslator):
    """Keys `<schema>/<model>`, groups by layer, kinds dbt + postgres."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)  # meta.dagster.asset_key → mixpanel/raw_*
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "dbt_" + dbt_resource_props["schema"]

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        return {**super().get_tags(dbt_resource_props), "dagster/kind/postgres": ""}

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        # a new raw partition (daily schedule) flows through the models without a person
        eager = dg.AutomationCondition.eager()
        if "daily" in dbt_resource_props.get("tags", []):
            # the daily ingest also re-loads the lookback days for late events: remodel those days too
            window = dg.AutomationCondition.in_latest_time_window(timedelta(days=settings.lookback_days() + 1))
            return eager.replace(dg.AutomationCondition.in_latest_time_window(), window)
        # A whole-table model depends on every daily partition since PARTITIONS_START, and days before the first
        # load stay missing for good: eager's missing-dependency guard would never let it run again.
        return eager.without(~dg.AutomationCondition.any_deps_missing()).with_label("eager (whole table)")


translator = HitcraftDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def _dbt_env(resource: WarehouseResource) -> None:
    """dbt runs as a subprocess; profiles.yml reads the connection from these variables. Tests run only when
    every model they read is in the same build ("cautious"): a step that builds some models must not fail
    on a test of a model another step builds later."""
    os.environ.update(warehouse.dbt_connection_env(resource.url()))
    os.environ["DBT_INDIRECT_SELECTION"] = "cautious"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=DAILY,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=translator,
    name="dbt_daily_models",
)
def dbt_daily_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Incremental models rebuilt for the run's partition window (vars min_date/max_date)."""
    _dbt_env(warehouse)
    window = context.partition_key_range
    context.log.info(f"dbt build for {window.start}..{window.end}")
    yield from (
        dbt.cli(["build", *vars_arg(window.start, window.end)], context=context)
        .stream()
        .fetch_row_counts()
        .fetch_column_metadata()
    )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=DAILY,
    dagster_dbt_translator=translator,
    name="dbt_models",
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Seeds and models rebuilt whole (cohorts, dimensions, funnels over full history)."""
    _dbt_env(warehouse)
    yield from dbt.cli(["build"], context=context).stream().fetch_row_counts().fetch_column_metadata()


def model_key(name: str) -> dg.AssetKey:
    """The asset key of dbt model (or seed) `name`, daily or not, as the translator makes it (`marts/daily_metrics`):
    both `@dbt_assets` share one manifest and translator, so either finds every model."""
    return get_asset_key_for_model([dbt_models], name)
