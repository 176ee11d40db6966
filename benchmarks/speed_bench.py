"""Speed of the in-memory pieces that tests used to time (they now check only results; a shared, loaded machine
makes any timing assertion flaky): sample generation, legacy local-time conversion, metric trends, anomaly
detection over many segment series. No database.

``python -m benchmarks.speed_bench`` prints the figures as JSON; ``python -m benchmarks.run speed`` merges them
into results.json under "speed"; ``make bench`` includes them.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta


def _timed(fn) -> tuple[object, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def sample_generation() -> dict:
    """One large day (scale 8, ~170k events) generated and serialised as NDJSON chunks, in memory."""
    from hitcraft_assets.mixpanel.sample import Simulator, load_scenario

    sim = Simulator(load_scenario(), scale=8, anchor_date=date(2025, 5, 15))
    day = datetime(2025, 5, 14, tzinfo=UTC)
    sim._batch(date(2025, 5, 13).toordinal())  # warm-up: user state up to the previous day
    events, seconds = _timed(lambda: sum(k for _, k in sim.ndjson_chunks(day, day + timedelta(days=1))))
    return {"events": events, "seconds": round(seconds, 2), "events_per_s": round(events / seconds)}


def legacy_time_conversion() -> dict:
    """200,000 project-local timestamps (about six days of events) converted to UTC."""
    from hitcraft_assets.mixpanel.timezones import legacy_time_converter

    convert = legacy_time_converter("America/New_York")
    base = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    values = [base + i * 2.7 for i in range(200_000)]
    _, seconds = _timed(lambda: [convert(v) for v in values])
    return {"conversions": len(values), "seconds": round(seconds, 3), "per_s": round(len(values) / seconds)}


def trends() -> dict:
    """metric_trends + period_changes + change_points over 20 metrics × 90 days."""
    import numpy as np
    import pandas as pd

    from hitcraft_assets.analytics.trends import change_points, metric_trends, period_changes

    as_of = date(2025, 6, 29)
    dates = pd.date_range(end=pd.Timestamp(as_of), periods=90, freq="D")
    weekday = np.array([1.15, 1.1, 1.05, 1.0, 0.95, 0.8, 0.75])[dates.day_of_week]
    rng = np.random.default_rng(8)
    frames = []
    for i in range(20):
        values = 100 * weekday + rng.normal(0, 5, 90) + i * np.arange(90) / 30
        frames.append(
            pd.DataFrame(
                {"metric_date": dates.date, "metric": f"m{i}", "value": values, "numerator": values,
                 "denominator": np.nan}
            )
        )  # fmt: skip
    frame = pd.concat(frames)

    def run():
        metric_trends(frame, as_of)
        period_changes(frame, as_of)
        change_points(frame, as_of)

    _, seconds = _timed(run)
    return {"metrics": 20, "days": 90, "seconds": round(seconds, 2)}


def anomaly_segments() -> dict:
    """detect_anomalies over 600 segment series × 60 days."""
    import numpy as np
    import pandas as pd

    from hitcraft_assets.analytics.anomaly import detect_anomalies

    rng = np.random.default_rng(0)
    days = pd.date_range("2026-01-01", periods=60).date
    n_series = 600
    frame = pd.DataFrame(
        {"metric_date": np.tile(days, n_series), "metric": "sessions", "segment_type": "country",
         "segment_value": np.repeat([f"c{i}" for i in range(n_series)], 60),
         "value": rng.poisson(50, size=60 * n_series).astype(float), "numerator": np.nan, "denominator": np.nan}
    )  # fmt: skip
    _, seconds = _timed(lambda: detect_anomalies(frame))
    return {"series": n_series, "days": 60, "seconds": round(seconds, 2)}


def run() -> dict:
    return {
        "sample_generation": sample_generation(),
        "legacy_time_conversion": legacy_time_conversion(),
        "trends_20_metrics": trends(),
        "anomaly_600_segment_series": anomaly_segments(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
