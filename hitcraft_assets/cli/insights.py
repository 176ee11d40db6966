"""`hitcraft insights search` (the insight library from the terminal) and `hitcraft ask` (a question in plain
language, answered by Claude from the warehouse with its sources)."""

from __future__ import annotations

import textwrap

import typer

from hitcraft_assets.analytics.insights.model import INSIGHT_TYPES

insights_app = typer.Typer(
    help="The insight library (table insights.insight_library): every day's ranked findings.", no_args_is_help=True
)

EMPTY_LIBRARY = "no insights yet: materialize insights/insights (`hitcraft demo` or a backfill)"


def _database():
    from hitcraft_assets.cli.common import EmbeddedDatabase

    return EmbeddedDatabase()


@insights_app.command()
def search(
    text: str | None = typer.Argument(
        None, help='Words in the title or statement (web-search syntax: "a phrase", or, -word).'
    ),
    insight_type: str | None = typer.Option(None, "--type", help=f"One of: {', '.join(INSIGHT_TYPES)}."),
    metric: str | None = typer.Option(None, "--metric", help="A metric, e.g. render_failure_rate."),
    segment: str | None = typer.Option(None, "--segment", help="A segment value, or type=value (platform=ios)."),
    since: str | None = typer.Option(None, "--since", help="First day, YYYY-MM-DD."),
    until: str | None = typer.Option(None, "--until", help="Last day, YYYY-MM-DD (inclusive)."),
    rejected: bool = typer.Option(False, "--rejected", help="Only the candidates that were not selected, and why."),
    everything: bool = typer.Option(False, "--all", help="Selected insights and rejected candidates."),
    limit: int = typer.Option(20, min=1, help="Most insights to list."),
    full: bool = typer.Option(False, "--full", help="Also each statement and its recommended actions."),
) -> None:
    """Find insights, newest day first, then by rank: day, rank, type, p- and q-value (Benjamini-Hochberg) and
    title; with --full the statement and the recommendations."""
    from hitcraft_assets.cli.common import UserError, parse_day
    from hitcraft_assets.store import insight_library

    if insight_type and insight_type not in INSIGHT_TYPES:
        raise UserError(f"--type {insight_type!r} is not one of {', '.join(INSIGHT_TYPES)}")
    if rejected and everything:
        raise UserError("--rejected and --all exclude each other")
    if segment is not None:
        kind, _, value = segment.rpartition("=")
        if not value.strip() or ("=" in segment and not kind.strip()):
            raise UserError(f"--segment {segment!r} is not a segment value or type=value (e.g. ios, platform=ios)")
    if metric is not None and not metric.strip():
        raise UserError("--metric is empty; give a metric name, e.g. render_failure_rate")
    start = parse_day(since, "--since") if since else None
    end = parse_day(until, "--until") if until else None
    if start and end and start > end:
        raise UserError(f"--since {start} is after --until {end}")
    with _database():
        if not insight_library.has_rows():
            raise UserError(EMPTY_LIBRARY)
        frame = insight_library.search(
            text=text,
            insight_type=insight_type,
            metric=metric,
            segment=segment,
            start=start,
            end=end,
            status="rejected" if rejected else None if everything else "selected",
            limit=limit,
        )
    if frame.empty:
        typer.echo("(no insight matches)")
        return
    typer.echo(f"{'day':<11} {'rank':>4}  {'type':<11}  {'p':<9}  {'q':<9}  title")
    for row, insight in zip(frame.to_dict("records"), insight_library.to_insights(frame)):
        typer.echo(_line(row, insight))
        if full:
            typer.echo(_details(insight))


def _line(row: dict, insight) -> str:
    from hitcraft_assets.reports.formatting import is_missing

    rank = "-" if is_missing(row["rank"]) else str(int(row["rank"]))
    line = (
        f"{insight.as_of!s:<11} {rank:>4}  {insight.insight_type:<11}  {_p('p', insight.p_value):<9}  "
        f"{_p('q', row['q_value']):<9}  {insight.title}"
    )
    if row["status"] != "selected":
        line += f"  [{row['status']}: {row['reason'] or 'no reason stored'}]"
    return line


def _p(name: str, value) -> str:
    from hitcraft_assets.reports.formatting import format_p_value

    return format_p_value(value).replace("p", name, 1) or "-"


def _details(insight) -> str:
    wrap = dict(width=110, initial_indent="    ", subsequent_indent="    ")
    lines = [textwrap.fill(insight.statement, **wrap)]
    for rec in insight.recommendations:
        extra = [
            f"hypothesis: {rec.hypothesis}" if rec.hypothesis else "",
            f"metric {rec.metric}" if rec.metric else "",
            f"detectable effect {rec.minimum_detectable_effect:g}" if rec.minimum_detectable_effect else "",
            f"{rec.users_per_arm:,} users per arm" if rec.users_per_arm else "",
        ]
        detail = "; ".join(e for e in extra if e)
        action = f"→ {rec.kind}: {rec.action}" + (f" ({detail})" if detail else "")
        lines.append(textwrap.fill(action, width=110, initial_indent="    ", subsequent_indent="      "))
    return "\n".join(lines) + "\n"


def ask(question: str = typer.Argument(..., help="A question in plain language, in quotes.")) -> None:
    """Answer a question about the product analytics in plain language: Claude looks the numbers up in the
    warehouse (read-only SQL, metrics, the insight library) and cites them; needs ANTHROPIC_API_KEY."""
    from hitcraft_assets.reports.ask import NOT_CONFIGURED, answer_question
    from hitcraft_assets.reports.claude import claude_settings_from_env
    from hitcraft_assets.store.ask_backend import WarehouseAskBackend

    settings = claude_settings_from_env()
    if not settings.enabled:
        typer.echo(f"error: {NOT_CONFIGURED}", err=True)
        raise typer.Exit(1)
    with _database():
        answer = answer_question(question, WarehouseAskBackend(), settings=settings)
    if not answer.ok:
        typer.echo(f"error: {answer.text}", err=True)
        raise typer.Exit(1)
    typer.echo(answer.text)
