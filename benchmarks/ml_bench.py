"""Anomaly-detection quality (part of `make bench`): on a fresh 63-day sample backfill at scale 1 (every planted
incident flagged on its day with its root cause, no other day flagged) and on public labelled series
(benchmarks/anomaly_bench.py), plus the churn model's held-out scores and the ML steps' run time on that sample."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ANCHOR = date(2026, 6, 1)
DAYS = [ANCHOR - timedelta(days=63 - i) for i in range(63)]
NOW = datetime(2026, 6, 8, 4, tzinfo=UTC)


def load_sample_days(anchor: date, now: datetime, days: list[date]) -> dict:
    """Load sample days (default scenario, scale 1) through the real client and loader into the warehouse."""
    import httpx

    from hitcraft_assets.mixpanel.client import MixpanelClient, MixpanelConfig
    from hitcraft_assets.mixpanel.ingest import load_days
    from hitcraft_assets.mixpanel.ratelimit import RateLimiter
    from hitcraft_assets.mixpanel.sample import SampleMixpanelApp, Simulator, load_scenario
    from hitcraft_assets.store import warehouse
    from hitcraft_assets.store.raw_events import ensure_schema

    app = SampleMixpanelApp(Simulator(load_scenario(), anchor_date=anchor), now=now)
    config = MixpanelConfig(project_id="sample", username="sample", secret="sample", api_base_url="http://sample")
    client = MixpanelClient(
        config, transport=httpx.WSGITransport(app=app), limiter=RateLimiter.unlimited(), now=lambda: now
    )
    started = time.monotonic()
    with warehouse.connection() as conn, client:
        ensure_schema(conn)
        loads = load_days(
            conn, client, days, reporting_tz="UTC", source="bench", client_version="bench", project_today=now.date()
        )
    return {"raw_events": sum(w.rows for w in loads), "ingest_s": time.monotonic() - started}


def _sample_marts(work: Path) -> dict:
    """Load the sample days through the real client and loader, build the models; seconds per step."""
    from benchmarks.dbt_bench import _dbt

    loaded = load_sample_days(ANCHOR, NOW, DAYS)
    vars_ = f'{{"min_date": "{DAYS[0]}", "max_date": "{DAYS[-1]}"}}'
    daily_s, _ = _dbt(["run", "--select", "tag:daily", "--vars", vars_], work)
    tables = "daily_metrics daily_metrics_by_segment dim_users user_lifecycle_daily prompt_performance"
    tables_s, _ = _dbt(["run", "--select", tables], work)
    return {"raw_events": loaded["raw_events"], "ingest_s": loaded["ingest_s"], "dbt_s": daily_s + tables_s}


def run(work: Path) -> dict:
    """The sample and public parts as one JSON-able dict."""
    from benchmarks import anomaly_bench
    from hitcraft_assets.analytics.churn_model import suggest_cutoffs, train_churn_model
    from hitcraft_assets.store import marts, warehouse

    built = _sample_marts(work)
    url = warehouse.warehouse_url()
    metrics = marts.daily_metrics(url)
    segments = marts.daily_metrics_by_segment(url)
    started = time.monotonic()
    sample = anomaly_bench.evaluate_on_sample(metrics, segments, ANCHOR - timedelta(days=12))
    anomaly_s = time.monotonic() - started
    from hitcraft_assets.analytics import metric_catalogue
    from hitcraft_assets.analytics.forecast import forecast_metrics
    from hitcraft_assets.defs.ml.trends import WARMUP_DAYS

    started = time.monotonic()
    _, backtest = forecast_metrics(
        metrics, DAYS[-1], names=list(metric_catalogue.forecast_metrics()), start=DAYS[0] + timedelta(days=WARMUP_DAYS)
    )
    forecast_s = time.monotonic() - started
    activity, users = marts.user_daily_activity(url), marts.dim_users(url)
    started = time.monotonic()
    train_cutoffs, eval_cutoff = suggest_cutoffs(activity)
    model = train_churn_model(activity, users, train_cutoffs, eval_cutoff)
    churn_s = time.monotonic() - started
    return {
        "sample": {
            "days": f"{DAYS[0]}..{DAYS[-1]}",
            "raw_events": built["raw_events"],
            "incident_day": str(ANCHOR - timedelta(days=12)),
            "anomaly": sample,
            "anomaly_seconds": round(anomaly_s, 1),
            "churn": {
                "train_cutoffs": [str(c) for c in model.train_cutoffs],
                "eval_cutoff": str(model.eval_cutoff),
                "train_size": model.train_size,
                "eval_size": model.eval_size,
                "metrics": model.metrics,
                "seconds": round(churn_s, 1),
            },
        },
        "forecast_backtest": {
            row["metric"]: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "metric"}
            for row in backtest.to_dict(orient="records")
        },
        "forecast_seconds": round(forecast_s, 1),
        "public": anomaly_bench.evaluate_public(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
