"""End to end: `hitcraft backfill` through a real `dagster dev` (webserver + daemon) and instance."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest


@pytest.mark.slow
def test_cli_backfill_is_one_run_through_the_instance(monkeypatch):
    home = Path(tempfile.mkdtemp(prefix="hce-", dir="/tmp"))
    last = datetime.now(UTC).date() - timedelta(days=8)
    first = last - timedelta(days=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITCRAFT_", "DAGSTER_", "MIXPANEL_"))}
    env.update(HITCRAFT_HOME=str(home), HITCRAFT_SAMPLE_ANCHOR=str(last + timedelta(days=5)))
    hitcraft = str(Path(sys.executable).parent / "hitcraft")
    result = subprocess.run(
        [hitcraft, "backfill", "--start", str(first), "--end", str(last), "--url", "http://127.0.0.1:9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=4 * 3600,  # only against a hang: on a loaded machine this backfill takes far longer than usual
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "completed_success" in output
    assert " passed, 0 failed" in output, output[-3000:]
    # three days are too few to train a churn model: said as a warning, not a failure
    assert "warn  ml/churn_model:churn_model_promotion: no new model: too little history" in output
    assert "mixpanel/raw_events             3/3" in output

    monkeypatch.setenv("HITCRAFT_HOME", str(home))
    from hitcraft_assets.cli import runtime
    from hitcraft_assets.store import warehouse

    try:
        for key, value in runtime.dagster_environment().items():
            monkeypatch.setenv(key, value)
        instance = dg.DagsterInstance.get()
        backfill_id = (home / "last_backfill_id").read_text()
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        event_runs = [r for r in runs if dg.AssetKey(["mixpanel", "raw_events"]) in (r.asset_selection or set())]
        assert len(event_runs) == 1, "a single-run backfill makes one run for the whole range"
        assert event_runs[0].tags["dagster/asset_partition_range_start"] == str(first)
        assert event_runs[0].tags["dagster/asset_partition_range_end"] == str(last)
        assert instance.get_materialized_partitions(dg.AssetKey(["mixpanel", "raw_events"])) == {
            str(first + timedelta(days=i)) for i in range(3)
        }
        with warehouse.connection() as conn, conn.cursor() as cur:
            cur.execute("select count(distinct partition_date), count(*) from raw.events")
            days, rows = cur.fetchone()
        assert days == 3 and rows > 1000
    finally:
        warehouse.stop_embedded()
        shutil.rmtree(home, ignore_errors=True)  # its database and Dagster home: ~280 MB per run


def test_cli_rejects_bad_ranges_with_one_line():
    hitcraft = str(Path(sys.executable).parent / "hitcraft")
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    for args, message in [
        (["--start", "2026-02-30", "--end", "2026-03-01"], "is not a date in YYYY-MM-DD form"),
        (["--start", "2026-03-05", "--end", "2026-03-01"], "is after --end"),
        (["--start", str(tomorrow), "--end", str(tomorrow)], "is not a complete day yet"),
    ]:
        result = subprocess.run([hitcraft, "backfill", *args], capture_output=True, text=True, timeout=900)
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_dev_stops_ui_daemon_and_database_on_interrupt(signum):
    import signal
    import time

    import httpx
    import psutil

    from hitcraft_assets.cli.runtime import free_port

    home = Path(tempfile.mkdtemp(prefix="hcd-", dir="/tmp"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITCRAFT_", "DAGSTER_", "MIXPANEL_"))}
    env["HITCRAFT_HOME"] = str(home)
    hitcraft = str(Path(sys.executable).parent / "hitcraft")
    proc = subprocess.Popen(
        [hitcraft, "dev", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        # wait for readiness as long as `hitcraft dev` runs (a loaded machine takes minutes); a limit of an hour
        # only guards against a hang
        deadline = time.monotonic() + 3600
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "hitcraft dev alive but its UI not answering after an hour"
            time.sleep(1)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        postmaster = psutil.Process(int((home / "pgdata" / "postmaster.pid").read_text().split()[0]))
        assert descendants and postmaster.is_running()
        proc.send_signal(getattr(signal, signum))
        output = proc.communicate(timeout=900)[0]  # the limit only guards against a hang
        assert proc.returncode == 0, output
        # it stops the database itself, saying so, rather than leaving it to clients that happen to disconnect
        assert "embedded PostgreSQL stopped" in output, output
        gone, alive = psutil.wait_procs([*descendants, postmaster], timeout=300)
        assert not alive, f"still running after {signum}: {[p.cmdline()[:3] for p in alive]}\n{output}"
    finally:
        if proc.poll() is None:
            proc.kill()
        if (home / "pgdata" / "postmaster.pid").exists():  # a failed run must not leave a server behind
            with contextlib.suppress(Exception):
                psutil.Process(int((home / "pgdata" / "postmaster.pid").read_text().split()[0])).send_signal(
                    signal.SIGINT
                )
        shutil.rmtree(home, ignore_errors=True)


def test_simulate_writes_export_files_and_db_url_names_the_warehouse(tmp_path):
    import orjson

    hitcraft = str(Path(sys.executable).parent / "hitcraft")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITCRAFT_", "MIXPANEL_"))}
    out = tmp_path / "export"
    result = subprocess.run(
        [
            hitcraft,
            "simulate",
            "--start",
            "2026-05-01",
            "--end",
            "2026-05-02",
            "--scale",
            "0.2",
            "--anchor",
            "2026-05-10",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,  # only against a hang
    )
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("export-*.ndjson"))
    assert [f.name for f in files] == ["export-2026-05-01.ndjson", "export-2026-05-02.ndjson"]
    first = orjson.loads(files[0].read_bytes().splitlines()[0])
    assert {"event", "properties"} <= first.keys() and "$insert_id" in first["properties"]

    env["HITCRAFT_DATABASE_URL"] = "postgresql://analyst:secret@db.example:5432/warehouse"
    url = subprocess.run([hitcraft, "db", "url"], env=env, capture_output=True, text=True, timeout=900)
    assert url.stdout.strip() == env["HITCRAFT_DATABASE_URL"]
