"""Read the modeled tables and ML outputs the insight generators and the reports need, for a range of days.

Each table is read from a lookback before the first day (the generators need history: trailing windows, day-30
retention, cohorts) to the last day; tables no run has written yet come back as None (their generators then
produce nothing), so a young warehouse still gets insights from what exists.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import cache

import pandas as pd

from hitcraft_assets.analytics.insights import InsightInputs
from hitcraft_assets.store import marts, warehouse

#: Days read before the first insight day: the longest history a generator looks at (8 weeks of metric history,
#: signups 35+ days before for day-30 retention, their first weeks of activity) with margin.
LOOKBACK_DAYS = 120

#: field of InsightInputs / report input -> (table, date column or None for the whole table)
TABLES = {
    "funnel_conversions": ("marts.funnel_conversions", "entry_date"),
    "prompt_performance": ("marts.prompt_performance", "metric_date"),
    "retention_cohorts": ("marts.retention_cohorts", None),
    "feature_adoption": ("marts.feature_adoption", None),
    "anomaly_flags": ("ml.anomaly_flags", "metric_date"),
    "anomaly_root_causes": ("ml.anomaly_root_causes", "metric_date"),
    "metric_trends": ("ml.metric_trends", "as_of"),
    "metric_period_changes": ("ml.metric_period_changes", "as_of"),
    "metric_change_points": ("ml.metric_change_points", "as_of"),
    "metric_forecasts": ("ml.metric_forecasts", "as_of"),
    "churn_risk_by_segment": ("ml.churn_risk_by_segment", "score_date"),
    "persona_summary": ("ml.persona_summary", "week_start"),
    "persona_migration": ("ml.persona_migration", "week_start"),
    "churn_scores": ("ml.churn_scores", "score_date"),
    "experiment_summaries": ("experiments.experiment_summaries", "as_of"),
    "experiment_readouts": ("experiments.readouts", "as_of"),
    "experiment_hypotheses": ("experiments.hypotheses", None),
    "ai_rollouts": ("experiments.ai_rollouts", "as_of"),
}
#: tables read by the reports and the app, not by the insight generators
NOT_INSIGHT_INPUTS = ("metric_change_points", "churn_scores")


def read_table(
    url: str | None,
    name: str,
    start: date | None,
    end: date | None,
    equal: dict[str, object] | None = None,
    columns: tuple[str, ...] | None = None,
) -> pd.DataFrame | None:
    """One of TABLES with its date column in start..end, or None when the table does not exist yet. `equal`:
    column -> value filters and `columns`: the columns to read (both checked against the table's columns, so no
    caller's string reaches the SQL but as a bound value)."""
    table, column = TABLES[name]
    if not warehouse.table_exists(table, url):
        return None
    known = table_columns(table, url)
    unknown = [c for c in [*(equal or {}), *(columns or ())] if c not in known]
    if unknown:
        raise ValueError(f"{table} has no column(s) {', '.join(unknown)}")
    clauses, params = [], {}
    for i, (name_, value) in enumerate((equal or {}).items()):
        clauses.append(f'"{name_}" = %(eq{i})s')
        params[f"eq{i}"] = value
    if column and start is not None:
        clauses.append(f"{column} >= %(start)s")
        params["start"] = start
    if column and end is not None:
        clauses.append(f"{column} <= %(end)s")
        params["end"] = end
    where = (" where " + " and ".join(clauses)) if clauses else ""
    selected = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    frame = warehouse.read_frame(f"select {selected} from {table}{where}", params, url)
    for col in frame.columns:  # numeric columns arrive as Decimal
        present = frame[col].dropna()
        if frame[col].dtype == object and len(present) and isinstance(present.iloc[0], Decimal):
            frame[col] = pd.to_numeric(frame[col]).astype(float)
    return frame


def newest_day(url: str | None, name: str) -> date | None:
    """The newest value of the date column of one of TABLES (None when the table is missing or empty)."""
    table, column = TABLES[name]
    if column is None:
        raise ValueError(f"{table} has no date column")
    if not warehouse.table_exists(table, url):
        return None
    return warehouse.read_frame(f"select max({column}) as newest from {table}", url=url)["newest"].iloc[0]


@cache
def _columns_of(table: str, url: str | None) -> frozenset[str]:
    schema, name = table.split(".")
    frame = warehouse.read_frame(
        "select column_name from information_schema.columns where table_schema = %(s)s and table_name = %(t)s",
        {"s": schema, "t": name},
        url,
    )
    return frozenset(frame["column_name"])


def table_columns(table: str, url: str | None) -> frozenset[str]:
    """The columns of a table (cached per process; a table that gained columns since is read again)."""
    columns = _columns_of(table, url)
    if not columns:
        _columns_of.cache_clear()
        columns = _columns_of(table, url)
    return columns


def read_insight_inputs(url: str | None, first: date, last: date, lookback_days: int = LOOKBACK_DAYS) -> InsightInputs:
    """Everything `generate_insights` reads for the days first..last (rows after `last` are not read)."""
    start = first - timedelta(days=lookback_days)
    marts_ready = warehouse.table_exists("marts.daily_metrics", url)
    frames = {name: read_table(url, name, start, last) for name in TABLES if name not in NOT_INSIGHT_INPUTS}
    return InsightInputs(
        daily_metrics=marts.daily_metrics(url, start, last) if marts_ready else None,
        user_daily_activity=marts.user_daily_activity(url, start, last) if marts_ready else None,
        dim_users=marts.dim_users(url) if marts_ready else None,
        **frames,
    )
