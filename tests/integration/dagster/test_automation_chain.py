"""The automation conditions carry a new raw day through dbt, ML, insights and the daily report, each asset once.

Dagster's own evaluator (`evaluate_automation_conditions`, what the `hitcraft_automation` sensor runs) on an
instance holding a warehouse loaded for a few recent days only (every earlier daily partition is missing, as after
`make demo`). The ingest run (the newest day and the lookback days before it) is reported at 04:01; each tick's
requests are then reported as materialized, tick after tick, until nothing more is requested.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time  # Dagster's clock, so event timestamps follow the ticks

NEWEST = "2026-11-20"  # yesterday at the ingest tick
LOADED_BEFORE = ["2026-11-18", "2026-11-19"]
INGEST = datetime(2026, 11, 21, 4, 1, tzinfo=UTC)  # just after the default 04:00 UTC ingest tick


def _key(path: str) -> dg.AssetKey:
    return dg.AssetKey(path.split("/"))


def _materialize(instance, key: dg.AssetKey, partition: str | None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=partition))


@pytest.mark.parametrize("reloaded", [False, True], ids=["new day", "day loaded again"])
def test_a_new_raw_day_flows_to_the_daily_report_once(reloaded):
    # reloaded: the day went through every asset before (a re-run of its ingest); eager insights would run as soon
    # as the daily marts update and again after the whole-table marts and ML: two reports, the first one stale
    from hitcraft_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    instance = dg.DagsterInstance.ephemeral()
    with freeze_time(INGEST - timedelta(days=1)):  # the warehouse as the last days left it
        for key in graph.materializable_asset_keys:
            partitions = graph.get(key).partitions_def
            if partitions is None:
                _materialize(instance, key, None)
            elif isinstance(partitions, dg.DailyPartitionsDefinition):
                for day in LOADED_BEFORE + ([NEWEST] if reloaded else []):
                    _materialize(instance, key, day)
            else:  # weekly / monthly: the latest complete one
                _materialize(instance, key, partitions.get_last_partition_key())
    cursor = dg.evaluate_automation_conditions(defs, instance, evaluation_time=INGEST - timedelta(hours=1)).cursor
    with freeze_time(INGEST):  # the schedule's run: yesterday and the lookback days (late events)
        for day in [*LOADED_BEFORE, NEWEST]:
            _materialize(instance, _key("mixpanel/raw_events"), day)

    requested: dict[str, list[tuple[int, str | None]]] = {}
    for tick in range(1, 12):
        now = INGEST + timedelta(minutes=tick)
        with freeze_time(now):
            result = dg.evaluate_automation_conditions(defs, instance, evaluation_time=now, cursor=cursor)
            cursor = result.cursor
            if not result.total_requested:
                break
            for key in graph.materializable_asset_keys:
                for partition in result.get_requested_partitions(key):
                    requested.setdefault(key.to_user_string(), []).append((tick, partition))
                    _materialize(instance, key, partition)
    else:
        raise AssertionError(f"automation still requesting after {tick} ticks: {requested}")

    chain = ["staging/stg_events", "marts/user_daily_activity", "ml/anomaly_flags", "ml/metric_trends",
             "ml/churn_scores", "insights/insights", "insights/daily_report"]  # fmt: skip
    for name in chain:
        assert NEWEST in {p for _, p in requested.get(name, [])}, (name, requested)
    # late events re-loaded for the lookback days are modeled too, in the same tick as the new day
    assert sorted(requested["staging/stg_events"]) == [(1, day) for day in [*LOADED_BEFORE, NEWEST]], requested
    # whole-table models depend on every day since PARTITIONS_START; the missing early days must not block them
    assert requested["marts/daily_metrics"] and requested["marts/dim_users"], requested
    # the insights wait until every input is updated, so the day gets one insights run and one report
    assert requested["insights/insights"] == [(requested["insights/insights"][0][0], NEWEST)], requested
    assert len(requested["insights/daily_report"]) == 1, requested
    inputs = [t for name in ("ml/anomaly_flags", "ml/metric_trends", "ml/churn_scores", "marts/daily_metrics")
              for t, _ in requested[name]]  # fmt: skip
    assert requested["insights/insights"][0][0] >= max(inputs)  # with its last inputs: one run, in dependency order
    assert "mixpanel/raw_events" not in requested  # the schedule loads raw data, automation does not


def test_ingest_cron_is_configurable_and_checked(monkeypatch):
    from hitcraft_assets import settings

    monkeypatch.setenv("HITCRAFT_INGEST_CRON", "30 5 * * *")
    assert settings.ingest_cron() == "30 5 * * *"
    monkeypatch.setenv("HITCRAFT_INGEST_CRON", "every day at 5")
    with pytest.raises(settings.ConfigError, match="HITCRAFT_INGEST_CRON='every day at 5' is not a 5-field cron"):
        settings.ingest_cron()
