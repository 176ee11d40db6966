"""Load days of the sample Mixpanel (default scenario, fixed anchor) into raw.events and build the experiment
and AI models with dbt: the warehouse the experiments tests read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hitcraft_assets.mixpanel.lines import utc_bounds_of_dates
from hitcraft_assets.mixpanel.sample import Simulator, load_scenario
from hitcraft_assets.store.raw_events import ensure_schema, load_window

ANCHOR = date(2025, 5, 15)
DAYS = 56  # anchor-56d .. anchor-1d: covers every default experiment and rollout
MODELS = "+experiment_user_outcomes +ai_generations"


def sample_days(anchor: date = ANCHOR, days: int = DAYS) -> list[date]:
    return [anchor - timedelta(days=days - i) for i in range(days)]


def load_sample(conn, days: list[date], *, scale: float = 1.0, anchor: date = ANCHOR, seed: int | None = None):
    """Load the sample's export lines for `days` (UTC reporting days) in one window."""
    sim = Simulator(load_scenario(), scale=scale, anchor_date=anchor, seed=seed)
    start = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
    end = start + timedelta(days=len(days))

    def export(consume):
        def lines():
            for chunk, _ in sim.ndjson_chunks(start, end):
                yield from chunk.splitlines(keepends=True)

        return consume(lines())

    ensure_schema(conn)
    return load_window(
        conn,
        days=days,
        reporting_timezone="UTC",
        export_from=days[0],
        export_to=days[-1],
        export_bounds_utc=utc_bounds_of_dates(days[0], days[-1], "UTC"),
        export=export,
        source="sample",
        client_version="test",
    )
