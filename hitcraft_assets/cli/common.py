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
    """Refuse a range no backfill can load; settings and dates only, nothing heavy imported."""
    if first > last:
        raise UserError(f"--start {first} is after --end {last}")
    yesterday = settings.reporting_today() - timedelta(days=1)
    if last > yesterday:
        raise UserError(
            f"--end {last} is not a complete day yet; the last loadable day is {yesterday} "
            f"({settings.reporting_timezone()})"
        )
    start = settings.partitions_start()
    if first < start:
        raise UserError(
            f"--start {first} is before the first partition {start} "
            "(set HITCRAFT_PARTITIONS_START to reach further back)"
        )


def database_error(exc: BaseException) -> str | None:
    """One line for a PostgreSQL connection failure (psycopg2 or SQLAlchemy around it): where, why, what to
    check; never the password. None for any other error."""
    chain, seen = [exc], set()
    while chain[-1].__cause__ or chain[-1].__context__ or getattr(chain[-1], "orig", None):
        nxt = getattr(chain[-1], "orig", None) or chain[-1].__cause__ or chain[-1].__context__
        if id(nxt) in seen or not isinstance(nxt, BaseException):
            break
        seen.add(id(nxt))
        chain.append(nxt)
    error = next(
        (e for e in chain if type(e).__name__ == "OperationalError" and type(e).__module__.startswith("psycopg2")),
        None,
    )
    if error is None:
        return None
    from urllib.parse import urlsplit

    external = settings.external_database_url()
    reason = next((line.strip() for line in str(error).splitlines() if line.strip()), "connection failed")
    reason = reason.split(" failed: ", 1)[-1]
    if external:
        parts = urlsplit(external)
        if parts.password:
            reason = reason.replace(parts.password, "***")
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        database = parts.path.lstrip("/") or "(default)"
        return (
            f"cannot connect to the warehouse at {where} (database {database}, user {parts.username or '(default)'}, "
            f"from HITCRAFT_DATABASE_URL): {reason}; check that PostgreSQL runs there and accepts connections from "
            "this machine, and the URL's host, port, user, password and database"
        )
    return (
        f"cannot connect to the embedded PostgreSQL under {settings.hitcraft_home()}: {reason}; "
        "`hitcraft db stop` and run the command again, or check the log in its pgdata folder"
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
            say(
                f"embedded PostgreSQL left running: {len(clients)} other connection(s) use it: {', '.join(clients)} "
                "(`hitcraft db stop` stops it)"
            )


def show(title: str, frame, empty: str = "(none)") -> None:
    """Print a DataFrame under a title (missing values blank)."""
    import pandas as pd

    typer.echo(f"\n{title}")
    with pd.option_context("display.width", 160, "display.max_colwidth", 90, "display.max_columns", 20):
        typer.echo(frame.astype(object).where(frame.notna(), "").to_string(index=False) if len(frame) else empty)
