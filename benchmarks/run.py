"""`make bench`: raw-ingest throughput vs. a bare COPY of the same NDJSON, peak memory, code-location load.

Results go to benchmarks/results.json (and a table on stdout); the README quotes them. Each measurement
runs in its own process so that its peak RSS (ru_maxrss) is its own.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
DAY = date(2026, 6, 15)
ANCHOR = date(2026, 6, 30)
SCALE = float(os.environ.get("HITCRAFT_BENCH_SCALE", "44"))  # ≈1M events on the benchmark day


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _simulator():
    from hitcraft_assets.mixpanel.sample import Simulator, load_scenario

    return Simulator(load_scenario(), scale=SCALE, anchor_date=ANCHOR)


def generate(out_dir: str, queue) -> None:
    from hitcraft_assets.mixpanel.sample import write_export_files

    started = time.monotonic()
    (path,) = write_export_files(_simulator(), DAY, DAY, Path(out_dir))
    lines = sum(1 for _ in open(path, "rb"))
    queue.put(
        {
            "path": str(path),
            "events": lines,
            "bytes": path.stat().st_size,
            "seconds": time.monotonic() - started,
            "peak_mb": _peak_mb(),
        }
    )


def bare_copy(path: str, queue) -> None:
    """The floor: COPY the NDJSON into one jsonb column, nothing else."""
    from hitcraft_assets.store import warehouse

    with warehouse.connection() as conn, conn.cursor() as cur:
        cur.execute("drop table if exists bench_bare; create table bench_bare (doc jsonb)")
        conn.commit()
        started = time.monotonic()
        with open(path, "rb") as f:
            cur.copy_expert("copy bench_bare (doc) from stdin with (format csv, quote e'\\x01', delimiter e'\\x02')", f)
        conn.commit()
        seconds = time.monotonic() - started
        cur.execute("select count(*) from bench_bare")
        rows = cur.fetchone()[0]
        cur.execute("drop table bench_bare")
        conn.commit()
    queue.put({"rows": rows, "seconds": seconds, "peak_mb": _peak_mb()})


def loader_from_file(path: str, queue) -> None:
    """The platform's loader (parse, validate, type, COPY into the day partition) on the same lines."""
    from hitcraft_assets.mixpanel.lines import utc_bounds_of_dates
    from hitcraft_assets.store import warehouse
    from hitcraft_assets.store.raw_events import ensure_schema, load_window

    def export(consume):
        with open(path, "rb") as f:
            return consume(line.rstrip(b"\n") for line in f)

    with warehouse.connection() as conn:
        ensure_schema(conn)
        started = time.monotonic()
        result = load_window(
            conn,
            days=[DAY],
            reporting_timezone="UTC",
            export_from=DAY,
            export_to=DAY,
            export_bounds_utc=utc_bounds_of_dates(DAY, DAY, "UTC"),
            export=export,
            source="bench-file",
            client_version="bench",
        )
        seconds = time.monotonic() - started
    queue.put({"rows": result.rows, "quarantined": result.quarantined, "seconds": seconds, "peak_mb": _peak_mb()})


def serve(queue, stop) -> None:
    import httpx

    from hitcraft_assets.mixpanel.sample import SampleMixpanelApp, serve_sample_mixpanel

    app = SampleMixpanelApp(_simulator(), now=datetime(2026, 7, 1, tzinfo=UTC))
    with serve_sample_mixpanel(app) as url:
        # The simulator computes user state up to the day once (like a warm Mixpanel); not the loader's cost.
        started = time.monotonic()
        httpx.get(
            f"{url}/api/2.0/export",
            params={"project_id": "sample", "from_date": str(DAY), "to_date": str(DAY), "limit": "1"},
            auth=("sample", "sample"),
            timeout=600,
        ).raise_for_status()
        queue.put((url, time.monotonic() - started))
        stop.wait()


def loader_over_http(url: str, queue) -> None:
    """End to end: the Mixpanel client over loopback HTTP (gzip) from the sample server, into raw.events."""
    from hitcraft_assets.mixpanel.client import MixpanelClient, MixpanelConfig
    from hitcraft_assets.mixpanel.ingest import load_days
    from hitcraft_assets.mixpanel.ratelimit import RateLimiter
    from hitcraft_assets.store import warehouse
    from hitcraft_assets.store.raw_events import ensure_schema

    config = MixpanelConfig(project_id="sample", username="sample", secret="sample", api_base_url=url)
    with warehouse.connection() as conn, MixpanelClient(config, limiter=RateLimiter.unlimited()) as client:
        ensure_schema(conn)
        started = time.monotonic()
        (result,) = load_days(
            conn,
            client,
            [DAY],
            reporting_tz="UTC",
            source="bench-http",
            client_version="bench",
            project_today=DAY + timedelta(days=20),
        )
        seconds = time.monotonic() - started
    queue.put(
        {
            "rows": result.rows,
            "seconds": seconds,
            "peak_mb": _peak_mb(),
            "wire_megabytes": round(client.last_export_stats.bytes / 1e6, 1),
        }
    )


def _in_process(target, *args):
    queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get(timeout=1800)
    proc.join()
    return result


def code_location_load_seconds(repeats: int = 5) -> float:
    script = (
        "import time; t = time.perf_counter(); import hitcraft_assets.definitions as d; "
        "d.defs.resolve_asset_graph(); print(time.perf_counter() - t)"
    )
    times = [
        float(subprocess.check_output([sys.executable, "-W", "ignore", "-c", script], text=True))
        for _ in range(repeats)
    ]
    return sorted(times)[len(times) // 2]


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="hcb-", dir="/tmp"))
    os.environ["HITCRAFT_HOME"] = str(home)
    os.environ.pop("HITCRAFT_DATABASE_URL", None)
    from hitcraft_assets.store import warehouse

    warehouse.warehouse_url()  # start the embedded server once for every child
    try:
        print(f"generating one sample day at scale {SCALE:g} …", flush=True)
        gen = _in_process(generate, str(home / "export"))
        print(f"  {gen['events']:,} events, {gen['bytes'] / 1e6:.0f} MB in {gen['seconds']:.1f}s", flush=True)
        bare = _in_process(bare_copy, gen["path"])
        print(f"  bare COPY into jsonb: {bare['seconds']:.1f}s", flush=True)
        loader = _in_process(loader_from_file, gen["path"])
        print(f"  loader from file: {loader['seconds']:.1f}s, peak {loader['peak_mb']:.0f} MB", flush=True)
        ctx = mp.get_context("spawn")
        url_queue, stop = ctx.Queue(), ctx.Event()
        server = ctx.Process(target=serve, args=(url_queue, stop))
        server.start()
        try:
            url, warmup_s = url_queue.get(timeout=600)
            http = _in_process(loader_over_http, url)
        finally:
            stop.set()
            server.join(timeout=30)
        print(f"  loader over HTTP: {http['seconds']:.1f}s, peak {http['peak_mb']:.0f} MB", flush=True)
        load_s = code_location_load_seconds()
    finally:
        warehouse.stop_embedded()
        shutil.rmtree(home, ignore_errors=True)  # gigabytes of export files and database

    events = gen["events"]
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "events": events,
        "ndjson_megabytes": round(gen["bytes"] / 1e6, 1),
        "generation_events_per_s": round(events / gen["seconds"]),
        "bare_copy_jsonb_events_per_s": round(bare["rows"] / bare["seconds"]),
        "loader_from_file_events_per_s": round(loader["rows"] / loader["seconds"]),
        "loader_vs_bare_copy_ratio": round((loader["rows"] / loader["seconds"]) / (bare["rows"] / bare["seconds"]), 2),
        "loader_over_http_events_per_s": round(http["rows"] / http["seconds"]),
        "http_wire_megabytes_gzip": http["wire_megabytes"],
        "sample_server_warmup_seconds": round(warmup_s, 1),
        "loader_from_file_peak_mb": round(loader["peak_mb"]),
        "loader_over_http_peak_mb": round(http["peak_mb"]),
        "code_location_load_seconds": round(load_s, 2),
        "targets": {"loader_vs_bare_copy_ratio": ">= 0.5", "peak_mb": "< 500", "code_location_load_seconds": "< 3"},
    }
    results["dbt"] = dbt_benchmarks()
    results["ml"] = ml_benchmarks()
    results["speed"] = speed_benchmarks()
    results["app"] = app_benchmarks()
    from benchmarks import experiments_bench

    results["experiments"] = experiments_bench.run()
    results["revenue"] = revenue_benchmarks()
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps(results, indent=2, default=str))


def dbt_benchmarks() -> list[dict]:
    """dbt build vs. raw ingest for each day count in HITCRAFT_BENCH_DBT_DAYS (default "1,30"), each in a
    fresh embedded database."""
    from benchmarks import dbt_bench
    from hitcraft_assets.store import warehouse

    out = []
    for days in [int(d) for d in os.environ.get("HITCRAFT_BENCH_DBT_DAYS", "1,30").split(",") if d.strip()]:
        home = Path(tempfile.mkdtemp(prefix=f"hcbd{days}-", dir="/tmp"))
        os.environ["HITCRAFT_HOME"] = str(home)
        warehouse.warehouse_url()
        try:
            print(f"dbt benchmark: {days} day(s) at scale {SCALE:g} …", flush=True)
            result = dbt_bench.run(days, home)
            print(json.dumps(result, indent=2), flush=True)
            out.append(result)
        finally:
            warehouse.stop_embedded()
            shutil.rmtree(home, ignore_errors=True)
    return out


def _in_fresh_warehouse(prefix: str, title: str, run) -> dict:
    """`run(home)` in a fresh embedded database under a temporary HITCRAFT_HOME, removed afterwards."""
    from hitcraft_assets.store import warehouse

    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.environ["HITCRAFT_HOME"] = str(home)
    warehouse.warehouse_url()
    try:
        print(title, flush=True)
        result = run(home)
        print(json.dumps(result, indent=2, default=str), flush=True)
        return result
    finally:
        warehouse.stop_embedded()
        shutil.rmtree(home, ignore_errors=True)


def ml_benchmarks() -> dict:
    """Anomaly quality (sample + public labelled series) and churn model scores, in a fresh embedded database."""
    from benchmarks import ml_bench

    return _in_fresh_warehouse("hcbml-", "ML benchmark: 63 sample days at scale 1 …", ml_bench.run)


def revenue_benchmarks() -> dict:
    """MRR against an independent computation, attribution per model, budget curves: in a fresh embedded database."""
    from benchmarks import revenue_bench

    return _in_fresh_warehouse("hcbrev-", "revenue benchmark: 90 sample days at scale 1 …", revenue_bench.run)


def speed_benchmarks() -> dict:
    """In-memory speeds the tests no longer assert (benchmarks/speed_bench.py)."""
    from benchmarks import speed_bench

    print("speed benchmark: sample generation, legacy time conversion, trends, anomaly segments …", flush=True)
    result = speed_bench.run()
    print(json.dumps(result, indent=2), flush=True)
    return result


def app_benchmarks() -> dict:
    """API latency at 20 concurrent clients and page load times on this HITCRAFT_HOME's demo warehouse."""
    from benchmarks import app_bench

    print("app benchmark: API at 20 concurrent clients, page loads in chromium …", flush=True)
    result = app_bench.run()
    print(json.dumps(result, indent=2), flush=True)
    return result


def _merge(part: str, value) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[part] = value
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")


def dbt_only() -> None:
    """`python -m benchmarks.run dbt`: only the dbt part, merged into the existing results file."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["dbt"] = dbt_benchmarks()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["dbt"]:
        dbt_only()
    elif sys.argv[1:] == ["app"]:
        _merge("app", app_benchmarks())  # `python -m benchmarks.run app`: on the demo warehouse of HITCRAFT_HOME
    elif sys.argv[1:] == ["speed"]:
        _merge("speed", speed_benchmarks())
    elif sys.argv[1:] == ["experiments"]:
        from benchmarks import experiments_bench

        _merge("experiments", experiments_bench.run())  # pure statistics and the sample simulator: no database
    elif sys.argv[1:] == ["revenue"]:
        _merge("revenue", revenue_benchmarks())  # `python -m benchmarks.run revenue`: a fresh embedded database
    elif sys.argv[1:] == ["ml"]:
        _merge("ml", ml_benchmarks())  # `python -m benchmarks.run ml`: only this part, merged into the results
    else:
        main()
