"""Raw Mixpanel assets: `mixpanel/raw_events` (daily partitions) and `mixpanel/raw_profiles` (Engage)."""

import time
from datetime import date

import dagster as dg

from hitcraft_assets import settings
from hitcraft_assets.defs.partitions import daily_partitions
from hitcraft_assets.defs.resources import MixpanelResource, WarehouseResource

RAW_EVENTS = dg.AssetKey(["mixpanel", "raw_events"])
RAW_PROFILES = dg.AssetKey(["mixpanel", "raw_profiles"])
MIXPANEL_POOL = "mixpanel_export"  # dagster.yaml limits every pool to one step at a time


def _table(records: list[dict], columns: dict[str, str]) -> dg.TableMetadataValue:
    return dg.MetadataValue.table(
        records=[dg.TableRecord(r) for r in records],
        schema=dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in columns.items()]),
    )


@dg.asset(
    key=RAW_EVENTS,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=MIXPANEL_POOL,
    group_name="ingest",
    kinds={"mixpanel", "postgres"},
    description=(
        "Mixpanel Raw Event Export lines for each reporting day, in `raw.events` (one PostgreSQL partition "
        "per day; duplicates kept, deduplicated in dbt staging). A run over a range makes one export request "
        "per ≤30-day window and replaces each window's days atomically. Unstorable lines go to "
        "`raw.events_quarantine` with the reason."
    ),
)
def raw_events(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mixpanel: MixpanelResource
) -> dg.MaterializeResult:
    from hitcraft_assets.mixpanel.client import CLIENT_VERSION
    from hitcraft_assets.mixpanel.ingest import load_days
    from hitcraft_assets.store.raw_events import ensure_schema, window_statistics

    days = [date.fromisoformat(k) for k in context.partition_keys]
    source = mixpanel.open()
    if source.is_sample:
        context.log.warning("No MIXPANEL_* credentials set: loading from the sample Mixpanel (simulated HitCraft data)")
    context.log.info(f"Loading {len(days)} day(s) {days[0]}..{days[-1]} from {source.label}")
    started = time.monotonic()
    with warehouse.connection() as conn, source.client:
        ensure_schema(conn)
        loads = load_days(
            conn,
            source.client,
            days,
            reporting_tz=settings.reporting_timezone(),
            source=source.label,
            client_version=CLIENT_VERSION,
            local_time_to_utc=source.local_time_to_utc,
            project_today=source.project_today(),
            progress=context.log.info,
        )
        stats = window_statistics(conn, days[0], days[-1])
    seconds = time.monotonic() - started

    rows = sum(w.rows for w in loads)
    quarantine: dict[str, int] = {}
    for w in loads:
        for reason, n in w.quarantine_reasons.items():
            quarantine[reason] = quarantine.get(reason, 0) + n
    per_day = {r["day"]: r for r in stats["per_day"]}
    day_rows = []
    for w in loads:
        for d in w.days:
            r = per_day.get(d.isoformat(), {})
            day_rows.append(
                {
                    "day": d.isoformat(),
                    "rows": w.rows_by_day[d],
                    "previous_rows": w.previous_rows_by_day[d],
                    "added_by_reload": w.rows_by_day[d] - w.previous_rows_by_day[d],
                    "distinct_users": r.get("distinct_users", 0),
                    "duplicates": r.get("duplicates", 0),
                }
            )
    reloaded = [r for r in day_rows if r["previous_rows"]]
    if reloaded:
        added = ", ".join(f"{r['day']}: {r['added_by_reload']:+,}" for r in reloaded)
        context.log.info(f"Re-loaded {len(reloaded)} day(s) that already had data; rows added: {added}")
    megabytes = sum(w.bytes for w in loads) / 1e6
    return dg.MaterializeResult(
        metadata={
            # One materialization event per day carries this metadata: the standard row count only where it
            # is that day's own, the run's total under its own name.
            **({"dagster/row_count": rows} if len(days) == 1 else {}),
            "rows_in_run": rows,
            "source": source.label,
            "sample_data": source.is_sample,
            "days": f"{days[0]}..{days[-1]} ({len(days)})",
            "export_windows": ", ".join(f"{w.export_from}..{w.export_to}" for w in loads),
            "export_requests": sum(w.attempts for w in loads),
            "rows_per_day": _table(
                day_rows,
                {
                    "day": "date",
                    "rows": "int",
                    "previous_rows": "int",
                    "added_by_reload": "int",
                    "distinct_users": "int",
                    "duplicates": "int",
                },
            ),
            "events_by_name": _table(stats["by_event"], {"event": "string", "rows": "int"}),
            "distinct_users_max_day": max((r["distinct_users"] for r in day_rows), default=0),
            "duplicates_seen": sum(r["duplicates"] for r in day_rows),
            "quarantined": sum(quarantine.values()),
            "quarantined_by_reason": quarantine or "none",
            "skipped_other_days": sum(w.skipped_other_days for w in loads),
            "rows_added_by_reload": sum(r["added_by_reload"] for r in reloaded),
            "megabytes": round(megabytes, 2),
            "seconds": round(seconds, 2),
            "events_per_second": round(rows / seconds) if seconds else 0,
        }
    )


@dg.asset(
    key=RAW_PROFILES,
    pool=MIXPANEL_POOL,
    group_name="ingest",
    kinds={"mixpanel", "postgres"},
    description="Mixpanel user profiles (Engage API) in `raw.profiles`, replaced atomically on each run.",
)
def raw_profiles(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mixpanel: MixpanelResource
) -> dg.MaterializeResult:
    from hitcraft_assets.store.raw_events import ensure_schema, profiles_by_role, replace_profiles

    source = mixpanel.open()
    started = time.monotonic()
    with warehouse.connection() as conn, source.client:
        ensure_schema(conn)
        count = replace_profiles(conn, source.client.engage_profiles(), source=source.label)
        by_role = [{"role": r, "profiles": n} for r, n in profiles_by_role(conn)]
        conn.rollback()
    context.log.info(f"Stored {count:,} profiles from {source.label}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": count,
            "source": source.label,
            "sample_data": source.is_sample,
            "profiles_by_role": _table(by_role, {"role": "string", "profiles": "int"}),
            "seconds": round(time.monotonic() - started, 2),
        }
    )
