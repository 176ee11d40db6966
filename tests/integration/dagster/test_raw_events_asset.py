"""Real materializations of `mixpanel/raw_events` from the sample Mixpanel, with the GX checks."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from hitcraft_assets.defs.ingest.assets import raw_events
from hitcraft_assets.defs.ingest.checks import raw_event_checks
from hitcraft_assets.defs.partitions import daily_partitions
from hitcraft_assets.defs.resources import MixpanelResource, WarehouseResource

FIRST, LAST = "2026-06-01", "2026-06-03"


@dg.asset(deps=[raw_events], partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.single_run())
def downstream_model() -> None:
    """Stands in for the dbt models: must not run when a blocking check fails."""


def _run(selection, instance):
    return dg.materialize(
        [raw_events, downstream_model, *raw_event_checks],
        selection=selection,
        resources={"warehouse": WarehouseResource(), "mixpanel": MixpanelResource()},
        tags={ASSET_PARTITION_RANGE_START_TAG: FIRST, ASSET_PARTITION_RANGE_END_TAG: LAST},
        instance=instance,
        raise_on_error=False,
    )


@pytest.fixture
def sample_anchor(monkeypatch):
    monkeypatch.setenv("HITCRAFT_SAMPLE_ANCHOR", "2026-06-20")


def test_range_materializes_in_one_step_and_checks_pass_then_block_on_corruption(conn, sample_anchor):
    instance = dg.DagsterInstance.ephemeral()
    result = _run(dg.AssetSelection.all(), instance)
    assert result.success
    materializations = result.get_asset_materialization_events()
    assert {m.partition for m in materializations if m.asset_key == raw_events.key} == {
        "2026-06-01",
        "2026-06-02",
        "2026-06-03",
    }
    metadata = materializations[0].event_specific_data.materialization.metadata
    assert metadata["sample_data"].value is True
    assert metadata["export_requests"].value == 1  # one export request for the whole range
    assert metadata["rows_in_run"].value > 1000 and "dagster/row_count" not in metadata  # a 3-day run
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert len(evaluations) == 4 and all(e.passed for e in evaluations.values())

    # Corrupt one partition: events whose time lies on another day, and a missing insert id share.
    with conn.cursor() as cur:
        cur.execute(
            "update raw.events set event_time = event_time + interval '2 days' "
            "where partition_date = '2026-06-02' and event = 'Render Started'"
        )
        assert cur.rowcount > 0
    conn.commit()
    result = _run(
        dg.AssetSelection.checks_for_assets(raw_events) | dg.AssetSelection.assets(downstream_model), instance
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    contract = evaluations["raw_events_contract"]
    assert not contract.passed and contract.severity == dg.AssetCheckSeverity.ERROR
    assert "time_in_partition" in contract.description
    assert evaluations["raw_events_quarantine_share"].passed
    assert not any(m.asset_key == downstream_model.key for m in result.get_asset_materialization_events())


def test_quarantine_share_check_fails_above_the_threshold(conn, sample_anchor):
    instance = dg.DagsterInstance.ephemeral()
    assert _run(dg.AssetSelection.assets(raw_events), instance).success
    with conn.cursor() as cur:  # as if a fifth of a day's lines had been unreadable
        cur.execute("select count(*) from raw.events where partition_date = '2026-06-01'")
        n = cur.fetchone()[0]
        cur.execute(
            "insert into raw.events_quarantine select '2026-06-01', '2026-06-01', '2026-06-03', g, 'invalid_json', "
            "'test', 'x'::bytea, 'test', gen_random_uuid(), now() from generate_series(1, %s) g",
            (n // 4,),
        )
    conn.commit()
    result = _run(dg.AssetSelection.checks_for_assets(raw_events), instance)
    share = {e.check_name: e for e in result.get_asset_check_evaluations()}["raw_events_quarantine_share"]
    assert not share.passed and share.severity == dg.AssetCheckSeverity.ERROR
