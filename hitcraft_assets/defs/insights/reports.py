"""insights/daily_report, insights/weekly_digest, insights/monthly_review: the reports people read, as Markdown in
the Dagster UI, HTML and PDF files under $HITCRAFT_HOME/reports/, and e-mail."""

from datetime import date, timedelta

import dagster as dg

from hitcraft_assets import settings
from hitcraft_assets.defs.insights.insights import INSIGHTS_GROUP, INSIGHTS_KEY
from hitcraft_assets.defs.ml import common
from hitcraft_assets.defs.partitions import daily_partitions, monthly_partitions, weekly_partitions
from hitcraft_assets.defs.resources import WarehouseResource

ML_TRENDS = dg.AssetKey(["ml", "metric_trends"])
USER_SEGMENTS = dg.AssetKey(["ml", "user_segments"])


class ReportDelivery(dg.Config):
    """Who gets the report (launchpad run config); recipients and SMTP server come from the environment."""

    send_email: bool = True
    # reports of days longer ago than this are written but not sent, so a backfill does not flood inboxes
    max_age_days: int = 3
    # Claude's executive summary (with ANTHROPIC_API_KEY) for the reports that are sent; the others get the
    # templated summary, so a 60-day backfill does not make 60 API calls
    claude_summary: bool = True


def _reports(context: dg.AssetExecutionContext, url: str, kind: str, periods: list[tuple[str, date]], config):
    """Build, write and deliver the `kind` report of each (partition key, last day) period; metadata of the last."""
    from hitcraft_assets.reports import builder as report_builder
    from hitcraft_assets.reports.claude import templated_summary
    from hitcraft_assets.reports.daily import with_summary
    from hitcraft_assets.reports.email import EmailConfigError, EmailDeliveryError
    from hitcraft_assets.reports.rendering import render_markdown

    today = settings.reporting_today()
    metadata, failures = {}, []
    for key, as_of in periods:
        report = report_builder.build_report(kind, as_of, url)
        recent = (today - as_of).days <= config.max_age_days
        summary = None
        if recent and config.claude_summary:
            report, summary = report_builder.with_executive_summary(report)
            if summary.mismatches:
                mismatches = "; ".join(map(str, summary.mismatches))
                context.log.warning(
                    f"{kind} {as_of}: Claude's summary quoted numbers not in the evidence ({mismatches}); "
                    "the templated summary is used instead"
                )
        else:
            report = with_summary(report, templated_summary(report), "template")
        files = report_builder.write_report_files(report)
        delivery = "not sent (older than max_age_days)" if not recent else "not sent (send_email is off)"
        if recent and config.send_email:
            try:
                result = report_builder.send_report(report, pdf=files.pdf.read_bytes())
                delivery = (f"sent to {len(result.recipients)} recipient(s)" if result.method == "smtp"
                            else f"written to the outbox: {result.path}")  # fmt: skip
            except (EmailConfigError, EmailDeliveryError) as exc:
                failures.append(f"{key}: {exc}")
                delivery = f"FAILED: {exc}"
        context.log.info(f"{kind} report {key} ({as_of}): {len(report.insights)} insights, {delivery}")
        metadata = {
            "report_date": str(as_of),
            "insights": len(report.insights),
            "recommendations": len(report.recommendations),
            "summary_source": report.summary_source,
            "claude_error": (summary.error if summary else None) or "",
            "delivery": delivery,
            "html": dg.MetadataValue.path(str(files.html)),
            "pdf": dg.MetadataValue.path(str(files.pdf)),
            "report": dg.MetadataValue.md(render_markdown(report)),
        }
    if failures:  # files are written and the messages kept in the outbox; the run fails so the operator is told
        raise dg.Failure(description=f"{kind} report e-mail failed: " + "; ".join(failures), metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)


def _month_end(start: date) -> date:
    return (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)


_REPORT_KWARGS = {
    "deps": [INSIGHTS_KEY],
    "kinds": {"pdf", "html", "email"},
    "group_name": INSIGHTS_GROUP,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "automation_condition": dg.AutomationCondition.eager(),
}


@dg.asset(key=["insights", "daily_report"], partitions_def=daily_partitions, **_REPORT_KWARGS)
def daily_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: ReportDelivery):
    """The daily insight report: key metrics with week-over-week changes (tested), the top insights with their
    evidence, recommended actions, the funnel and the latest flagged anomaly. Markdown here, HTML and PDF in
    $HITCRAFT_HOME/reports/daily/, e-mailed to HITCRAFT_REPORT_RECIPIENTS (outbox .eml without SMTP)."""
    periods = [(str(day), day) for day in common.window_days(context)]
    return _reports(context, warehouse.url(), "daily", periods, config)


@dg.asset(
    key=["insights", "weekly_digest"],
    partitions_def=weekly_partitions,
    **(_REPORT_KWARGS | {"deps": [INSIGHTS_KEY, ML_TRENDS]}),
)
def weekly_digest(context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: ReportDelivery):
    """The weekly digest (Monday-Sunday): key metrics week over week, the week's insights, 28-day trends with
    their tests, change points and forecasts, strategic recommendations. Files in $HITCRAFT_HOME/reports/weekly/."""
    window = context.partition_key_range
    first, last = date.fromisoformat(window.start), date.fromisoformat(window.end)
    periods = [(str(first + timedelta(days=7 * i)), first + timedelta(days=7 * i + 6))
               for i in range((last - first).days // 7 + 1)]  # fmt: skip
    return _reports(context, warehouse.url(), "weekly", periods, config)


@dg.asset(key=["insights", "monthly_review"], partitions_def=monthly_partitions, **_REPORT_KWARGS)
def monthly_review(context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: ReportDelivery):
    """The monthly review: key metrics month over month (28 days), the month's insights, weekly cohort retention,
    personas and forecasts. Files in $HITCRAFT_HOME/reports/monthly/."""
    window = context.partition_key_range
    month, last = date.fromisoformat(window.start), date.fromisoformat(window.end)
    periods = []
    while month <= last:
        periods.append((str(month), _month_end(month)))
        month = _month_end(month) + timedelta(days=1)
    return _reports(context, warehouse.url(), "monthly", periods, config)
