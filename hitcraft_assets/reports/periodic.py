"""The weekly digest (trends, change points, strategic recommendations) and the monthly review (cohort
retention, personas, forecasts): `Report`s rendered by the same templates as the daily report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.charts import bar_chart_png, metric_chart_png
from hitcraft_assets.analytics.insights.model import Insight
from hitcraft_assets.reports.daily import (
    Report,
    ReportChart,
    ReportTable,
    assemble_report,
    headline_insights,
    key_metric_section,
)
from hitcraft_assets.reports.formatting import (
    format_metric_value,
    format_number,
    format_p_value,
    format_percent,
    is_missing,
    is_proportion_metric,
    metric_label,
)


def build_weekly_digest(
    as_of: date,
    daily_metrics: pd.DataFrame,
    period_changes: pd.DataFrame,
    insights: Sequence[Insight],
    *,
    metric_trends: pd.DataFrame | None = None,
    change_points: pd.DataFrame | None = None,
    forecasts: pd.DataFrame | None = None,
    key_metrics: Sequence[str] | None = None,
    max_insights: int = 7,
    max_actions: int = 5,
    trend_window_days: int = 28,
    max_trend_charts: int = 3,
    history_days: int = 56,
) -> Report:
    """The weekly digest of the 7 days ending `as_of`: key metrics week over week, the week's insights, the
    metrics' trends and change points, and the strategic recommendations.

    Inputs as for `daily.build_daily_report`, plus (all optional): `metric_trends` (ml.metric_trends: as_of,
    metric, window_days, test, trend, p_value, sen_slope_pct_per_week, window_mean) - rows of `as_of` with
    `window_days` == `trend_window_days`; `change_points` (ml.metric_change_points: as_of, metric,
    change_date, mean_before, mean_after, rel_change) - rows of `as_of` with a change in the last
    `trend_window_days` days; `forecasts` (ml.metric_forecasts: as_of, metric, forecast_date, forecast,
    lower_bound, upper_bound) drawn on the trend charts. `insights`: every insight of the week, ranked; one
    per key is kept (its latest as_of), in the given order. Charts: the `max_trend_charts` metrics with the
    most significant increasing/decreasing trends, last `history_days` days.
    """
    as_of = pd.Timestamp(as_of).date()
    metrics, notes = key_metric_section(as_of, daily_metrics, period_changes, key_metrics, "wow", 28)
    shown = headline_insights(latest_per_key(insights, as_of - timedelta(days=6), as_of), max_insights)
    charts, tables = [], []
    if metric_trends is not None:
        trends = _rows_of(metric_trends, "as_of", as_of)
        trends = trends[(trends["window_days"] == trend_window_days) & (trends["test"] != "skipped")]
        trends = trends.assign(
            significant=trends["trend"].isin(["increasing", "decreasing"]),
            p_sort=trends["p_value"].astype(float).fillna(1.0),
        ).sort_values(["significant", "p_sort"], ascending=[False, True])
        if trends.empty:
            notes.append(f"No {trend_window_days}-day trend tests for {as_of}.")
        else:
            tables.append(_trend_table(trends, trend_window_days))
            for metric in trends[trends["significant"]]["metric"].head(max_trend_charts):
                charts.append(_history_chart(metric, daily_metrics, forecasts, as_of, history_days, "trend"))
    if change_points is not None:
        table = _change_point_table(change_points, as_of, trend_window_days)
        if table is not None:
            tables.append(table)
    title = f"HitCraft weekly digest: {as_of - timedelta(days=6)} – {as_of}"
    return assemble_report("weekly", title, as_of, metrics, shown, max_actions, charts, tables, notes)


def build_monthly_review(
    as_of: date,
    daily_metrics: pd.DataFrame,
    period_changes: pd.DataFrame,
    insights: Sequence[Insight],
    *,
    retention_cohorts: pd.DataFrame | None = None,
    persona_summary: pd.DataFrame | None = None,
    forecasts: pd.DataFrame | None = None,
    key_metrics: Sequence[str] | None = None,
    forecast_metrics: Sequence[str] | None = None,
    max_insights: int = 10,
    max_actions: int = 6,
    cohort_weeks: int = 8,
    retention_weeks: int = 6,
    history_days: int = 56,
) -> Report:
    """The monthly review of the 28 days ending `as_of`: key metrics month over month, the month's insights,
    weekly cohort retention, personas and forecasts.

    Inputs as for `daily.build_daily_report`, plus (all optional): `retention_cohorts` (mart: cohort_grain,
    cohort_start, period_number, period_end, cohort_users, retention_rate) - the last `cohort_weeks` weekly
    cohorts, bounded retention in weeks 1..`retention_weeks` for periods ended by `as_of`, and a bar chart of
    week-1 retention; `persona_summary` (ml.persona_summary: week_start, persona, users, share,
    mean_active_days, productions_per_user, subscription_rate, value_share) - its latest week_start <= as_of;
    `forecasts` (ml.metric_forecasts) - the latest as_of <= `as_of`, one chart per metric of
    `forecast_metrics` (history of `history_days` days) and a table of the forecasts 7 and 28 days ahead.
    `insights`: every insight of the 28 days, ranked; one per key is kept (its latest as_of).
    """
    as_of = pd.Timestamp(as_of).date()
    forecast_metrics = forecast_metrics or metric_catalogue.review_chart_metrics()
    metrics, notes = key_metric_section(as_of, daily_metrics, period_changes, key_metrics, "mom", 56)
    shown = headline_insights(latest_per_key(insights, as_of - timedelta(days=27), as_of), max_insights)
    charts, tables = [], []
    if retention_cohorts is not None:
        retention = _retention_section(retention_cohorts, as_of, cohort_weeks, retention_weeks)
        if retention is None:
            notes.append("No weekly retention cohorts before the report day.")
        else:
            charts.append(retention[0])
            tables.append(retention[1])
    if persona_summary is not None:
        personas = _persona_section(persona_summary, as_of)
        if personas is not None:
            charts.append(personas[0])
            tables.append(personas[1])
    if forecasts is not None:
        dated = forecasts.assign(as_of=pd.to_datetime(forecasts["as_of"]).dt.date)
        dated = dated[dated["as_of"] <= as_of]
        if dated.empty:
            notes.append("No forecasts made by the report day.")
        else:
            made = dated["as_of"].max()
            latest = dated[dated["as_of"] == made]
            for metric in [m for m in forecast_metrics if m in set(latest["metric"])]:
                charts.append(_history_chart(metric, daily_metrics, latest, as_of, history_days, "forecast"))
            tables.append(_forecast_table(latest, forecast_metrics, made))
    title = f"HitCraft monthly review: {as_of - timedelta(days=27)} – {as_of}"
    return assemble_report("monthly", title, as_of, metrics, shown, max_actions, charts, tables, notes)


def latest_per_key(insights: Sequence[Insight], start: date, end: date) -> list[Insight]:
    """Insights with as_of in [start, end], one per key (the latest version), in order of first appearance."""
    latest: dict[str, Insight] = {}
    for insight in insights:
        if start <= insight.as_of <= end:
            kept = latest.get(insight.key)
            if kept is None or insight.as_of > kept.as_of:
                latest[insight.key] = insight
    return list(latest.values())


def _rows_of(frame: pd.DataFrame, column: str, day: date) -> pd.DataFrame:
    dated = frame.assign(**{column: pd.to_datetime(frame[column]).dt.date})
    return dated[dated[column] == day]


def _trend_table(trends: pd.DataFrame, window_days: int) -> ReportTable:
    return ReportTable(
        title=f"Trends over the last {window_days} days",
        columns=("Metric", "Trend", "Slope per week", "Test", "p-value", f"{window_days}-day mean"),
        rows=tuple(
            (
                metric_label(row.metric),
                str(row.trend),
                format_percent(row.sen_slope_pct_per_week / 100, 1, signed=True),
                str(row.test),
                format_p_value(row.p_value),
                format_metric_value(row.metric, row.window_mean),
            )
            for row in trends.itertuples()
        ),
        note="Mann-Kendall tests (seasonal when the metric has a weekly cycle); slope = Sen's slope in % of the "
        "window mean per week.",
    )


def _change_point_table(change_points: pd.DataFrame, as_of: date, window_days: int) -> ReportTable | None:
    rows = _rows_of(change_points, "as_of", as_of)
    rows = rows.assign(change_date=pd.to_datetime(rows["change_date"]).dt.date)
    rows = rows[rows["change_date"] > as_of - timedelta(days=window_days)].sort_values("change_date")
    if rows.empty:
        return None
    return ReportTable(
        title="Level shifts (change points)",
        columns=("Metric", "From day", "Mean before", "Mean after", "Change"),
        rows=tuple(
            (
                metric_label(row.metric),
                str(row.change_date),
                format_metric_value(row.metric, row.mean_before),
                format_metric_value(row.metric, row.mean_after),
                format_percent(row.rel_change, 1, signed=True),
            )
            for row in rows.itertuples()
        ),
    )


def _history_chart(
    metric: str, daily_metrics: pd.DataFrame, forecasts: pd.DataFrame | None, as_of: date, days: int, kind: str
) -> ReportChart:
    values = daily_metrics[daily_metrics["metric"] == metric]
    dates = pd.to_datetime(values["metric_date"])
    keep = (dates > pd.Timestamp(as_of) - pd.Timedelta(days=days)) & (dates <= pd.Timestamp(as_of))
    history = pd.Series(values["value"].astype(float).to_numpy()[keep.to_numpy()], index=dates[keep])
    forecast = None
    if forecasts is not None:
        rows = forecasts[forecasts["metric"] == metric]
        made = pd.to_datetime(rows["as_of"]).dt.date
        if (made <= as_of).any():
            rows = rows[made == made[made <= as_of].max()]  # the latest forecast made by the report day
            forecast = pd.DataFrame(
                {
                    "date": pd.to_datetime(rows["forecast_date"]),
                    "forecast": rows["forecast"].astype(float),
                    "lower": rows["lower_bound"].astype(float),
                    "upper": rows["upper_bound"].astype(float),
                }
            )
    label = metric_label(metric)
    return ReportChart(
        key=f"{kind}-{metric}".replace("_", "-"),
        title=f"{label}: last {days} days" + (" and forecast" if forecast is not None else ""),
        png=metric_chart_png(history, title=label, forecast=forecast, as_percent=is_proportion_metric(metric)),
    )


def _forecast_table(latest: pd.DataFrame, metrics: Sequence[str], made: date) -> ReportTable:
    latest = latest.assign(forecast_date=pd.to_datetime(latest["forecast_date"]).dt.date)
    rows = []
    for metric in [m for m in metrics if m in set(latest["metric"])]:
        cells = [metric_label(metric)]
        for ahead in (7, 28):
            hit = latest[(latest["metric"] == metric) & (latest["forecast_date"] == made + timedelta(days=ahead))]
            if hit.empty:
                cells.append("n/a")
                continue
            row = hit.iloc[0]
            low, high = format_metric_value(metric, row["lower_bound"]), format_metric_value(metric, row["upper_bound"])
            cells.append(f"{format_metric_value(metric, row['forecast'])} [{low}, {high}]")
        rows.append(tuple(cells))
    level = latest["level"].iloc[0] if "level" in latest and len(latest) else None
    level_text = f"{format_percent(level, 0)} " if not is_missing(level) else ""
    return ReportTable(
        title=f"Forecasts made on {made}",
        columns=("Metric", f"{made + timedelta(days=7)} (+7 days)", f"{made + timedelta(days=28)} (+28 days)"),
        rows=tuple(rows),
        note=f"Point forecast with its {level_text}prediction interval.",
    )


def _retention_section(
    cohorts: pd.DataFrame, as_of: date, cohort_weeks: int, retention_weeks: int
) -> tuple[ReportChart, ReportTable] | None:
    weekly = cohorts[cohorts["cohort_grain"] == "week"].copy()
    weekly["cohort_start"] = pd.to_datetime(weekly["cohort_start"]).dt.date
    weekly["period_end"] = pd.to_datetime(weekly["period_end"]).dt.date
    weekly = weekly[weekly["period_end"] <= as_of]  # only periods that are over
    if weekly.empty:
        return None
    starts = sorted(weekly["cohort_start"].unique())[-cohort_weeks:]
    grid = weekly[weekly["cohort_start"].isin(starts)].pivot_table(
        index="cohort_start", columns="period_number", values="retention_rate", aggfunc="first"
    )
    sizes = weekly.groupby("cohort_start")["cohort_users"].first()
    periods = list(range(1, retention_weeks + 1))
    rows = tuple(
        (str(start), format_number(sizes[start], 0))
        + tuple(format_percent(grid.at[start, p], 0) if p in grid.columns else "n/a" for p in periods)
        for start in starts
    )
    week_one = [grid.at[s, 1] if 1 in grid.columns else float("nan") for s in starts]
    chart = ReportChart(
        key="retention",
        title="Week-1 retention by weekly cohort",
        png=bar_chart_png([str(s) for s in starts], week_one, title="Week-1 retention", as_percent=True),
    )
    table = ReportTable(
        title="Weekly cohort retention (active in week N after the first-seen week)",
        columns=("Cohort week", "Users") + tuple(f"W{p}" for p in periods),
        rows=rows,
        note="n/a: the week has not ended by the report day.",
    )
    return chart, table


def _persona_section(persona_summary: pd.DataFrame, as_of: date) -> tuple[ReportChart, ReportTable] | None:
    summary = persona_summary.assign(week_start=pd.to_datetime(persona_summary["week_start"]).dt.date)
    summary = summary[summary["week_start"] <= as_of]
    if summary.empty:
        return None
    week = summary["week_start"].max()
    rows = summary[summary["week_start"] == week].sort_values("users", ascending=False)
    chart = ReportChart(
        key="personas",
        title=f"Personas in the week of {week}",
        png=bar_chart_png(rows["persona"].astype(str).tolist(), rows["share"].tolist(), "Share of users", True),
    )
    table = ReportTable(
        title=f"Personas (week of {week})",
        columns=("Persona", "Users", "Share", "Active days", "Productions/user", "Subscribed", "Value share"),
        rows=tuple(
            (
                str(row.persona),
                format_number(row.users, 0),
                format_percent(row.share),
                format_number(row.mean_active_days, 1),
                format_number(row.productions_per_user, 1),
                format_percent(row.subscription_rate),
                format_percent(row.value_share),
            )
            for row in rows.itertuples()
        ),
    )
    return chart, table
