"""A metric added as one row of the metric catalogue reaches every consumer without any other file changing.

The project's package and dbt project are copied to a temporary folder; only the copy's
`dbt_project/seeds/metric_catalogue.csv` gets a new row. A subprocess that imports the copy then loads sample days,
builds the dbt models, materializes ml/anomaly_flags and ml/metric_trends as Dagster runs, and builds the daily
report; the new metric must be in daily_metrics (with the value its SQL defines), daily_metrics_by_segment, the
anomaly flags, the trends and forecasts, and the report's key-metrics table under its label.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hitcraft_assets.store import warehouse

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
TESTS = REPO / "tests"
NEW_ROW = (
    "renders_per_active_user,Renders per active user,Render Started events / dau.,ratio,number,renders,"
    "active users,,renders_started,dau,true,9,true,false,true,,,0,\n"
)

SCRIPT = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from datetime import UTC, date, datetime, timedelta
    from pathlib import Path

    import dagster as dg
    from testkit.sample_client import sample_client

    from hitcraft_assets.defs.resources import WarehouseResource
    from hitcraft_assets.defs.ml.anomalies import anomaly_flags
    from hitcraft_assets.defs.ml.trends import metric_trends
    from hitcraft_assets.mixpanel.ingest import load_days
    from hitcraft_assets.reports.builder import build_report
    from hitcraft_assets.reports.rendering import render_markdown
    from hitcraft_assets.store import warehouse
    from hitcraft_assets.store.raw_events import ensure_schema

    url, project, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    anchor = date(2026, 6, 1)
    days = [anchor - timedelta(days=45 - i) for i in range(45)]
    now = datetime(2026, 6, 8, 4, tzinfo=UTC)
    conn = warehouse.connect(url)
    with conn.cursor() as cur:
        for schema in ("raw", "staging", "intermediate", "marts", "ml"):
            cur.execute(f"drop schema if exists {schema} cascade")
    conn.commit()
    ensure_schema(conn)
    with sample_client(anchor=anchor, now=now, scale=0.3) as client:
        load_days(conn, client, days, project_today=now.date(), reporting_tz="UTC", source="sample", client_version="t")
    conn.close()

    env = {**os.environ, **warehouse.dbt_connection_env(url), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    dbt = [str(Path(sys.executable).parent / "dbt")]
    where = ["--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(work / "target"),
             "--log-path", str(work / "logs")]
    window = json.dumps({"min_date": str(days[0]), "max_date": str(days[-1])})
    for args in (["seed"], ["run", "--select", "tag:daily", "--vars", window], ["run", "--exclude", "tag:daily"]):
        done = subprocess.run(dbt + args + where, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-4000:]

    last = days[-3:]
    tags = {"dagster/asset_partition_range_start": str(last[0]), "dagster/asset_partition_range_end": str(last[-1])}
    resources = {"warehouse": WarehouseResource(database_url=url)}
    result = dg.materialize([anomaly_flags, metric_trends], resources=resources, tags=tags, raise_on_error=False)
    assert result.success, [e.step_failure_data.error.to_string() for e in result.all_events if e.is_step_failure]
    report = build_report("daily", days[-1], url)
    print(json.dumps({"markdown": render_markdown(report), "key_metrics": [m.metric for m in report.key_metrics]}))
    """
)


def _copy_project(target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "target", "logs", "dbt_packages", ".user.yml")
    shutil.copytree(REPO / "hitcraft_assets", target / "hitcraft_assets", ignore=ignore)
    shutil.copytree(REPO / "dbt_project", target / "dbt_project", ignore=ignore)
    # the dbt asset definitions read the parsed project (made by `make`); a new seed row does not change it
    (target / "dbt_project" / "target").mkdir()
    shutil.copy2(REPO / "dbt_project" / "target" / "manifest.json", target / "dbt_project" / "target")
    return target


def test_a_metric_added_to_the_catalogue_reaches_dbt_ml_and_the_report(warehouse_url, dbt, tmp_path):
    copy = _copy_project(tmp_path / "project")
    catalogue = copy / "dbt_project" / "seeds" / "metric_catalogue.csv"
    catalogue.write_text(catalogue.read_text() + NEW_ROW)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(copy), str(TESTS)]),
        "HITCRAFT_DATABASE_URL": warehouse_url,
        "HITCRAFT_HOME": str(tmp_path / "home"),
    }
    script = tmp_path / "add_metric.py"
    script.write_text(SCRIPT)
    try:
        done = subprocess.run(
            [sys.executable, str(script), warehouse_url, str(copy / "dbt_project"), str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=1800,
        )
    finally:
        dbt("seed", "--select", "metric_catalogue")  # the project's own catalogue again, for the next tests
    assert done.returncode == 0, done.stderr[-6000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    def q(sql):
        return warehouse.read_frame(sql, url=warehouse_url)

    metric = "metric = 'renders_per_active_user'"
    # daily_metrics, built from the copy's catalogue: the value its row defines (Render Started events / dau)
    rows = q(f"select metric_date, value, numerator, denominator from marts.daily_metrics where {metric}")
    assert len(rows) == 45
    counts = q(
        "select activity_date as metric_date, sum(renders_started)::float as started, count(*)::float as dau "
        "from marts.user_daily_activity group by 1"
    ).merge(rows, on="metric_date")
    assert len(counts) == 45
    assert (counts["numerator"] == counts["started"]).all() and (counts["denominator"] == counts["dau"]).all()
    assert ((counts["value"] - counts["started"] / counts["dau"]).abs() < 1e-9).all()
    assert not q(f"select 1 from marts.daily_metrics_by_segment where {metric} limit 1").empty
    # the ML assets judge it, test its trend and forecast it (forecast = true), with its declared kind
    flags = q(f"select distinct kind from ml.anomaly_flags where {metric}")
    assert flags["kind"].tolist() == ["ratio"]
    assert not q(f"select 1 from ml.metric_trends where {metric}").empty
    assert not q(f"select 1 from ml.metric_forecasts where {metric}").empty
    # the report lists it last among the key metrics (key_metric = 9), under its label
    assert out["key_metrics"][-1] == "renders_per_active_user"
    assert "Renders per active user" in out["markdown"]
