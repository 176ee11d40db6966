"""`hitcraft db …`: the warehouse database (embedded PostgreSQL unless HITCRAFT_DATABASE_URL is set)."""

from __future__ import annotations

import os

import typer

from hitcraft_assets.cli.common import say

db_app = typer.Typer(
    help="The warehouse database (embedded PostgreSQL unless HITCRAFT_DATABASE_URL is set).", no_args_is_help=True
)


@db_app.command("url")
def db_url() -> None:
    """Print the warehouse URL (starts the embedded server if needed)."""
    from hitcraft_assets.store import warehouse

    typer.echo(warehouse.warehouse_url())


@db_app.command("psql")
def db_psql() -> None:
    """Open psql on the warehouse."""
    from hitcraft_assets.store import warehouse

    url = warehouse.warehouse_url()
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        psql = str(POSTGRES_BIN_PATH / "psql")
    except ImportError:
        psql = "psql"
    os.execvp(psql, [psql, url])


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL (no effect on an external database)."""
    from hitcraft_assets.store import warehouse

    say("embedded PostgreSQL stopped" if warehouse.stop_embedded() else "embedded PostgreSQL was not running")
