"""What every `hitcraft` command group shares: the one-line user error, messages, argument parsing, the
embedded database's lifetime, and printing a table."""

from __future__ import annotations

from datetime import date, timedelta

import typer

from hitcraft_assets import settings


class UserError(Exception):
    """A mistake the user can fix; printed as one line."""


def say(message: str) -> None:
    typer.echo(message, err=True)


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} {value!r} is not a date in YYYY-MM-DD form") from None


def check_range(first: date, last: date) -> None:
    yesterday = settings.reporting_today() - timedelta(days=1)
    if first > last:
        raise UserError(f"--start {first} is after --end {last}")
    if last > yesterday:
        raise UserError(
            f"--end {last} is not a complete day yet; the last loadable day is {yesterday} "
            f"({settings.reporting_timezone()})"
        )
    if first < settings.partitions_start():
        raise UserError(
            f"--start {first} is before the first partition {settings.partitions_start()} "
            "(set HITCRAFT_PARTITIONS_START to reach further back)"
        )


class EmbeddedDatabase:
    """Start the embedded PostgreSQL if needed; on exit stop it only if this command started it and no
    other process (another `hitcraft` command, a notebook, psql) is still connected."""

    def __enter__(self):
        from hitcraft_assets.store import warehouse

        self.started_here = not settings.external_database_url() and not warehouse.embedded_running()
        warehouse.warehouse_url()
        return self

    def __exit__(self, *exc) -> None:
        from hitcraft_assets.store import warehouse

        if not self.started_here:
            return
        stopped, clients = warehouse.stop_embedded_if_idle()
        if stopped:
            say("embedded PostgreSQL stopped")
        elif clients:
            say(f"embedded PostgreSQL left running: {clients} other connection(s) use it (`hitcraft db stop`)")


def show(title: str, frame, empty: str = "(none)") -> None:
    """Print a DataFrame under a title (missing values blank)."""
    import pandas as pd

    typer.echo(f"\n{title}")
    with pd.option_context("display.width", 160, "display.max_colwidth", 90, "display.max_columns", 20):
        typer.echo(frame.astype(object).where(frame.notna(), "").to_string(index=False) if len(frame) else empty)
