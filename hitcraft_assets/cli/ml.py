"""`hitcraft ml …`: read the ML outputs (schema `ml`) from the terminal: flags, trends, churn, personas."""

from __future__ import annotations

import typer

from hitcraft_assets.cli.common import EmbeddedDatabase, UserError, parse_day, show

ml_app = typer.Typer(
    help="Read the ML outputs: anomaly flags, trends, churn model and scores, personas.", no_args_is_help=True
)

_DAY = typer.Option(None, "--date", help="Reporting day YYYY-MM-DD (default: the newest in the table).")


def _outputs():
    """The ML readers, once some ML asset has written its tables."""
    from hitcraft_assets.store import ml_tables

    if not ml_tables.has_outputs():
        raise UserError("no ML outputs yet: materialize the ml/* assets (`hitcraft demo` or a backfill)")
    return ml_tables


def _day(table_name: str, value: str | None, option: str = "--date"):
    ml = _outputs()
    return parse_day(value, option) if value else ml.newest_day(getattr(ml, table_name))


@ml_app.command()
def flags(day: str = _DAY) -> None:
    """Anomalies flagged on a day, with their expected range and root cause."""
    with EmbeddedDatabase():
        d = _day("ANOMALY_FLAGS", day)
        show(f"anomaly flags on {d}", _outputs().flags_on(d), "(no anomaly)")


@ml_app.command()
def trends(day: str = _DAY) -> None:
    """Significant trends and week-over-week changes as of a day."""
    with EmbeddedDatabase():
        d = _day("METRIC_TRENDS", day)
        ml = _outputs()
        show(f"significant trends as of {d}", ml.significant_trends(d))
        show("week over week (95 % interval of the relative change)", ml.week_over_week(d))


@ml_app.command()
def churn(day: str = _DAY, top: int = typer.Option(10, help="Riskiest users to list.")) -> None:
    """The promoted churn model, the riskiest users with their reasons, and risk by acquisition channel."""
    with EmbeddedDatabase():
        ml = _outputs()
        show("churn model versions", ml.churn_model_history())
        d = _day("CHURN_SCORES", day)
        show(f"riskiest users on {d}", ml.riskiest_users(d, top))
        show(f"risk by acquisition channel on {d}", ml.churn_risk_by_channel(d))


@ml_app.command()
def personas(week: str = typer.Option(None, "--week", help="Week start (Monday) YYYY-MM-DD; default newest.")) -> None:
    """Personas of a week: size, value, and the largest moves from the previous week."""
    with EmbeddedDatabase():
        w = _day("PERSONA_SUMMARY", week, "--week")
        ml = _outputs()
        show(f"personas, week of {w}", ml.personas_of_week(w))
        show("largest moves from the previous week", ml.persona_moves(w))
