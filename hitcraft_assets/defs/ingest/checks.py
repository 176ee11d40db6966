"""Data-quality checks on `mixpanel/raw_events` partitions, evaluated with Great Expectations 1.x.

Blocking (downstream models would be wrong): the contract (columns and types, event and insert id present,
event_time inside its partition day) and the quarantine share. Warnings: unknown event names (vs. the event
catalog seed) and day volume far from the trailing 28-day same-weekday median.
"""

import csv
from datetime import date

import dagster as dg

from hitcraft_assets import settings
from hitcraft_assets.defs.ingest.assets import RAW_EVENTS
from hitcraft_assets.defs.resources import WarehouseResource
from hitcraft_assets.store import raw_quality

EVENT_CATALOG = settings.REPO_ROOT / "dbt_project" / "seeds" / "event_catalog.csv"
#: The thresholds as the code location loaded them (HITCRAFT_MAX_QUARANTINE_SHARE, HITCRAFT_VOLUME_DEVIATION_FACTOR,
#: HITCRAFT_MIN_INSERT_ID_SHARE), for the checks' descriptions; each evaluation reads them again.
_THRESHOLDS = settings.check_settings()

EXPECTED_COLUMNS = {
    "partition_date:date",
    "event:text",
    "distinct_id:text",
    "event_time:timestamp with time zone",
    "insert_id:text",
    "mp_processing_time:timestamp with time zone",
    "properties:jsonb",
    "source:text",
    "export_from:date",
    "export_to:date",
    "load_id:uuid",
    "loaded_at:timestamp with time zone",
    "client_version:text",
}


def _days(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> tuple[date, date]:
    """The days this run loaded; run on its own (e.g. "Execute" in the UI), the days of the latest load.

    The checks are deliberately unpartitioned: in Dagster 1.13 a partitioned check evaluated in a range run
    (every single-run backfill) records one unpartitioned result and leaves each partition "skipped".
    """
    if context.has_partition_key_range:
        window = context.partition_key_range
        return date.fromisoformat(window.start), date.fromisoformat(window.end)
    if "dagster/partition" in context.run.tags:
        day = date.fromisoformat(context.run.tags["dagster/partition"])
        return day, day
    row = raw_quality.latest_load_days(warehouse.url())
    if row is None:
        raise dg.Failure("raw.events has never been loaded: materialize mixpanel/raw_events first")
    return row


_CHECKS: dict = {}  # name -> (function(first, last, warehouse), blocking, description)


def _check(*, blocking: bool, description: str):
    def register(fn):
        _CHECKS[fn.__name__] = (fn, blocking, description)
        return fn

    return register


def _result(
    outcomes, days: tuple[date, date], *, severity: dg.AssetCheckSeverity, summary: str, **extra
) -> dg.AssetCheckResult:
    from hitcraft_assets.store.data_quality import outcomes_markdown

    failed = [o for o in outcomes if not o.success]
    return dg.AssetCheckResult(
        passed=not failed,
        severity=severity,
        description=summary
        if not failed
        else f"{len(failed)} expectation(s) failed: "
        + "; ".join(f"{o.expectation}({o.column or ''}): {o.observed}" for o in failed),
        metadata={
            "days_checked": f"{days[0]}..{days[1]}",
            "expectations": dg.MetadataValue.md(outcomes_markdown(outcomes)),
            **extra,
        },
    )


@_check(
    blocking=True,
    description="Columns and types match the raw contract; event and $insert_id present; every "
    "event_time lies inside its partition's reporting day.",
)
def raw_events_contract(first: date, last: date, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    import great_expectations.expectations as gxe

    from hitcraft_assets.store.data_quality import validate_query

    url = warehouse.sqlalchemy_url()
    schema = validate_query(
        url,
        raw_quality.COLUMN_TYPES,
        [gxe.ExpectColumnDistinctValuesToEqualSet(column="column_type", value_set=sorted(EXPECTED_COLUMNS))],
        name="raw_events_schema",
    )
    rows = validate_query(
        url,
        raw_quality.rows_with_partition_fit(first, last, settings.reporting_timezone()),
        [
            gxe.ExpectColumnValuesToNotBeNull(column="event"),
            gxe.ExpectColumnValuesToNotBeNull(column="event_time"),
            gxe.ExpectColumnValuesToNotBeNull(column="insert_id", mostly=settings.check_settings().min_insert_id_share),
            gxe.ExpectColumnValuesToBeInSet(column="time_in_partition", value_set=[True]),
        ],
        name="raw_events_rows",
    )
    # A day with no events after days that had some is an outage or a broken load, not a quiet day.
    empty = validate_query(
        url,
        raw_quality.rows_on_days_with_history(first, last, settings.reporting_timezone()),
        [gxe.ExpectColumnValuesToBeBetween(column="rows_on_day_with_history", min_value=1)],
        name="raw_events_non_empty_days",
    )
    return _result(
        schema + rows + empty,
        (first, last),
        severity=dg.AssetCheckSeverity.ERROR,
        summary=f"contract holds for {first}..{last}",
    )


@_check(
    blocking=True,
    description=f"Share of export lines quarantined per day stays below "
    f"{_THRESHOLDS.max_quarantine_share:.1%} (HITCRAFT_MAX_QUARANTINE_SHARE).",
)
def raw_events_quarantine_share(first: date, last: date, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    import great_expectations.expectations as gxe

    from hitcraft_assets.store.data_quality import validate_query

    max_share = settings.check_settings().max_quarantine_share
    outcomes = validate_query(
        warehouse.sqlalchemy_url(),
        raw_quality.quarantine_shares(first, last),
        [gxe.ExpectColumnValuesToBeBetween(column="quarantine_share", min_value=0, max_value=max_share)],
        name="raw_events_quarantine_share",
    )
    reasons = raw_quality.quarantine_reasons(first, last, warehouse.url())
    return _result(
        outcomes,
        (first, last),
        severity=dg.AssetCheckSeverity.ERROR,
        summary=f"quarantine share below {max_share:.1%} on every day",
        quarantined_by_reason=reasons or "none",
    )


@_check(
    blocking=False,
    description="Event names are in the event catalog (dbt_project/seeds/event_catalog.csv); "
    "an unknown name warns (a new tracking plan entry, or a typo in instrumentation).",
)
def raw_events_known_names(first: date, last: date, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    import great_expectations.expectations as gxe

    from hitcraft_assets.store.data_quality import validate_query

    with EVENT_CATALOG.open(newline="") as f:
        catalog = sorted(row["event"] for row in csv.DictReader(f))
    outcomes = validate_query(
        warehouse.sqlalchemy_url(),
        raw_quality.distinct_events(first, last),
        [gxe.ExpectColumnValuesToBeInSet(column="event", value_set=catalog)],
        name="raw_events_known_names",
    )
    return _result(
        outcomes,
        (first, last),
        severity=dg.AssetCheckSeverity.WARN,
        summary="all event names are in the catalog",
        catalog_size=len(catalog),
    )


@_check(
    blocking=False,
    description=f"Each day's row count is within ×{_THRESHOLDS.volume_deviation_factor:g} of the median of the same "
    "weekday over the previous 28 days (HITCRAFT_VOLUME_DEVIATION_FACTOR); days without history pass.",
)
def raw_events_daily_volume(first: date, last: date, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    import great_expectations.expectations as gxe

    from hitcraft_assets.store.data_quality import validate_query

    factor = settings.check_settings().volume_deviation_factor
    outcomes = validate_query(
        warehouse.sqlalchemy_url(),
        raw_quality.daily_volume_ratios(first, last),
        [gxe.ExpectColumnValuesToBeBetween(column="ratio_to_median", min_value=1 / factor, max_value=factor)],
        name="raw_events_daily_volume",
    )
    return _result(
        outcomes,
        (first, last),
        severity=dg.AssetCheckSeverity.WARN,
        summary=f"every day within ×{factor:g} of its weekday median (or without history)",
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(name, asset=RAW_EVENTS, blocking=blocking, description=description)
        for name, (_, blocking, description) in _CHECKS.items()
    ],
    name="raw_events_checks",
)
def raw_events_checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    """All raw-event checks in one step: one process and one GX import instead of one per check."""
    first, last = _days(context, warehouse)
    context.log.info(f"checking raw.events for {first}..{last}")
    for name, (check, _, _) in _CHECKS.items():
        result = check(first, last, warehouse)
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=RAW_EVENTS,
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            metadata=result.metadata,
        )


raw_event_checks = [raw_events_checks]
