"""Days of the sample Mixpanel (default scenario, fixed anchor) loaded into raw.events through the real client:
the warehouse the experiments tests build their dbt models on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hitcraft_assets.store.raw_events import ensure_schema

ANCHOR = date(2025, 5, 15)
DAYS = 56  # anchor-56d .. anchor-1d: covers every default experiment and rollout
MODELS = "+experiment_user_outcomes +ai_generations"


def sample_days(anchor: date = ANCHOR, days: int = DAYS) -> list[date]:
    return [anchor - timedelta(days=days - i) for i in range(days)]


def load_sample(conn, days: list[date], *, scale: float = 1.0, anchor: date = ANCHOR):
    """Load the sample's `days` (UTC reporting days) through the real Mixpanel client, as the platform does. The
    sample's clock stands a week after the anchor, so every late event of these days has arrived."""
    from hitcraft_assets.mixpanel.ingest import load_days
    from testkit.sample_client import sample_client

    now = datetime(anchor.year, anchor.month, anchor.day, 4, tzinfo=UTC) + timedelta(days=7)
    ensure_schema(conn)
    with sample_client(anchor=anchor, now=now, scale=scale) as client:
        return load_days(
            conn, client, days, project_today=now.date(), reporting_tz="UTC", source="sample", client_version="test"
        )


def sample_spend_csv(path, days: list[date], *, scale: float = 1.0, anchor: date = ANCHOR):
    """The sample's marketing spend for `days` as the CSV a team would import (`hitcraft revenue import-spend`)."""
    from hitcraft_assets.cli.revenue import write_spend_csv
    from hitcraft_assets.mixpanel.sample import Simulator, load_scenario
    from hitcraft_assets.mixpanel.sample.marketing import spend_rows

    sim = Simulator(load_scenario(), anchor_date=anchor, scale=scale)
    write_spend_csv(spend_rows(sim.model, days[0], days[-1]), path)
    return path
