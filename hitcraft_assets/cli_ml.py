"""`hitcraft ml …`: read the ML outputs (schema `ml`) from the terminal: flags, trends, churn, personas."""

from __future__ import annotations

import typer

ml_app = typer.Typer(
    help="Read the ML outputs: anomaly flags, trends, churn model and scores, personas.", no_args_is_help=True
)

_DAY = typer.Option(None, "--date", help="Reporting day YYYY-MM-DD (default: the newest in the table).")


def _query(sql: str, params: dict | None = None):
    from hitcraft_assets import warehouse
    from hitcraft_assets.cli import UserError

    if not warehouse.table_exists("ml.anomaly_flags"):
        raise UserError("no ML outputs yet: materialize the ml/* assets (`hitcraft demo` or a backfill)")
    return warehouse.read_frame(sql, params)


def _day(table: str, column: str, value: str | None):
    from hitcraft_assets.cli import _parse_day

    if value:
        return _parse_day(value, "--date")
    newest = _query(f"select max({column}) as d from ml.{table}")["d"].iloc[0]
    return newest


def _show(title: str, frame, empty: str = "(none)") -> None:
    import pandas as pd

    typer.echo(f"\n{title}")
    with pd.option_context("display.width", 160, "display.max_colwidth", 90, "display.max_columns", 20):
        typer.echo(frame.astype(object).where(frame.notna(), "").to_string(index=False) if len(frame) else empty)


def _database():
    from hitcraft_assets.cli import _EmbeddedDatabase

    return _EmbeddedDatabase()


@ml_app.command()
def flags(day: str = _DAY) -> None:
    """Anomalies flagged on a day, with their expected range and root cause."""
    with _database():
        d = _day("anomaly_flags", "metric_date", day)
        rows = _query(
            "select metric, segment_type, segment_value, round(value::numeric, 4) as value,"
            " round(expected::numeric, 4) as expected, round(severity::numeric, 1) as z, direction, root_cause"
            " from ml.anomaly_flags where metric_date = %(d)s and is_anomaly order by segment_type <> 'all',"
            " abs(severity) desc",
            {"d": d},
        )
        _show(f"anomaly flags on {d}", rows, "(no anomaly)")


@ml_app.command()
def trends(day: str = _DAY) -> None:
    """Significant trends and week-over-week changes as of a day."""
    with _database():
        d = _day("metric_trends", "as_of", day)
        _show(
            f"significant trends as of {d}",
            _query(
                "select metric, window_days, trend, round(p_value::numeric, 4) as p_value,"
                " round(sen_slope_pct_per_week::numeric, 2) as pct_per_week, test from ml.metric_trends"
                " where as_of = %(d)s and trend in ('increasing', 'decreasing') order by p_value",
                {"d": d},
            ),
        )
        _show(
            "week over week (95 % interval of the relative change)",
            _query(
                "select metric, round(current::numeric, 4) as current, round(previous::numeric, 4) as previous,"
                " round((100 * rel_change)::numeric, 1) as pct, round((100 * ci_low)::numeric, 1) as ci_low,"
                " round((100 * ci_high)::numeric, 1) as ci_high, round(p_value::numeric, 4) as p_value"
                " from ml.metric_period_changes where as_of = %(d)s and comparison = 'wow' order by p_value",
                {"d": d},
            ),
        )


@ml_app.command()
def churn(day: str = _DAY, top: int = typer.Option(10, help="Riskiest users to list.")) -> None:
    """The promoted churn model, the riskiest users with their reasons, and risk by acquisition channel."""
    with _database():
        _show(
            "churn model versions",
            _query(
                "select version, promoted, eval_cutoff, train_size, eval_size,"
                " round((metrics->'xgboost'->>'roc_auc')::numeric, 4) as roc_auc,"
                " round((metrics->'logistic_baseline'->>'roc_auc')::numeric, 4) as baseline_roc_auc, decision"
                " from ml.churn_model_versions order by trained_at desc limit 5"
            ),
        )
        d = _day("churn_scores", "score_date", day)
        _show(
            f"riskiest users on {d}",
            _query(
                "select user_key, round(churn_probability::numeric, 3) as p, risk_tier, reason_1, reason_2, reason_3"
                " from ml.churn_scores where score_date = %(d)s order by churn_probability desc limit %(n)s",
                {"d": d, "n": top},
            ),
        )
        _show(
            f"risk by acquisition channel on {d}",
            _query(
                "select segment_value as channel, users, round(mean_churn_probability::numeric, 3) as mean_p,"
                " round(high_risk_share::numeric, 3) as high_share from ml.churn_risk_by_segment"
                " where score_date = %(d)s and segment_type = 'acquisition_channel' order by mean_p desc",
                {"d": d},
            ),
        )


@ml_app.command()
def personas(week: str = typer.Option(None, "--week", help="Week start (Monday) YYYY-MM-DD; default newest.")) -> None:
    """Personas of a week: size, value, and the largest moves from the previous week."""
    with _database():
        w = _day("persona_summary", "week_start", week)
        _show(
            f"personas, week of {w}",
            _query(
                "select persona, users, round(share::numeric, 3) as share, round(mean_active_days::numeric, 1)"
                " as active_days, round(productions_per_user::numeric, 1) as productions,"
                " round(value_share::numeric, 3) as value_share from ml.persona_summary where week_start = %(w)s"
                " order by users desc",
                {"w": w},
            ),
        )
        _show(
            "largest moves from the previous week",
            _query(
                "select from_persona, to_persona, users, round(share_of_from::numeric, 3) as share_of_from"
                " from ml.persona_migration where week_start = %(w)s and from_persona <> to_persona"
                " order by users desc limit 10",
                {"w": w},
            ),
        )
