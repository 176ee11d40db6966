"""Build the daily, weekly and monthly reports from the warehouse, write them as files and send them by e-mail.

Shared by the Dagster report assets and `hitcraft report`: the report of a day is the same wherever it is made.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from hitcraft_assets import settings
from hitcraft_assets.reports.daily import REPORT_KINDS, Report
from hitcraft_assets.store import insight_library, marts, warehouse
from hitcraft_assets.store.insight_inputs import read_table

logger = logging.getLogger(__name__)

#: days of insights a report draws from (the weekly digest's week, the monthly review's 28 days)
INSIGHT_DAYS = {"daily": 1, "weekly": 7, "monthly": 28}
#: history read for sparklines, trend and forecast charts and month-over-month changes
HISTORY_DAYS = 70


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    pdf: Path


def reports_dir() -> Path:
    """$HITCRAFT_HOME/reports: one folder per report kind."""
    return settings.hitcraft_home() / "reports"


def outbox_dir() -> Path:
    """Where e-mails go when no SMTP server is configured (and where unsent ones are kept)."""
    return settings.hitcraft_home() / "outbox"


def build_report(kind: str, as_of: date, url: str | None = None) -> Report:
    """The `kind` report ('daily' | 'weekly' | 'monthly') of the period ending `as_of`, from the marts, the ML
    outputs and the insight library (its executive summary still templated: see `with_executive_summary`)."""
    from hitcraft_assets.reports.daily import build_daily_report
    from hitcraft_assets.reports.periodic import build_monthly_review, build_weekly_digest

    if kind not in REPORT_KINDS:
        raise ValueError(f"report kind {kind!r} is not one of {REPORT_KINDS}")
    if not warehouse.table_exists("marts.daily_metrics", url):
        raise LookupError("no modeled data yet: materialize the dbt marts first (`hitcraft demo` or a backfill)")
    start = as_of - timedelta(days=HISTORY_DAYS)
    metrics = marts.daily_metrics(url, start, as_of)
    changes = read_table(url, "metric_period_changes", as_of, as_of)
    changes = changes if changes is not None else pd.DataFrame(columns=["as_of", "metric", "comparison"])
    insights = _insights(url, as_of, INSIGHT_DAYS[kind])
    forecasts = read_table(url, "metric_forecasts", as_of - timedelta(days=7), as_of)
    if kind == "daily":
        return build_daily_report(
            as_of,
            metrics,
            changes,
            insights,
            funnel_conversions=read_table(url, "funnel_conversions", as_of - timedelta(days=40), as_of),
            anomaly_flags=read_table(url, "anomaly_flags", start, as_of),
            experiment_summaries=read_table(url, "experiment_summaries", as_of - timedelta(days=7), as_of),
            hypotheses=read_table(url, "experiment_hypotheses", None, None),
        )
    if kind == "weekly":
        return build_weekly_digest(
            as_of,
            metrics,
            changes,
            insights,
            metric_trends=read_table(url, "metric_trends", as_of, as_of),
            change_points=read_table(url, "metric_change_points", as_of, as_of),
            forecasts=forecasts,
        )
    return build_monthly_review(
        as_of,
        metrics,
        changes,
        insights,
        retention_cohorts=read_table(url, "retention_cohorts", None, None),
        persona_summary=read_table(url, "persona_summary", as_of - timedelta(days=35), as_of),
        forecasts=forecasts,
    )


def _insights(url: str | None, as_of: date, days: int):
    """The selected insights of the `days` days ending `as_of`, best first (newest day first on ties)."""
    frame = insight_library.read(url, as_of - timedelta(days=days - 1), as_of)  # by day, then rank
    if days > 1:
        frame = frame.sort_values(["score", "as_of"], ascending=[False, False])
    return insight_library.to_insights(frame)


def with_executive_summary(report: Report):
    """(report with its summary, SummaryResult): Claude's when ANTHROPIC_API_KEY is set and every number checks
    out against the evidence, else the templated one (never fails the report)."""
    from hitcraft_assets.reports.claude import summarize_report

    return summarize_report(report)


def write_report_files(report: Report, directory: Path | None = None) -> ReportFiles:
    """Markdown, HTML (charts inline) and PDF of `report` under <directory>/<kind>/hitcraft-<kind>-<as_of>.*,
    each written to a temporary name first so a reader never sees half a file."""
    from hitcraft_assets.reports.pdf import render_pdf
    from hitcraft_assets.reports.rendering import render_html, render_markdown

    folder = (directory or reports_dir()) / report.kind
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"hitcraft-{report.kind}-{report.as_of}"
    files = ReportFiles(stem.with_suffix(".md"), stem.with_suffix(".html"), stem.with_suffix(".pdf"))
    contents = {
        files.markdown: render_markdown(report).encode(),
        files.html: render_html(report).encode(),
        files.pdf: render_pdf(report),
    }
    for path, data in contents.items():
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)
    return files


def send_report(report: Report, pdf: bytes | None = None, outbox: Path | None = None):
    """E-mail `report` (text, HTML with inline charts, PDF attached) to HITCRAFT_REPORT_RECIPIENTS over the
    configured SMTP server, or write it to the outbox as .eml when none is configured. Returns the
    DeliveryResult; raises EmailConfigError / EmailDeliveryError (the message is then kept in the outbox)."""
    from hitcraft_assets.reports.email import build_report_message, deliver, smtp_settings_from_env

    smtp = smtp_settings_from_env()
    message = build_report_message(report, smtp.sender, smtp.recipients, pdf=pdf)
    return deliver(message, smtp, outbox or outbox_dir())
