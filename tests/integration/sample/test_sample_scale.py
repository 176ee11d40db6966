"""A large day is generated and serialised as streamed NDJSON in bounded chunks. Its throughput is measured in
`make bench` (benchmarks/speed_bench.py), not asserted here: speed depends on the machine and its load."""

from datetime import UTC, date, datetime, timedelta

from hitcraft_assets.mixpanel.sample import Simulator, load_scenario


def test_large_day_streams_in_bounded_chunks():
    sim = Simulator(load_scenario(), scale=8, anchor_date=date(2025, 5, 15))
    day = datetime(2025, 5, 14, tzinfo=UTC)
    sim._batch(date(2025, 5, 13).toordinal())  # warm-up: user state up to the previous day
    n = 0
    max_chunk = 0
    for chunk, k in sim.ndjson_chunks(day, day + timedelta(days=1)):
        n += k
        max_chunk = max(max_chunk, len(chunk))
    assert n > 150_000
    assert max_chunk < 4_000_000  # streamed in bounded chunks
