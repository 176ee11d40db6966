"""The report record (`Report`, alias `DailyReport`) and the daily report built from the marts and ML outputs.

Renderers: `rendering.render_markdown` / `render_text` / `render_html` and `pdf.render_pdf`. The weekly digest and
the monthly review (`periodic.py`) are `Report`s of other kinds built from the same parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.charts import bar_chart_png, metric_chart_png, sparkline_png
from hitcraft_assets.analytics.insights.model import Insight, Recommendation
from hitcraft_assets.analytics.insights.ranking import each_generator_first
from hitcraft_assets.reports.formatting import (
    format_metric_value,
    format_number,
    format_percent,
    is_missing,
    is_proportion_metric,
    metric_label,
)

REPORT_KINDS = ("daily", "weekly", "monthly")
# The daily key-metrics table already shows each metric's week-over-week change with its test; metric trends lead
# the weekly digest and fill the daily list only when fewer other findings passed.
DAILY_LATER_TYPES = ("trend",)
COMPARISON_LABELS = {"wow": "week over week", "mom": "month over month"}
COMPARISON_DAYS = {"wow": 7, "mom": 28}


@dataclass(frozen=True)
class KeyMetric:
    """One row of the key metrics table. `day_value`: the metric on the report day; `current` / `previous`: the
    comparison windows' values from `period_changes` (mean daily value for counts, pooled ratio for rates);
    `abs_change`, `rel_change` with intervals `abs_ci_*` (metric unit) and `rel_ci_*` (fraction); `p_value`
    None/NaN when not tested (`note` says why); `sparkline`: PNG of the recent daily values (None if no data)."""

    metric: str
    label: str
    kind: str
    day_value: float | None
    current: float | None
    previous: float | None
    abs_change: float | None
    rel_change: float | None
    abs_ci_low: float | None
    abs_ci_high: float | None
    rel_ci_low: float | None
    rel_ci_high: float | None
    p_value: float | None
    test: str
    note: str = ""
    sparkline: bytes | None = None


@dataclass(frozen=True)
class ReportChart:
    """A PNG chart with its title and a one-line caption (may quote segment values: renderers escape it)."""

    key: str  # stable, [a-z0-9_-]: used as the e-mail Content-ID
    title: str
    png: bytes
    caption: str = ""


@dataclass(frozen=True)
class ReportTable:
    """A small table of already formatted cells (strings); renderers escape every cell."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


@dataclass(frozen=True)
class Report:
    """Everything a report shows, independent of the output format.

    kind: 'daily' | 'weekly' | 'monthly'. as_of: the last day covered. comparison: 'wow' | 'mom' (the window of
    the key metric changes). insights: ranked, best first. recommendations: the numbered actions. tables and
    charts: extra sections in order. executive_summary / summary_source ('template' | 'claude'): set with
    `with_summary`. notes: caveats shown at the end (missing inputs, incomplete windows).
    """

    kind: str
    title: str
    as_of: date
    comparison: str
    key_metrics: tuple[KeyMetric, ...]
    insights: tuple[Insight, ...]
    recommendations: tuple[Recommendation, ...]
    charts: tuple[ReportChart, ...] = ()
    tables: tuple[ReportTable, ...] = ()
    executive_summary: str = ""
    summary_source: str = "template"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.kind not in REPORT_KINDS:
            raise ValueError(f"report kind {self.kind!r} is not one of {REPORT_KINDS}")
        if self.comparison not in COMPARISON_LABELS:
            raise ValueError(f"comparison {self.comparison!r} is not one of {tuple(COMPARISON_LABELS)}")


DailyReport = Report  # the name used by the issue; a daily report is a Report with kind 'daily'


def with_summary(report: Report, text: str, source: str) -> Report:
    """A copy of `report` with its executive summary set (`source`: 'claude' or 'template')."""
    return replace(report, executive_summary=text, summary_source=source)


def build_daily_report(
    as_of: date,
    daily_metrics: pd.DataFrame,
    period_changes: pd.DataFrame,
    insights: Sequence[Insight],
    *,
    funnel_conversions: pd.DataFrame | None = None,
    anomaly_flags: pd.DataFrame | None = None,
    key_metrics: Sequence[str] | None = None,
    max_insights: int = 5,
    max_actions: int = 5,
    funnel_name: str = "production",
    funnel_days: int = 7,
    anomaly_lookback_days: int = 7,
    sparkline_days: int = 28,
    experiment_summaries: pd.DataFrame | None = None,
    hypotheses: pd.DataFrame | None = None,
) -> Report:
    """The daily insight report of `as_of` (the spec's "Example Daily Insight Report", with evidence).

    Inputs: `daily_metrics` (mart: metric_date, metric, value, ...) for the day's values and the sparklines of
    the last `sparkline_days` days; `period_changes` (`analytics.period_changes` output / ml.metric_period_changes:
    as_of, metric, comparison, kind, current, previous, abs_change, rel_change, ci_low, ci_high, abs_ci_low,
    abs_ci_high, p_value, test, note) - the rows of `as_of` with comparison 'wow'; `insights`: the day's ranked
    insights, best first (`max_insights` are shown, chosen by `headline_insights`; their recommendations give up
    to `max_actions` actions); `funnel_conversions` (mart) optional: step conversion of `funnel_name` (breakdown
    'all') for users who entered on the last `funnel_days` days whose conversion window is complete, as a bar chart
    and a table; `anomaly_flags` (ml.anomaly_flags) optional: the latest flagged anomaly of the last
    `anomaly_lookback_days` days (product-wide series first, then the largest |severity|) as a chart with its
    expected band, and a table of the flags. Metrics in `key_metrics` without data are left out (a note says so).
    """
    as_of = pd.Timestamp(as_of).date()
    metrics, notes = key_metric_section(as_of, daily_metrics, period_changes, key_metrics, "wow", sparkline_days)
    charts: list[ReportChart] = []
    tables: list[ReportTable] = []
    if funnel_conversions is not None:
        funnel = funnel_section(funnel_conversions, as_of, funnel_name, funnel_days)
        if funnel is None:
            notes.append(f"No complete funnel windows for funnel {funnel_name!r} before {as_of}.")
        else:
            charts.append(funnel[0])
            tables.append(funnel[1])
    if anomaly_flags is not None:
        anomaly = anomaly_section(anomaly_flags, as_of, anomaly_lookback_days)
        if anomaly is not None:
            charts.insert(0, anomaly[0])
            tables.insert(0, anomaly[1])
    if experiment_summaries is not None:  # experiments.experiment_summaries, with the hypotheses they test
        from hitcraft_assets.reports.experiments import experiment_section

        section = experiment_section(experiment_summaries, hypotheses, as_of)
        if section is not None:
            tables.append(section)
    shown = headline_insights(insights, max_insights, later_types=DAILY_LATER_TYPES)
    title = f"HitCraft Analytics Insights: {as_of:%B} {as_of.day}, {as_of.year}"
    return assemble_report("daily", title, as_of, metrics, shown, max_actions, charts, tables, notes)


def key_metric_section(
    as_of: date,
    daily_metrics: pd.DataFrame,
    period_changes: pd.DataFrame,
    key_metrics: Sequence[str] | None,
    comparison: str,
    sparkline_days: int,
) -> tuple[list[KeyMetric], list[str]]:
    """A report's key-metric rows (the catalogue's key metrics unless `key_metrics` names others) and its notes on
    the ones without data or without a test."""
    names = key_metrics or metric_catalogue.key_metrics()
    metrics, missing = key_metric_rows(as_of, daily_metrics, period_changes, names, comparison, sparkline_days)
    notes = [f"No data for key metric(s): {', '.join(missing)}."] if missing else []
    return metrics, notes + untested_notes(metrics, comparison)


def assemble_report(
    kind: str,
    title: str,
    as_of: date,
    metrics: Sequence[KeyMetric],
    shown: Sequence[Insight],
    max_actions: int,
    charts: Sequence[ReportChart],
    tables: Sequence[ReportTable],
    notes: Sequence[str],
) -> Report:
    """The report of its parts; its recommendations are the shown insights' (at most `max_actions`)."""
    return Report(
        kind=kind,
        title=title,
        as_of=as_of,
        comparison="mom" if kind == "monthly" else "wow",
        key_metrics=tuple(metrics),
        insights=tuple(shown),
        recommendations=collect_recommendations(shown, max_actions),
        charts=tuple(charts),
        tables=tuple(tables),
        notes=tuple(notes),
    )


def key_metric_rows(
    as_of: date,
    daily_metrics: pd.DataFrame,
    period_changes: pd.DataFrame,
    metric_names: Sequence[str],
    comparison: str,
    sparkline_days: int,
) -> tuple[list[KeyMetric], list[str]]:
    """KeyMetric rows (in `metric_names` order) and the names that have neither a day value nor a change."""
    values = daily_metrics.assign(metric_date=pd.to_datetime(daily_metrics["metric_date"]).dt.date)
    changes = period_changes.assign(as_of=pd.to_datetime(period_changes["as_of"]).dt.date)
    changes = changes[(changes["as_of"] == as_of) & (changes["comparison"] == comparison)]
    changes = changes.drop_duplicates("metric", keep="last").set_index("metric")
    first_day = as_of - timedelta(days=sparkline_days - 1)
    rows, missing = [], []
    for metric in metric_names:
        series = values[(values["metric"] == metric) & values["metric_date"].between(first_day, as_of)]
        series = series.set_index("metric_date")["value"].astype(float).sort_index()
        change = changes.loc[metric] if metric in changes.index else None
        day_value = series.get(as_of)
        if change is None and series.empty:
            missing.append(metric)
            continue
        full_days = series.reindex([first_day + timedelta(days=i) for i in range(sparkline_days)])
        rows.append(
            KeyMetric(
                metric=metric,
                label=metric_label(metric),
                kind=str(change["kind"]) if change is not None else "",
                day_value=_number(day_value),
                current=_field(change, "current"),
                previous=_field(change, "previous"),
                abs_change=_field(change, "abs_change"),
                rel_change=_field(change, "rel_change"),
                abs_ci_low=_field(change, "abs_ci_low"),
                abs_ci_high=_field(change, "abs_ci_high"),
                rel_ci_low=_field(change, "ci_low"),
                rel_ci_high=_field(change, "ci_high"),
                p_value=_field(change, "p_value"),
                test=str(change["test"]) if change is not None and not is_missing_text(change["test"]) else "",
                note=str(change["note"]) if change is not None and not is_missing_text(change.get("note")) else "",
                sparkline=sparkline_png(full_days) if full_days.notna().any() else None,
            )
        )
    return rows, missing


def untested_notes(metrics: Sequence[KeyMetric], comparison: str) -> list[str]:
    """One note per reason for key metrics whose change was not tested (e.g. too few days of history)."""
    by_reason: dict[str, list[str]] = {}
    for metric in metrics:
        if metric.p_value is None and metric.note:
            by_reason.setdefault(metric.note, []).append(metric.label)
    label = COMPARISON_LABELS[comparison]
    return [f"No {label} test for {', '.join(names)}: {reason}." for reason, names in by_reason.items()]


def funnel_section(
    funnel_conversions: pd.DataFrame, as_of: date, funnel_name: str, days: int
) -> tuple[ReportChart, ReportTable] | None:
    """Step conversion of one funnel over the last `days` entry days with complete windows, up to `as_of`."""
    rows = funnel_conversions[
        (funnel_conversions["funnel_name"] == funnel_name) & (funnel_conversions["breakdown"] == "all")
    ].copy()
    rows["entry_date"] = pd.to_datetime(rows["entry_date"]).dt.date
    complete = rows["is_window_complete"].astype(str).str.lower().isin(["true", "1"])
    rows = rows[complete & (rows["entry_date"] <= as_of)]
    if rows.empty:
        return None
    entry_days = sorted(rows["entry_date"].unique())[-days:]
    rows = rows[rows["entry_date"].isin(entry_days)]
    steps = rows.groupby("step", sort=True).agg(
        event=("event", "first"),
        property_name=("property_name", "first"),
        property_value=("property_value", "first"),
        users=("users", "sum"),
    )
    entered = float(steps["users"].iloc[0])
    if entered <= 0:
        return None
    steps["from_first"] = steps["users"] / entered
    steps["from_previous"] = steps["users"] / steps["users"].shift(1).fillna(entered).replace(0, np.nan)
    labels = [_step_label(row) for row in steps.itertuples()]
    period = f"{entry_days[0]}{'' if len(entry_days) == 1 else ' – ' + str(entry_days[-1])}"
    caption = f"Users who entered {period} (conversion windows complete): {format_number(entered, 0)} entered."
    chart = ReportChart(
        key="funnel",
        title=f"Funnel: {funnel_name} (conversion from step 1)",
        png=bar_chart_png(labels, steps["from_first"].tolist(), title=f"{funnel_name} funnel", as_percent=True),
        caption=caption,
    )
    table = ReportTable(
        title=f"Funnel: {funnel_name}",
        columns=("Step", "Users", "From step 1", "From previous step"),
        rows=tuple(
            (label, format_number(row.users, 0), format_percent(row.from_first), format_percent(row.from_previous))
            for label, row in zip(labels, steps.itertuples())
        ),
        note=caption,
    )
    return chart, table


def anomaly_section(
    anomaly_flags: pd.DataFrame, as_of: date, lookback_days: int, history_days: int = 28, max_rows: int = 8
) -> tuple[ReportChart, ReportTable] | None:
    """Chart of the flagged anomaly to show (latest day; the product-wide series before segments; then the
    largest |severity|) with its expected band, and a table of the flags of the window (None when none)."""
    flags = anomaly_flags.assign(metric_date=pd.to_datetime(anomaly_flags["metric_date"]).dt.date)
    flagged = flags["is_anomaly"].astype(str).str.lower().isin(["true", "1"])
    window = flags["metric_date"].between(as_of - timedelta(days=lookback_days - 1), as_of)
    hits = flags[flagged & window].copy()
    if hits.empty:
        return None
    hits["is_total"] = hits["segment_type"] == "all"
    hits["abs_severity"] = hits["severity"].astype(float).abs()
    hits = hits.sort_values(["metric_date", "is_total", "abs_severity"], ascending=False)
    top = hits.iloc[0]
    same = (
        (flags["metric"] == top["metric"])
        & (flags["segment_type"] == top["segment_type"])
        & (flags["segment_value"] == top["segment_value"])
        & flags["metric_date"].between(as_of - timedelta(days=history_days - 1), as_of)
    )
    series = flags[same].sort_values("metric_date")
    history = pd.Series(series["value"].astype(float).to_numpy(), index=pd.to_datetime(series["metric_date"]))
    band = pd.DataFrame(
        {
            "date": pd.to_datetime(series["metric_date"]),
            "lower": series["lower_bound"].astype(float),
            "upper": series["upper_bound"].astype(float),
            "expected": series["expected"].astype(float),
        }
    )
    subject = metric_label(top["metric"]) + _segment_suffix(top["segment_type"], top["segment_value"])
    day_flags = series[series["is_anomaly"].astype(str).str.lower().isin(["true", "1"])]["metric_date"]
    chart = ReportChart(
        key="anomaly",
        title=f"Anomaly: {subject} on {top['metric_date']}",
        png=metric_chart_png(
            history,
            title=subject,
            anomalies=list(day_flags),
            expected_band=band,
            as_percent=is_proportion_metric(top["metric"]),
        ),
        caption=str(top["root_cause"]) if not is_missing_text(top.get("root_cause")) else "",
    )
    table = ReportTable(
        title="Flagged anomalies",
        columns=("Day", "Metric", "Segment", "Value", "Expected", "Severity (z)"),
        rows=tuple(
            (
                str(row.metric_date),
                metric_label(row.metric),
                "all users" if row.segment_type == "all" else f"{row.segment_type} = {row.segment_value}",
                format_metric_value(row.metric, row.value),
                format_metric_value(row.metric, row.expected),
                format_number(row.severity, 1, signed=True),
            )
            for row in hits.head(max_rows).itertuples()
        ),
        note=f"{len(hits)} flag(s) on {as_of - timedelta(days=lookback_days - 1)} – {as_of}"
        + (f"; {max_rows} shown." if len(hits) > max_rows else "."),
    )
    return chart, table


def headline_insights(insights: Sequence[Insight], limit: int, later_types: Sequence[str] = ()) -> tuple[Insight, ...]:
    """The `limit` insights a report leads with, in their ranked order: the best of each generator first, then
    the next best of any generator, and insights of `later_types` only when slots are left. One analysis (e.g. a
    funnel split by many segments) would otherwise fill the list with variations of one finding; the full ranking
    stays in the insight library."""

    def generator(i: int) -> str:
        return insights[i].generator

    later = [insight.insight_type in later_types for insight in insights]
    picked = each_generator_first([i for i, x in enumerate(later) if not x], generator)
    picked += each_generator_first([i for i, x in enumerate(later) if x], generator)
    return tuple(insights[i] for i in sorted(picked[:limit]))


def collect_recommendations(insights: Sequence[Insight], limit: int) -> tuple[Recommendation, ...]:
    """The insights' recommendations in insight order (first action of every insight before second ones),
    without repeating an action text, at most `limit`."""
    ordered = [rec for depth in range(2) for insight in insights for rec in insight.recommendations[depth : depth + 1]]
    ordered += [rec for insight in insights for rec in insight.recommendations[2:]]
    seen, result = set(), []
    for rec in ordered:
        if rec.action.strip().lower() not in seen:
            seen.add(rec.action.strip().lower())
            result.append(rec)
    return tuple(result[:limit])


def _step_label(row) -> str:
    if is_missing_text(row.property_name):
        return str(row.event)
    return f"{row.event} ({row.property_name} = {row.property_value})"


def _segment_suffix(segment_type, segment_value) -> str:
    return "" if segment_type in (None, "all") else f" ({segment_type} = {segment_value})"


def is_missing_text(value) -> bool:
    """None, NaN or an empty string."""
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == ""


def _field(row: pd.Series | None, column: str) -> float | None:
    return None if row is None or column not in row.index else _number(row[column])


def _number(value) -> float | None:
    return None if is_missing(value) else float(value)
