"""`hitcraft report KIND`: build a daily, weekly or monthly report from the warehouse, write it, optionally send it."""

from __future__ import annotations

from datetime import timedelta

import typer


def report(
    kind: str = typer.Argument("daily", help="daily | weekly | monthly"),
    day: str = typer.Option(
        None, "--date", help="Last day of the report, YYYY-MM-DD (default: the newest day with insights)."
    ),
    send: bool = typer.Option(False, "--send", help="E-mail it (SMTP_* settings; the outbox without SMTP_HOST)."),
    claude: bool = typer.Option(
        True, "--claude/--no-claude", help="Claude's executive summary when ANTHROPIC_API_KEY is set."
    ),
    show: bool = typer.Option(False, "--show", help="Print the report as text."),
) -> None:
    """Build a report from the insight library and the marts: Markdown, HTML and PDF under
    $HITCRAFT_HOME/reports/<kind>/ (the same files the Dagster report assets write)."""
    from hitcraft_assets import settings
    from hitcraft_assets.cli.common import EmbeddedDatabase, UserError, parse_day, say
    from hitcraft_assets.reports import builder as report_builder
    from hitcraft_assets.reports.claude import templated_summary
    from hitcraft_assets.reports.daily import REPORT_KINDS, with_summary
    from hitcraft_assets.reports.email import EmailConfigError, EmailDeliveryError
    from hitcraft_assets.reports.rendering import render_text
    from hitcraft_assets.store import insight_library

    # The arguments and settings first, then the data: a bad value is named even before any insight exists.
    if kind not in REPORT_KINDS:
        raise UserError(f"report kind {kind!r} is not one of {', '.join(REPORT_KINDS)}")
    requested = parse_day(day, "--date") if day else None
    settings.reporting_timezone()
    with EmbeddedDatabase():
        if not insight_library.exists():
            raise UserError("no insights yet: materialize insights/insights (`hitcraft demo` or a backfill)")
        if requested:
            as_of = requested
        else:
            newest = insight_library.read(None, status=None)["as_of"]
            if newest.empty:
                raise UserError("the insight library is empty: materialize insights/insights first")
            as_of = newest.max()
            if kind == "weekly":  # the newest complete Monday-Sunday week
                as_of -= timedelta(days=(as_of.weekday() + 1) % 7)
            elif kind == "monthly":  # the newest complete month
                as_of = (as_of + timedelta(days=1)).replace(day=1) - timedelta(days=1)
        try:
            built = report_builder.build_report(kind, as_of, None)
        except LookupError as exc:
            raise UserError(str(exc)) from exc
        if claude:
            built, summary = report_builder.with_executive_summary(built)
            if summary.error:
                say(f"executive summary: templated ({summary.error})")
        else:
            built = with_summary(built, templated_summary(built), "template")
        files = report_builder.write_report_files(built)
        typer.echo(f"{built.title}\n  {files.markdown}\n  {files.html}\n  {files.pdf}")
        if show:
            typer.echo("\n" + render_text(built))
        if send:
            try:
                result = report_builder.send_report(built, pdf=files.pdf.read_bytes())
            except (EmailConfigError, EmailDeliveryError) as exc:
                raise UserError(f"e-mail not sent: {exc}") from exc
            where = f"{len(result.recipients)} recipient(s)" if result.method == "smtp" else f"outbox {result.path}"
            typer.echo(f"sent: {where}")
