"""dbt `--vars` for a run's partition window (pure, unit-tested)."""

from __future__ import annotations

import json
from datetime import date


def partition_vars(first: str | date, last: str | date) -> dict[str, str]:
    """The reporting days [first, last] a partitioned dbt run rebuilds (inclusive, YYYY-MM-DD)."""
    first_day, last_day = date.fromisoformat(str(first)), date.fromisoformat(str(last))
    if first_day > last_day:
        raise ValueError(f"partition window starts after it ends: {first_day} > {last_day}")
    return {"min_date": first_day.isoformat(), "max_date": last_day.isoformat()}


def vars_arg(first: str | date, last: str | date) -> list[str]:
    return ["--vars", json.dumps(partition_vars(first, last))]
