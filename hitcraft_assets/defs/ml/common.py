"""Shared wiring for the ML assets: upstream dbt keys, partition windows, metadata helpers."""

import base64
import math
from datetime import date, timedelta

import dagster as dg

from hitcraft_assets.defs.dbt.assets import model_key
from hitcraft_assets.defs.partitions import daily_partitions

DAILY_METRICS = model_key("daily_metrics")
DAILY_METRICS_BY_SEGMENT = model_key("daily_metrics_by_segment")
USER_DAILY_ACTIVITY = model_key("user_daily_activity")
DIM_USERS = model_key("dim_users")
PROMPT_PERFORMANCE = model_key("prompt_performance")

ML_GROUP = "ml"


def window_days(context: dg.AssetExecutionContext) -> list[date]:
    """The run's partition days (one for a daily run, the whole range for a single-run backfill)."""
    window = context.partition_key_range
    first, last = date.fromisoformat(window.start), date.fromisoformat(window.end)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def png_markdown(png: bytes, alt: str) -> str:
    """A PNG inline in Markdown metadata (the Dagster UI renders data URIs)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def table_markdown(frame, max_rows: int = 20, floatfmt: str = ".3g") -> str:
    """A small DataFrame as a Markdown table (the first `max_rows` rows)."""
    if frame.empty:
        return "_(none)_"
    shown = frame.head(max_rows)
    header = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = [
        "| " + " | ".join(_cell(v, floatfmt) for v in row) + " |" for row in shown.itertuples(index=False, name=None)
    ]
    more = [f"\n_… {len(frame) - max_rows} more rows_"] if len(frame) > max_rows else []
    return "\n".join([header, rule, *rows, *more])


def _cell(value, floatfmt: str) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else format(value, floatfmt)
    return str(value).replace("|", "\\|")


def daily_asset_kwargs() -> dict:
    """Partitioning shared by the daily ML assets: days of the reporting zone, ranges in one run, run when new
    data arrives upstream (eager: the newest day, once its inputs are updated and none is missing or running)."""
    return {
        "partitions_def": daily_partitions,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "group_name": ML_GROUP,
        "automation_condition": dg.AutomationCondition.eager(),
    }


def too_little_data(check_name: str, reason: str, description: str, **metadata) -> dg.AssetCheckResult:
    """The check result of an asset that had too little data to do its work (a young warehouse): a warning that
    says why, not a failure, so backfills of short ranges still succeed."""
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"reason": reason, **metadata},
        description=description,
    )
