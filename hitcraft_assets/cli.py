"""`hitcraft`: run the platform (UI, demo, backfills), reach its database, write sample export files."""

from __future__ import annotations

import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import typer

from hitcraft_assets import settings
from hitcraft_assets.cli_insights import ask, insights_app
from hitcraft_assets.cli_ml import ml_app
from hitcraft_assets.cli_report import report

app = typer.Typer(
    help="HitCraft analytics platform: Mixpanel → PostgreSQL → dbt → ML → insights, orchestrated by Dagster.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(
    help="The warehouse database (embedded PostgreSQL unless HITCRAFT_DATABASE_URL is set).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(ml_app, name="ml")
app.add_typer(insights_app, name="insights")


class UserError(Exception):
    """A mistake the user can fix; printed as one line."""


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} {value!r} is not a date in YYYY-MM-DD form") from None


def _check_range(first: date, last: date) -> None:
    from hitcraft_assets.defs.partitions import PARTITIONS_START

    yesterday = settings.reporting_today() - timedelta(days=1)
    if first > last:
        raise UserError(f"--start {first} is after --end {last}")
    if last > yesterday:
        raise UserError(
            f"--end {last} is not a complete day yet; the last loadable day is {yesterday} "
            f"({settings.reporting_timezone()})"
        )
    if first < date.fromisoformat(PARTITIONS_START):
        raise UserError(
            f"--start {first} is before the first partition {PARTITIONS_START} "
            "(set HITCRAFT_PARTITIONS_START to reach further back)"
        )


def _raw_rows(first: date, last: date) -> int:
    from hitcraft_assets import warehouse

    with warehouse.connection() as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('raw.events') is not null")
        if not cur.fetchone()[0]:
            return 0
        cur.execute("select count(*) from raw.events where partition_date between %s and %s", (first, last))
        return cur.fetchone()[0]


def _profiles() -> int:
    from hitcraft_assets import warehouse

    with warehouse.connection() as conn, conn.cursor() as cur:
        cur.execute(
            "select case when to_regclass('raw.profiles') is null then 0 else (select count(*) from raw.profiles) end"
        )
        return cur.fetchone()[0]


def _summary(first: date, last: date, backfill_id: str | None, status: str, per_asset: dict[str, str]) -> None:
    from hitcraft_assets import backfill

    _say("")
    _say("Summary")
    _say(f"  backfill      {status}" + (f" ({backfill_id})" if backfill_id else ""))
    for key, state in sorted(per_asset.items()):
        _say(f"  {key:<32}{state}")
    _say(f"  raw events    {_raw_rows(first, last):,} rows for {first}..{last}")
    _say(f"  profiles      {_profiles():,}")
    if backfill_id:
        tally = backfill.check_results(backfill_id)
        _say(
            f"  checks        {tally.passed} passed, {tally.failed} failed, {tally.warned} warnings"
            f" (backfill {backfill_id})"
        )
        for line in tally.failures[:20]:
            _say(f"    {line}")


def _run_backfill(url: str, first: date, last: date, *, title: str, only_missing: bool) -> None:
    from hitcraft_assets import backfill

    days = backfill.missing_days(first, last) if only_missing else [first]
    last_id_file = settings.hitcraft_home() / "last_backfill_id"
    if not days:
        _say(f"All days {first}..{last} are already materialized; nothing to backfill (data reused).")
        previous = last_id_file.read_text().strip() if last_id_file.exists() else None
        _summary(first, last, previous, "nothing to do", {"mixpanel/raw_events": f"{(last - first).days + 1} days"})
        return
    start = min(days)
    _say(f"Backfilling {start}..{last} ({(last - start).days + 1} days) through the Dagster instance …")
    backfill_id = backfill.launch(url, start, last, title=title)
    _say(f"Backfill {backfill_id}: {url}/runs/b/{backfill_id}")
    last_id_file.write_text(backfill_id)
    result = backfill.wait(url, backfill_id, _say, rows_so_far=lambda: _raw_rows(start, last))
    _summary(first, last, backfill_id, result.status.lower(), result.per_asset)
    if result.status not in ("COMPLETED_SUCCESS", "COMPLETED"):
        raise UserError(f"backfill ended {result.status}; open {url}/runs/b/{backfill_id} for the failed runs")


@app.command()
def dev(
    host: str = typer.Option("127.0.0.1", help="Interface for the Dagster UI."),
    port: int = typer.Option(3000, help="Port for the Dagster UI."),
) -> None:
    """Start the Dagster UI and daemon on the existing data (embedded PostgreSQL started as needed).
    Ctrl-C stops everything, including the embedded database."""
    from hitcraft_assets import runtime

    runtime.interrupt_on_termination()
    try:
        with _EmbeddedDatabase(), runtime.dagster_dev(host, port) as server:
            _say(f"Dagster UI: {server.url}  (Ctrl-C stops the UI, the daemon and the embedded database)")
            server.process.wait()
    except KeyboardInterrupt:
        pass


@app.command()
def demo(
    days: int = typer.Option(60, min=1, help="How many days back from yesterday to load."),
    ui: bool = typer.Option(True, "--ui/--no-ui", help="Keep the Dagster UI running afterwards."),
    host: str = typer.Option("127.0.0.1", help="Interface for the Dagster UI."),
    port: int = typer.Option(3000, help="Port for the Dagster UI."),
) -> None:
    """Backfill the last DAYS days of the Mixpanel source (the sample Mixpanel unless MIXPANEL_*
    credentials are set) through every asset in one single-run backfill, print a summary, then keep the
    UI running (Ctrl-C stops everything). Re-running reuses the data and loads only missing days."""
    from hitcraft_assets import runtime

    last = settings.reporting_today() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    source = "the sample Mixpanel" if settings.mixpanel_settings().is_sample else "Mixpanel"
    _say(f"HitCraft demo: {first}..{last} from {source}; data in {settings.hitcraft_home()}")
    runtime.interrupt_on_termination()
    try:
        with _EmbeddedDatabase(), runtime.dagster_dev(host, port if ui else None, quiet=True) as server:
            _run_backfill(server.url, first, last, title=f"demo {first}..{last}", only_missing=True)
            if ui:
                _say(
                    f"\nDagster UI: {server.url}  (Ctrl-C stops the UI, the daemon and the embedded database; "
                    f"log: {server.log_path})"
                )
                server.process.wait()
    except KeyboardInterrupt:
        pass


@app.command()
def backfill(
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD (reporting time zone)."),
    end: str = typer.Option(..., "--end", help="Last day, YYYY-MM-DD (inclusive)."),
    url: str = typer.Option(
        "http://127.0.0.1:3000",
        help="A running Dagster webserver; started headless for the duration when none answers there.",
    ),
) -> None:
    """Backfill a date range of every asset through the Dagster instance (one single-run backfill; it
    shows in the UI under Runs → Backfills)."""
    from hitcraft_assets import runtime

    first, last = _parse_day(start, "--start"), _parse_day(end, "--end")
    _check_range(first, last)
    runtime.interrupt_on_termination()
    try:
        with _EmbeddedDatabase():
            runtime.apply_environment()
            try:
                ready = runtime.webserver_ready(url)
            except RuntimeError:
                ready = False
            if ready:
                _run_backfill(url, first, last, title=f"cli {first}..{last}", only_missing=False)
                return
            with runtime.dagster_dev(quiet=True) as server:
                _run_backfill(server.url, first, last, title=f"cli {first}..{last}", only_missing=False)
    except KeyboardInterrupt:
        raise UserError(
            "interrupted; a launched backfill stays in the instance and resumes when `hitcraft dev` runs"
        ) from None


@app.command()
def env() -> None:
    """Print `export` lines for plain `dagster dev` / `dagster-daemon`: eval "$(hitcraft env)"."""
    from hitcraft_assets import runtime

    for key, value in runtime.dagster_environment().items():
        typer.echo(f"export {key}='{value}'")


@app.command()
def simulate(
    start: str = typer.Option(..., "--start", help="First UTC day, YYYY-MM-DD."),
    end: str = typer.Option(..., "--end", help="Last UTC day, YYYY-MM-DD (inclusive)."),
    out: Path = typer.Option(Path("sample-export"), "--out", help="Folder for the NDJSON files."),
    scale: float = typer.Option(1.0, min=0.001, help="Population multiplier (≈1M events/day near 25-40)."),
    seed: int | None = typer.Option(None, help="Random seed (default: the scenario's)."),
    scenario: Path | None = typer.Option(None, help="Scenario YAML (default: HITCRAFT_SAMPLE_SCENARIO or packaged)."),
    anchor: str | None = typer.Option(None, help="Anchor day for relative scenario dates (default: today)."),
    gzip: bool = typer.Option(False, "--gzip", help="Write .ndjson.gz files."),
) -> None:
    """Write sample Mixpanel export files (one NDJSON file per day, export line format)."""
    from hitcraft_assets.mixpanel.sample import Simulator, load_scenario, write_export_files

    first, last = _parse_day(start, "--start"), _parse_day(end, "--end")
    if first > last:
        raise UserError(f"--start {first} is after --end {last}")
    sim = Simulator(
        load_scenario(scenario), seed=seed, scale=scale, anchor_date=_parse_day(anchor, "--anchor") if anchor else None
    )
    started = time.monotonic()
    files = write_export_files(sim, first, last, out, gzip=gzip)
    for f in files:
        _say(f"{f}  {f.stat().st_size / 1e6:.1f} MB")
    _say(f"{len(files)} file(s) in {time.monotonic() - started:.1f}s")


@db_app.command("url")
def db_url() -> None:
    """Print the warehouse URL (starts the embedded server if needed)."""
    from hitcraft_assets import warehouse

    typer.echo(warehouse.warehouse_url())


@db_app.command("psql")
def db_psql() -> None:
    """Open psql on the warehouse."""
    from hitcraft_assets import warehouse

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
    from hitcraft_assets import warehouse

    _say("embedded PostgreSQL stopped" if warehouse.stop_embedded() else "embedded PostgreSQL was not running")


class _EmbeddedDatabase:
    """Start the embedded PostgreSQL if needed; on exit stop it only if this command started it and no
    other process (another `hitcraft` command, a notebook, psql) is still connected."""

    def __enter__(self):
        from hitcraft_assets import warehouse

        self.started_here = not settings.external_database_url() and not warehouse.embedded_running()
        warehouse.warehouse_url()
        return self

    def __exit__(self, *exc) -> None:
        from hitcraft_assets import warehouse

        if not self.started_here:
            return
        stopped, clients = warehouse.stop_embedded_if_idle()
        if stopped:
            _say("embedded PostgreSQL stopped")
        elif clients:
            _say(f"embedded PostgreSQL left running: {clients} other connection(s) use it (`hitcraft db stop`)")


def _scenario_error() -> type[Exception]:
    from hitcraft_assets.mixpanel.sample import ScenarioError

    return ScenarioError


app.command()(report)  # after the commands above, so `hitcraft --help` lists them first
app.command()(ask)


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")
    try:
        app()
    except (UserError, settings.ConfigError, _scenario_error()) as exc:
        _say(f"error: {exc}")
        sys.exit(2)
    except Exception as exc:
        from hitcraft_assets.backfill import BackfillError

        if isinstance(exc, (BackfillError, RuntimeError)):
            _say(f"error: {exc}")
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
