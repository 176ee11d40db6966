"""`hitcraft`: the typer application. Each command group lives in a module of its own; this one puts them
together and turns user errors into one line."""

from __future__ import annotations

import os
import sys

import typer

from hitcraft_assets import settings
from hitcraft_assets.cli.common import UserError, database_error, say
from hitcraft_assets.cli.db import db_app
from hitcraft_assets.cli.experiments import experiments_app
from hitcraft_assets.cli.insights import ask, insights_app
from hitcraft_assets.cli.ml import ml_app
from hitcraft_assets.cli.platform import backfill, demo, dev, env, simulate
from hitcraft_assets.cli.report import report
from hitcraft_assets.cli.revenue import revenue_app
from hitcraft_assets.cli.serve import serve
from hitcraft_assets.cli.users import users_app

app = typer.Typer(
    help="HitCraft analytics platform: Mixpanel → PostgreSQL → dbt → ML → insights, orchestrated by Dagster.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for command in (dev, demo, serve, backfill, env, simulate, report, ask):  # the order of `hitcraft --help`
    app.command()(command)
app.add_typer(db_app, name="db")
app.add_typer(ml_app, name="ml")
app.add_typer(insights_app, name="insights")
app.add_typer(users_app, name="users")
app.add_typer(experiments_app, name="experiments")
app.add_typer(revenue_app, name="revenue")


def _scenario_error() -> type[Exception]:
    from hitcraft_assets.mixpanel.sample import ScenarioError

    return ScenarioError


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")
    # names this command's connections in pg_stat_activity (libpq reads PGAPPNAME), e.g. "hitcraft dev"
    os.environ.setdefault("PGAPPNAME", " ".join(["hitcraft", *sys.argv[1:2]]))
    try:
        app()
    except (UserError, settings.ConfigError, _scenario_error()) as exc:
        say(f"error: {exc}")
        sys.exit(2)
    except Exception as exc:
        from hitcraft_assets.cli.backfill import BackfillError

        unreachable = database_error(exc)
        if unreachable:
            say(f"error: {unreachable}")
            sys.exit(1)
        if isinstance(exc, (BackfillError, RuntimeError)):
            say(f"error: {exc}")
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
