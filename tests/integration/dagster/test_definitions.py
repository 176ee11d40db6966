"""The code location loads and is wired as documented."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg


def test_definitions_load_with_assets_checks_jobs_and_schedules():
    from hitcraft_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"mixpanel/raw_events", "mixpanel/raw_profiles", "staging/stg_events"} <= keys
    # dbt layers: staging, intermediate (int_*), marts
    assert {"intermediate/int_identity_map", "intermediate/int_funnel_events", "marts/funnel_steps"} <= keys
    checks = {c.name for c in graph.asset_check_keys}
    assert {
        "raw_events_contract",
        "raw_events_quarantine_share",
        "raw_events_known_names",
        "raw_events_daily_volume",
    } <= checks
    # dbt models hang off the raw assets, and the daily ones share their partitions and backfill policy
    stg = graph.get(dg.AssetKey(["staging", "stg_events"]))
    assert dg.AssetKey(["mixpanel", "raw_events"]) in stg.parent_keys
    assert stg.partitions_def == graph.get(dg.AssetKey(["mixpanel", "raw_events"])).partitions_def
    assert stg.backfill_policy == dg.BackfillPolicy.single_run()
    assert {"dbt", "postgres"} <= set(stg.kinds)
    identity = graph.get(dg.AssetKey(["intermediate", "int_identity_map"]))  # tag daily: partitioned like staging
    assert identity.partitions_def == stg.partitions_def and identity.key in stg.parent_keys
    assert graph.get(dg.AssetKey(["intermediate", "int_funnel_events"])).partitions_def is None
    raw = graph.get(dg.AssetKey(["mixpanel", "raw_events"]))
    assert raw.backfill_policy == dg.BackfillPolicy.single_run()
    assert isinstance(raw.partitions_def, dg.DailyPartitionsDefinition)
    assert defs.resolve_job_def("daily_ingest") is not None
    schedule = defs.resolve_schedule_def("daily_ingest_schedule")
    assert schedule.cron_schedule == "0 4 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_daily_schedule_requests_yesterday_with_the_lookback():
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from hitcraft_assets.defs.ingest.schedules import daily_ingest_schedule, daily_range

    assert daily_range(date(2026, 11, 21), 5) == ("2026-11-15", "2026-11-20")
    assert daily_range(date(2025, 1, 3), 5) == ("2025-01-01", "2025-01-02")  # clipped at the first partition
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 21, 4, tzinfo=UTC))
    request = daily_ingest_schedule(context)
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-11-15"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2026-11-20"
    assert request.run_key == "daily-2026-11-20"


def test_ml_assets_hang_off_the_marts_with_checks_and_schedule():
    from hitcraft_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    daily = graph.get(dg.AssetKey(["mixpanel", "raw_events"])).partitions_def
    for key, parent in (
        (["ml", "anomaly_flags"], ["marts", "daily_metrics_by_segment"]),
        (["ml", "metric_trends"], ["marts", "daily_metrics"]),
        (["ml", "churn_scores"], ["ml", "churn_model"]),
    ):
        node = graph.get(dg.AssetKey(key))
        assert dg.AssetKey(parent) in node.parent_keys
        assert node.partitions_def == daily and node.backfill_policy == dg.BackfillPolicy.single_run()
    model = graph.get(dg.AssetKey(["ml", "churn_model"]))
    assert model.partitions_def is None and {"xgboost", "scikit-learn"} <= set(model.kinds)
    segments = graph.get(dg.AssetKey(["ml", "user_segments"]))
    assert isinstance(segments.partitions_def, dg.WeeklyPartitionsDefinition)
    checks = {c.name for c in graph.asset_check_keys}
    assert {
        "anomaly_flag_volume",
        "anomaly_intervals_valid",
        "forecast_intervals_valid",
        "churn_model_promotion",
        "churn_scores_valid",
        "personas_cover_active_users",
    } <= checks
    schedule = defs.resolve_schedule_def("weekly_churn_model")
    assert schedule.cron_schedule == "0 5 * * 1" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_dg_lists_and_checks_the_code_location(tmp_path):
    """`dg list defs` / `dg check defs` ([tool.dg] in pyproject.toml) see exactly the code location's definitions."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from hitcraft_assets import settings
    from hitcraft_assets.definitions import defs

    dg_command = str(Path(sys.executable).parent / "dg")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}  # a throw-away instance (the repo's needs DAGSTER_PG_URL)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([dg_command, *args], cwd=settings.REPO_ROOT, env=env, capture_output=True, text=True)

    checked = run("check", "defs")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = run("list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    graph = defs.resolve_asset_graph()
    repository = defs.get_repository_def()
    assert {a["asset_key"] for a in found["assets"]} == {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {c["key"] for c in found["asset_checks"]} == {
        f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys
    }
    jobs = {j.name for j in repository.get_all_jobs() if not j.name.startswith("__")}
    assert {j["name"] for j in found["jobs"]} == jobs
    assert {s["name"] for s in found["schedules"]} == {s.name for s in repository.schedule_defs}
    assert {s["name"] for s in found["sensors"]} == {s.name for s in repository.sensor_defs}
    assert {r["name"] for r in found["resources"]} == {"warehouse", "mixpanel", "dbt"}
