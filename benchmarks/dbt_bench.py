"""dbt build time for N days at ~1M events/day vs. the raw ingest time of the same data (part of `make bench`)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.run import ANCHOR, DAY, ROOT, serve

DBT = str(Path(sys.executable).parent / "dbt")


def _ingest(url: str, days: int) -> dict:
    from hitcraft_assets.mixpanel.client import MixpanelClient, MixpanelConfig
    from hitcraft_assets.mixpanel.ingest import load_days
    from hitcraft_assets.mixpanel.ratelimit import RateLimiter
    from hitcraft_assets.store import warehouse
    from hitcraft_assets.store.raw_events import ensure_schema

    first = DAY - timedelta(days=days - 1)
    config = MixpanelConfig(project_id="sample", username="sample", secret="sample", api_base_url=url)
    with warehouse.connection() as conn, MixpanelClient(config, limiter=RateLimiter.unlimited()) as client:
        ensure_schema(conn)
        started = time.monotonic()
        loads = load_days(
            conn,
            client,
            [first + timedelta(days=i) for i in range(days)],
            reporting_tz="UTC",
            source="bench",
            client_version="bench",
            project_today=ANCHOR,
            progress=print,
        )
        seconds = time.monotonic() - started
    return {"first": str(first), "last": str(DAY), "rows": sum(w.rows for w in loads), "seconds": seconds}


def _dbt(args: list[str], work: Path) -> tuple[float, list[dict]]:
    from hitcraft_assets.store import warehouse

    env = {**os.environ, **warehouse.dbt_connection_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target = work / "target"
    cmd = [
        DBT,
        *args,
        "--project-dir",
        str(ROOT / "dbt_project"),
        "--profiles-dir",
        str(ROOT / "dbt_project"),
        "--target-path",
        str(target),
        "--log-path",
        str(work / "logs"),
    ]
    started = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    seconds = time.monotonic() - started
    results = json.loads((target / "run_results.json").read_text())["results"]
    timings = [
        {"node": r["unique_id"], "status": r["status"], "seconds": round(r["execution_time"], 2)}
        for r in results
        if r["unique_id"].startswith(("model.", "seed."))
    ]
    return seconds, timings


def run(days: int, work: Path) -> dict:
    ctx = mp.get_context("spawn")
    url_queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(url_queue, stop))
    server.start()
    try:
        url, _ = url_queue.get(timeout=900)
        ingest = _ingest(url, days)
    finally:
        stop.set()
        server.join(timeout=30)
    window = json.dumps({"min_date": ingest["first"], "max_date": ingest["last"]})
    _dbt(["seed"], work)
    daily_s, daily = _dbt(["run", "--select", "tag:daily", "--vars", window], work)
    full_s, full = _dbt(["run", "--exclude", "tag:daily", "--exclude", "resource_type:seed"], work)
    rows = ingest["rows"]
    groups: dict[str, float] = {}
    for t in daily + full:
        group = t["node"].split(".")[-1]
        groups[group] = groups.get(group, 0) + t["seconds"]
    return {
        "days": days,
        "raw_events": rows,
        "raw_ingest_seconds": round(ingest["seconds"], 1),
        "raw_ingest_events_per_s": round(rows / ingest["seconds"]),
        "dbt_daily_models_seconds": round(daily_s, 1),
        "dbt_full_models_seconds": round(full_s, 1),
        "dbt_events_per_s_daily_models": round(rows / daily_s),
        "model_seconds": {k: round(v, 2) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
