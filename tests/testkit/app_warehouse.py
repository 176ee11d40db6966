"""A warehouse filled by the real pipeline for the app's tests: sample days through the real client and loader, the
dbt models, the ML, experiment and AI assets and insights as Dagster materializations, and the last day's daily
report files (under the session's HITCRAFT_HOME)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ANCHOR = date(2026, 6, 1)
DAYS = [ANCHOR - timedelta(days=56 - i) for i in range(56)]
LAST = DAYS[-1]
NOW = datetime(2026, 6, 8, 4, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FilledWarehouse:
    url: str
    last: date
    days: list[date]


def own_database(url: str, name: str = "app_tests") -> str:
    """A database of its own on the test server (created afresh), so that other test modules of the same worker,
    which drop and rebuild the warehouse's schemas, never touch the app's data."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
        cur.execute(f'create database "{name}"')
    conn.close()
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _dbt(url: str, work: Path, *args: str) -> None:
    from hitcraft_assets.store import warehouse

    env = {
        **os.environ,
        **warehouse.dbt_connection_env(url),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_INDIRECT_SELECTION": "cautious",
    }
    project = str(REPO / "dbt_project")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            *args,
            "--project-dir",
            project,
            "--profiles-dir",
            project,
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout[-4000:]


def fill(url: str, work: Path) -> FilledWarehouse:
    import dagster as dg

    from hitcraft_assets.defs.experiments.assets import generation_attribution, readouts
    from hitcraft_assets.defs.insights.insights import insights
    from hitcraft_assets.defs.insights.reports import daily_report
    from hitcraft_assets.defs.ml.anomalies import anomaly_flags
    from hitcraft_assets.defs.ml.trends import metric_trends
    from hitcraft_assets.defs.resources import WarehouseResource
    from hitcraft_assets.defs.revenue.assets import attribution, mrr_forecast
    from hitcraft_assets.mixpanel.ingest import load_days
    from hitcraft_assets.store import warehouse
    from hitcraft_assets.store.raw_events import ensure_schema
    from testkit.sample_client import sample_client

    conn = warehouse.connect(url)
    with conn.cursor() as cur:
        for schema in ("raw", "staging", "intermediate", "marts", "ml", "insights", "app"):
            cur.execute(f"drop schema if exists {schema} cascade")
    conn.commit()
    ensure_schema(conn)
    with sample_client(anchor=ANCHOR, now=NOW, scale=0.5) as client:
        load_days(conn, client, DAYS, project_today=NOW.date(), reporting_tz="UTC", source="sample", client_version="t")
    conn.close()
    _dbt(url, work, "seed")
    _dbt(
        url,
        work,
        "run",
        "--select",
        "tag:daily",
        "--vars",
        json.dumps({"min_date": str(DAYS[0]), "max_date": str(LAST)}),
    )
    _dbt(url, work, "run", "--exclude", "tag:daily")
    resources = {"warehouse": WarehouseResource(database_url=url)}
    last_days = DAYS[-7:]
    tags = {
        "dagster/asset_partition_range_start": str(last_days[0]),
        "dagster/asset_partition_range_end": str(last_days[-1]),
    }
    for assets in ([anomaly_flags, metric_trends], [insights]):
        result = dg.materialize(assets, resources=resources, tags=tags, raise_on_error=False)
        errors = [e.step_failure_data.error.to_string() for e in result.all_events if e.is_step_failure]
        assert result.success, "\n".join(errors)
    result = dg.materialize(  # experiment readouts and AI attribution as of the last day (the app's pages)
        [readouts, generation_attribution], resources=resources, partition_key=str(LAST), raise_on_error=False
    )
    assert result.success
    assert dg.materialize([attribution, mrr_forecast], resources=resources, raise_on_error=False).success
    from hitcraft_assets.store import revenue
    from testkit.experiment_warehouse import sample_spend_csv

    spend = sample_spend_csv(work / "channel_spend.csv", DAYS, scale=0.5, anchor=ANCHOR)
    revenue.import_spend(revenue.read_spend_csv(spend), url)
    quiet = {"ops": {"insights__daily_report": {"config": {"send_email": False, "claude_summary": False}}}}
    result = dg.materialize(
        [daily_report], resources=resources, partition_key=str(LAST), run_config=quiet, raise_on_error=False
    )
    assert result.success
    return FilledWarehouse(url, LAST, DAYS)


def bearer(accounts: dict, role: str) -> dict:
    """The Authorization header of the test user of a role (accounts: role -> (name, password, token))."""
    return {"Authorization": f"Bearer {accounts[role][2]}"}
