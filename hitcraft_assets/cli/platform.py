"""The platform commands: `hitcraft dev`, `demo`, `backfill`, `env`, `simulate`."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import typer

from hitcraft_assets import settings
from hitcraft_assets.cli.common import EmbeddedDatabase, UserError, check_range, parse_day, say


def _summary(first: date, last: date, backfill_id: str | None, status: str, per_asset: dict[str, str]) -> None:
    from hitcraft_assets.cli import backfill
    from hitcraft_assets.store import raw_events

    say("")
    say("Summary")
    say(f"  backfill      {status}" + (f" ({backfill_id})" if backfill_id else ""))
    for key, state in sorted(per_asset.items()):
        say(f"  {key:<32}{state}")
    say(f"  raw events    {raw_events.stored_rows(first, last):,} rows for {first}..{last}")
    say(f"  profiles      {raw_events.profile_count():,}")
    if backfill_id:
        tally = backfill.check_results(backfill_id)
        say(
            f"  checks        {tally.passed} passed, {tally.failed} failed, {tally.warned} warnings"
            f" (backfill {backfill_id})"
        )
        for line in tally.failures[:20]:
            say(f"    {line}")


def _run_backfill(url: str, first: date, last: date, *, title: str, only_missing: bool) -> None:
    from hitcraft_assets.cli import backfill
    from hitcraft_assets.store import raw_events

    days = backfill.missing_days(first, last) if only_missing else [first]
    last_id_file = settings.hitcraft_home() / "last_backfill_id"
    if not days:
        say(f"All days {first}..{last} are already materialized; nothing to backfill (data reused).")
        previous = last_id_file.read_text().strip() if last_id_file.exists() else None
        _summary(first, last, previous, "nothing to do", {"mixpanel/raw_events": f"{(last - first).days + 1} days"})
        return
    start = min(days)
    say(f"Backfilling {start}..{last} ({(last - start).days + 1} days) through the Dagster instance …")
    backfill_id = backfill.launch(url, start, last, title=title)
    say(f"Backfill {backfill_id}: {url}/runs/b/{backfill_id}")
    last_id_file.write_text(backfill_id)
    say("Waiting for it as long as it makes progress (Ctrl-C stops waiting; the backfill stays in the instance).")
    result = backfill.wait(url, backfill_id, say, rows_so_far=lambda: raw_events.stored_rows(start, last))
    _summary(first, last, backfill_id, result.status.lower(), result.per_asset)
    if result.status not in ("COMPLETED_SUCCESS", "COMPLETED"):
        details = backfill.failure_details(url, backfill_id)
        raise UserError(
            f"backfill ended {result.status}; open {url}/runs/b/{backfill_id} for the failed runs"
            + "".join(f"\n  {line}" for line in details)
        )


APP_PORT = typer.Option(8080, "--app-port", min=0, max=65535, help="Port of the analytics app (0: do not start it).")


def dev(
    host: str = typer.Option("127.0.0.1", help="Interface for the Dagster UI and the analytics app."),
    port: int = typer.Option(3000, help="Port for the Dagster UI."),
    app_port: int = APP_PORT,
) -> None:
    """Start the Dagster UI and daemon, and the analytics app, on the existing data (embedded PostgreSQL started as
    needed). Ctrl-C stops everything, including the embedded database."""
    from hitcraft_assets.cli import runtime
    from hitcraft_assets.cli.serve import announce, app_beside_dagster

    runtime.interrupt_on_termination()
    try:
        with EmbeddedDatabase(), runtime.dagster_dev(host, port) as server:
            with app_beside_dagster(host, app_port) as app_url:
                say(f"Dagster UI: {server.url}  (Ctrl-C stops the UI, the daemon, the app and the embedded database)")
                if app_url:
                    announce(app_url)
                server.process.wait()
    except KeyboardInterrupt:
        pass


def demo(
    days: int = typer.Option(60, min=1, help="How many days back from yesterday to load."),
    ui: bool = typer.Option(True, "--ui/--no-ui", help="Keep the Dagster UI running afterwards."),
    host: str = typer.Option("127.0.0.1", help="Interface for the Dagster UI."),
    port: int = typer.Option(3000, help="Port for the Dagster UI."),
    app_port: int = APP_PORT,
) -> None:
    """Backfill the last DAYS days of the Mixpanel source (the sample Mixpanel unless MIXPANEL_*
    credentials are set) through every asset in one single-run backfill, print a summary, then keep the
    Dagster UI and the analytics app running (Ctrl-C stops everything). Re-running reuses the data and loads only
    missing days."""
    from hitcraft_assets.cli import runtime
    from hitcraft_assets.cli.serve import announce, app_beside_dagster

    last = settings.reporting_today() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    source = "the sample Mixpanel" if settings.mixpanel_settings().is_sample else "Mixpanel"
    say(f"HitCraft demo: {first}..{last} from {source}; data in {settings.hitcraft_home()}")
    runtime.interrupt_on_termination()
    try:
        with EmbeddedDatabase(), runtime.dagster_dev(host, port if ui else None, quiet=True) as server:
            if settings.mixpanel_settings().is_sample:  # the marketing spend a team keeps outside Mixpanel
                from hitcraft_assets.cli.revenue import import_sample_spend

                say(f"sample marketing spend: {import_sample_spend(first, last)} rows (hitcraft revenue import-spend)")
            _run_backfill(server.url, first, last, title=f"demo {first}..{last}", only_missing=True)
            if ui:
                with app_beside_dagster(host, app_port) as app_url:
                    say(
                        f"\nDagster UI: {server.url}  (Ctrl-C stops the UI, the daemon, the app and the embedded "
                        f"database; log: {server.log_path})"
                    )
                    if app_url:
                        announce(app_url)
                    server.process.wait()
    except KeyboardInterrupt:
        pass


def backfill(
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD (reporting time zone)."),
    end: str = typer.Option(..., "--end", help="Last day, YYYY-MM-DD (inclusive)."),
    url: str = typer.Option(
        "http://127.0.0.1:3000",
        help="A running Dagster webserver of this HITCRAFT_HOME's instance (another instance's is refused); "
        "started headless for the duration when none answers there.",
    ),
) -> None:
    """Backfill a date range of every asset through the Dagster instance (one single-run backfill; it
    shows in the UI under Runs → Backfills)."""
    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    check_range(first, last)  # before anything heavy is imported or started
    settings.mixpanel_settings()
    from hitcraft_assets.cli import runtime

    runtime.interrupt_on_termination()
    try:
        with EmbeddedDatabase():
            runtime.apply_environment()
            try:
                ready = runtime.wait_for_webserver(url, say)
            except RuntimeError:
                ready = False
            if ready:
                _check_instance(url)
                _run_backfill(url, first, last, title=f"cli {first}..{last}", only_missing=False)
                return
            with runtime.dagster_dev(quiet=True) as server:
                _run_backfill(server.url, first, last, title=f"cli {first}..{last}", only_missing=False)
    except KeyboardInterrupt:
        raise UserError(
            "interrupted; a launched backfill stays in the instance and resumes when `hitcraft dev` runs"
        ) from None


def _check_instance(url: str) -> None:
    """Refuse a webserver that serves another instance (e.g. a UI started from another HITCRAFT_HOME)."""
    import dagster as dg

    from hitcraft_assets.cli import backfill, runtime

    mismatch = backfill.instance_mismatch(url, dg.DagsterInstance.get(), runtime.dagster_home())
    if mismatch:
        raise UserError(mismatch)


def env() -> None:
    """Print `export` lines for plain `dagster dev` / `dagster-daemon`: eval "$(hitcraft env)"."""
    from hitcraft_assets.cli import runtime

    for key, value in runtime.dagster_environment().items():
        typer.echo(f"export {key}='{value}'")


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
    """Write sample Mixpanel export files (one NDJSON file per day, export line format) and the sample's marketing
    spend (channel_spend.csv, for `hitcraft revenue import-spend`)."""
    from hitcraft_assets.mixpanel.sample import Simulator, load_scenario, write_export_files

    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    if first > last:
        raise UserError(f"--start {first} is after --end {last}")
    sim = Simulator(
        load_scenario(scenario), seed=seed, scale=scale, anchor_date=parse_day(anchor, "--anchor") if anchor else None
    )
    started = time.monotonic()
    files = write_export_files(sim, first, last, out, gzip=gzip)
    from hitcraft_assets.cli.revenue import write_spend_csv
    from hitcraft_assets.mixpanel.sample.marketing import spend_rows

    spend = spend_rows(sim.model, first, last)
    if spend:  # the marketing spend a team keeps outside Mixpanel (`hitcraft revenue import-spend`)
        write_spend_csv(spend, out / "channel_spend.csv")
        files.append(out / "channel_spend.csv")
    for f in files:
        say(f"{f}  {f.stat().st_size / 1e6:.1f} MB")
    say(f"{len(files)} file(s) in {time.monotonic() - started:.1f}s")
