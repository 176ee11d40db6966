"""Generation + NDJSON serialisation throughput on a large day (bench: scale 43 ~ 1M events/day)."""

import time
from datetime import UTC, date, datetime, timedelta

from hitcraft_assets.mixpanel.sample import Simulator, load_scenario


def test_large_day_throughput():
    sim = Simulator(load_scenario(), scale=8, anchor_date=date(2025, 5, 15))
    day = datetime(2025, 5, 14, tzinfo=UTC)
    sim._batch(date(2025, 5, 13).toordinal())  # warm-up: user state up to the previous day
    t0 = time.perf_counter()
    n = 0
    max_chunk = 0
    for chunk, k in sim.ndjson_chunks(day, day + timedelta(days=1)):
        n += k
        max_chunk = max(max_chunk, len(chunk))
    rate = n / (time.perf_counter() - t0)
    assert n > 150_000
    assert max_chunk < 4_000_000  # streamed in bounded chunks
    assert rate > 100_000, f"{rate:,.0f} events/s"
