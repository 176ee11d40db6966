"""The analytics app under load: p50/p95 latency and requests/s of the main API endpoints at 20 concurrent clients,
and the load time of the Overview and Metric explorer pages in Debian's chromium (navigation until the charts are
drawn). On the demo warehouse of this HITCRAFT_HOME (`make demo` fills 60 days); the app runs in a process of its own,
so the load generator does not share its interpreter."""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 20
REQUESTS_PER_ENDPOINT = 400
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _endpoints(newest: str) -> dict[str, str]:
    return {
        "metric series (28 days)": "/api/v1/metrics/dau",
        "metric by segment": "/api/v1/metrics/production_completion_rate?breakdown=platform",
        "weekly series (1 year)": "/api/v1/metrics/render_failure_rate?granularity=week&start=2025-12-01",
        "anomalies": "/api/v1/anomalies",
        "insights search": "/api/v1/insights?q=render",
        "funnel": "/api/v1/funnels/production",
        "retention": "/api/v1/retention",
        "prompts": "/api/v1/prompts",
        "contributions (drill-down)": f"/api/v1/metrics/dau/contributions?date={newest}",
        "health": "/api/v1/health",
    }


def _credentials() -> tuple[str, str, str]:
    """A bench user (admin role) with a password and a token, made fresh each run."""
    from hitcraft_assets.app import auth
    from hitcraft_assets.store import app_users

    app_users.ensure_schema()
    app_users.remove_user("bench")
    password, token = auth.new_password(), auth.new_token()
    app_users.add_user("bench", "admin", auth.hash_password(password))
    app_users.add_token("bench", token)
    return "bench", password, token


WRK_SCRIPT = """
wrk.headers["Authorization"] = "Bearer " .. os.getenv("HITCRAFT_BENCH_TOKEN")
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
    + summary.errors.timeout
  io.write(string.format("RESULT %d %d %d %.0f %.0f\\n", summary.requests, summary.duration, errors,
    latency:percentile(50), latency:percentile(95)))
end
"""
WRK_SECONDS = 15


def _first(base: str, path: str, token: str) -> float:
    """Milliseconds of one request on its own: the first one computes the answer (the cache is empty)."""
    import httpx

    started = time.perf_counter()
    response = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=300)
    assert response.status_code == 200, (path, response.status_code, response.text[:200])
    return round(1000 * (time.perf_counter() - started), 1)


def _wrk(base: str, path: str, token: str, script: Path) -> dict:
    """`CLIENTS` connections for WRK_SECONDS from wrk (a C load generator: it leaves the cores to the server)."""
    done = subprocess.run(
        ["wrk", "-t", "2", "-c", str(CLIENTS), "-d", f"{WRK_SECONDS}s", "--timeout", "60s", "-s", str(script),
         base + path],
        capture_output=True, text=True, check=True, env={**os.environ, "HITCRAFT_BENCH_TOKEN": token},
    )  # fmt: skip
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    requests, micros, errors, p50, p95 = (float(x) for x in line.split()[1:])
    assert errors == 0, (path, done.stdout)
    return {
        "requests": int(requests),
        "p50_ms": round(p50 / 1000, 1),
        "p95_ms": round(p95 / 1000, 1),
        "requests_per_s": round(requests / (micros / 1e6), 1),
    }


async def _load(base: str, path: str, token: str) -> dict:
    import httpx

    latencies: list[float] = []
    queue: asyncio.Queue = asyncio.Queue()
    for _ in range(REQUESTS_PER_ENDPOINT):
        queue.put_nowait(path)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as client:

        async def worker():
            while not queue.empty():
                target = queue.get_nowait()
                started = time.perf_counter()
                response = await client.get(target)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200, (target, response.status_code, response.text[:200])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "p95_ms": round(1000 * latencies[int(len(latencies) * 0.95)], 1),
        "requests_per_s": round(len(latencies) / wall, 1),
    }


def _page_loads(base: str, name: str, password: str, newest: str) -> dict:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        return {"skipped": f"{CHROMIUM} is missing (apt-get install chromium)"}
    pages = {"overview": "/", "metric explorer": "/metrics?metric=dau&range=3M"}
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=name]", name)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        for label, path in pages.items():
            seconds = []
            for _ in range(6):
                started = time.perf_counter()
                page.goto(f"{base}{path}")
                page.wait_for_selector("body[data-ready='1']")
                seconds.append(time.perf_counter() - started)
            out[label] = {"median_s": round(statistics.median(seconds[1:]), 3), "first_s": round(seconds[0], 3)}
        browser.close()
    return out


def run(port: int = 8765, workers: int | None = None) -> dict:
    import httpx

    from hitcraft_assets.store import marts, warehouse

    url = warehouse.warehouse_url()
    newest = marts.last_activity_date(url) if warehouse.table_exists("marts.daily_metrics", url) else None
    if newest is None:
        return {"skipped": "no demo data in this HITCRAFT_HOME: run `make demo` (or `hitcraft demo --no-ui`) first"}
    name, password, token = _credentials()
    workers = workers or os.cpu_count() or 1
    generator = "wrk" if shutil.which("wrk") else "httpx"  # Debian's wrk: apt-get install wrk
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "hitcraft"), "serve", "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HITCRAFT_DATABASE_URL": url},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while server.poll() is None:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        endpoints = {}
        script = Path(tempfile.mkdtemp()) / "bench.lua"
        script.write_text(WRK_SCRIPT)
        for label, path in _endpoints(str(newest)).items():
            print(f"  {label}: {CLIENTS} clients ({generator}) …", flush=True)
            first_ms = _first(base, path, token)
            loaded = _wrk(base, path, token, script) if generator == "wrk" else asyncio.run(_load(base, path, token))
            endpoints[label] = {"first_ms": first_ms, **loaded}
        all_p95 = max(e["p95_ms"] for e in endpoints.values())
        return {
            "clients": CLIENTS,
            "workers": workers,
            "load_generator": generator,
            "data_through": str(newest),
            "endpoints": endpoints,
            "worst_p95_ms": all_p95,
            "page_load": _page_loads(base, name, password, str(newest)),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
        from hitcraft_assets.store import app_users

        app_users.remove_user("bench")


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
