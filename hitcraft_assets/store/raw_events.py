"""The `raw` schema: Mixpanel events (one PostgreSQL partition per reporting day), quarantine, profiles.

A load replaces a set of reporting days in one transaction: TRUNCATE the day partitions, COPY the export
stream into the parent table (PostgreSQL routes rows to the day partitions), COPY quarantined lines, commit.
A crash anywhere before the commit leaves the previous contents; a re-run gives the same rows.

The parser (`lines.py`) quarantines every line it knows PostgreSQL cannot store, so the day's COPY does not
fail. Should PostgreSQL still refuse a row (a data or limit error: a class the parser does not know, e.g. a
character the database encoding lacks), the window is exported again and copied in batches, each in a
savepoint; a refused batch is bisected down to its refused rows, which go to the quarantine as
`rejected_by_postgres` with PostgreSQL's message and the raw line. One bad line never fails the day.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hitcraft_assets.mixpanel.lines import DayGrid, LineParser, copy_text
from hitcraft_assets.store import warehouse
from hitcraft_assets.store.warehouse import IteratorReader

log = logging.getLogger(__name__)

RAW_EVENT_COPY_COLUMNS = (
    "partition_date, event, distinct_id, event_time, insert_id, mp_processing_time, properties, "
    "source, export_from, export_to, load_id, loaded_at, client_version"
)

SCHEMA_DDL = """
create schema if not exists raw;
create table if not exists raw.events (
    partition_date      date        not null,
    event               text        not null,
    distinct_id         text,
    event_time          timestamptz not null,
    insert_id           text,
    mp_processing_time  timestamptz,
    properties          jsonb       not null,
    source              text        not null,
    export_from         date        not null,
    export_to           date        not null,
    load_id             uuid        not null,
    loaded_at           timestamptz not null,
    client_version      text        not null
) partition by range (partition_date);
comment on table raw.events is
    'Mixpanel export lines as loaded, one partition per reporting day; duplicates kept (dedup in dbt staging).';
create table if not exists raw.events_quarantine (
    partition_date  date,
    window_first    date        not null,
    window_last     date        not null,
    line_number     bigint      not null,
    reason          text        not null,
    detail          text        not null,
    raw_line        bytea       not null,
    source          text        not null,
    load_id         uuid        not null,
    loaded_at       timestamptz not null
);
create index if not exists events_quarantine_day on raw.events_quarantine (partition_date);
create table if not exists raw.profiles (
    distinct_id text        primary key,
    properties  jsonb       not null,
    source      text        not null,
    load_id     uuid        not null,
    loaded_at   timestamptz not null
);
create table if not exists raw.loads (
    load_id                 uuid        primary key,
    kind                    text        not null,
    first_day               date,
    last_day                date,
    export_from             date,
    export_to               date,
    source                  text        not null,
    rows_loaded             bigint      not null,
    quarantined             bigint      not null,
    skipped_other_days      bigint      not null,
    bytes                   bigint      not null,
    attempts                integer     not null,
    seconds                 double precision not null,
    loaded_at               timestamptz not null
);
alter table raw.loads add column if not exists lines bigint not null default 0;
comment on table raw.events_quarantine is
    'Export lines that could not be stored, byte for byte, with the reason. Rows with a partition_date are '
    'replaced when that day is re-loaded; undated rows (unparseable lines) are an audit log per load_id.';
"""

_DDL_LOCK = 7_301_001  # advisory lock id serialising DDL between concurrent runs
_FALLBACK_BATCH_ROWS = 5000  # rows per savepoint in the per-row fallback
_FALLBACK_BATCH_BYTES = 8 << 20
# SQLSTATE classes of errors a row's content causes: data exception, integrity violation, program limit
# exceeded (e.g. 54001 stack depth of a deep jsonb). Anything else (connection, cancel) is not the row's fault.
_ROW_ERROR_CLASSES = ("22", "23", "54")


class _RowRefused(Exception):
    """PostgreSQL refused a row of the streamed COPY (carries its error); the loader falls back per row."""


def _is_row_error(exc: BaseException) -> bool:
    code = getattr(exc, "pgcode", None)
    return bool(code) and code[:2] in _ROW_ERROR_CLASSES


def ensure_schema(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        cur.execute(SCHEMA_DDL)
    conn.commit()


def partition_table(day: date) -> str:
    return f"raw.events_{day:%Y%m%d}"


def ensure_partitions(conn, days: list[date]) -> None:
    """Create missing day partitions in a short transaction of their own (DDL locks the parent table)."""
    with conn.cursor() as cur:
        cur.execute(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "join pg_class p on p.oid = i.inhparent join pg_namespace n on n.oid = p.relnamespace "
            "where n.nspname = 'raw' and p.relname = 'events'"
        )
        existing = {r[0] for r in cur.fetchall()}
        missing = [d for d in days if partition_table(d).split(".")[1] not in existing]
        if missing:
            cur.execute("select pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            for day in missing:
                cur.execute(
                    f"create table if not exists {partition_table(day)} partition of raw.events "
                    "for values from (%s) to (%s)",
                    (day, day + timedelta(days=1)),
                )
    conn.commit()


@dataclass
class WindowLoad:
    """What one window load stored; the asset turns this into Dagster metadata."""

    load_id: str
    days: list[date]
    export_from: date
    export_to: date
    rows_by_day: dict[date, int]
    previous_rows_by_day: dict[date, int]
    quarantine_reasons: dict[str, int]
    skipped_other_days: int
    lines: int
    bytes: int
    attempts: int
    seconds: float
    stats: dict = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.rows_by_day.values())

    @property
    def quarantined(self) -> int:
        return sum(self.quarantine_reasons.values())


def day_counts(cur, first: date, last: date) -> dict[date, int]:
    cur.execute(
        "select partition_date, count(*) from raw.events where partition_date between %s and %s group by 1",
        (first, last),
    )
    return dict(cur.fetchall())


def load_window(
    conn,
    *,
    days: list[date],
    reporting_timezone: str,
    export_from: date,
    export_to: date,
    export_bounds_utc: tuple[float, float],
    export: Callable[[Callable[[Iterator[bytes]], LineParser]], LineParser],
    source: str,
    client_version: str,
    local_time_to_utc: Callable[[float], float] | None = None,
) -> WindowLoad:
    """Replace the reporting `days` with one export window's lines, atomically.

    `export(consume)` runs the export, calling `consume(lines)` once per attempt (the Mixpanel client's
    retry contract); each attempt runs inside a SAVEPOINT that is rolled back if the attempt fails.
    """
    started = time.monotonic()
    load_id = str(uuid.uuid4())
    loaded_at = datetime.now(UTC)
    grid = DayGrid.for_days(days[0], days[-1], reporting_timezone)
    load_columns = "\t".join(
        copy_text(v) for v in (source, export_from, export_to, load_id, loaded_at.isoformat(), client_version)
    )
    attempts = 0
    ensure_partitions(conn, days)
    with conn.cursor() as cur:
        previous = day_counts(cur, days[0], days[-1])

        def consume(lines: Iterator[bytes]) -> LineParser:
            # Everything an attempt changes sits after a savepoint: a failed attempt rolls back and
            # releases its locks while the client backs off.
            nonlocal attempts
            attempts += 1
            parser = LineParser(grid, *export_bounds_utc, load_columns, local_time_to_utc)
            reader = IteratorReader(parser.copy_chunks(lines))
            cur.execute("savepoint export_attempt")
            try:
                cur.execute(f"truncate {', '.join(partition_table(d) for d in days)}")
                cur.execute(
                    "delete from raw.events_quarantine where partition_date between %s and %s", (days[0], days[-1])
                )
                cur.copy_expert(f"copy raw.events ({RAW_EVENT_COPY_COLUMNS}) from stdin", reader, size=1 << 16)
            except BaseException as exc:
                cur.execute("rollback to savepoint export_attempt")
                if reader.error is not None and reader.error is not exc:
                    raise reader.error from None  # the export's own error, so the client can retry it
                if _is_row_error(exc):  # not a Mixpanel error: the client does not retry it, load_window does
                    raise _RowRefused(str(exc).strip()) from exc
                raise
            cur.execute("release savepoint export_attempt")
            return parser

        def consume_row_by_row(lines: Iterator[bytes]) -> LineParser:
            """Like `consume`, but COPY in batches in savepoints; a refused batch is bisected to its bad rows."""
            nonlocal attempts
            attempts += 1
            parser = LineParser(grid, *export_bounds_utc, load_columns, local_time_to_utc)
            copy_sql = f"copy raw.events ({RAW_EVENT_COPY_COLUMNS}) from stdin"

            def copy_batch(batch: list[tuple[bytes, bytes, date, int]]) -> None:
                cur.execute("savepoint copy_batch")
                try:
                    cur.copy_expert(copy_sql, io.BytesIO(b"".join(row for row, *_ in batch)), size=1 << 16)
                except Exception as exc:
                    cur.execute("rollback to savepoint copy_batch")
                    if not _is_row_error(exc):
                        raise
                    if len(batch) == 1:
                        _, line, day, number = batch[0]
                        log.warning("PostgreSQL refused export line %d (quarantined): %s", number, exc)
                        parser.reject_row(line, day, number, f"{type(exc).__name__}: {str(exc).strip()}")
                        return
                    half = len(batch) // 2
                    copy_batch(batch[:half])
                    copy_batch(batch[half:])
                    return
                cur.execute("release savepoint copy_batch")

            cur.execute("savepoint export_attempt")
            try:
                cur.execute(f"truncate {', '.join(partition_table(d) for d in days)}")
                cur.execute(
                    "delete from raw.events_quarantine where partition_date between %s and %s", (days[0], days[-1])
                )
                batch: list[tuple[bytes, bytes, date, int]] = []
                size = 0
                for row in parser._rows(lines):
                    batch.append((row, parser.row_line, parser.row_day, parser.lines))
                    size += len(row)
                    if len(batch) >= _FALLBACK_BATCH_ROWS or size >= _FALLBACK_BATCH_BYTES:
                        copy_batch(batch)
                        batch, size = [], 0
                if batch:
                    copy_batch(batch)
            except BaseException:
                cur.execute("rollback to savepoint export_attempt")
                raise
            cur.execute("release savepoint export_attempt")
            return parser

        try:
            parser = export(consume)
        except _RowRefused as exc:
            log.warning(
                "PostgreSQL refused a row of the export %s..%s (%s); exporting the window again to copy it "
                "row by row and quarantine the refused lines",
                export_from,
                export_to,
                exc,
            )
            parser = export(consume_row_by_row)
        _store_quarantine(cur, parser, days, source, load_id, loaded_at)
        seconds = time.monotonic() - started
        cur.execute(
            "insert into raw.loads (load_id, kind, first_day, last_day, export_from, export_to, source, rows_loaded, "
            "quarantined, skipped_other_days, bytes, attempts, seconds, loaded_at, lines) "
            "values (%s, 'events', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                load_id,
                days[0],
                days[-1],
                export_from,
                export_to,
                source,
                sum(parser.rows_by_day.values()),
                parser.quarantined,
                parser.skipped_other_days,
                parser.bytes,
                attempts,
                seconds,
                loaded_at,
                parser.lines,
            ),
        )
    conn.commit()
    return WindowLoad(
        load_id=load_id,
        days=days,
        export_from=export_from,
        export_to=export_to,
        rows_by_day={d: parser.rows_by_day.get(d, 0) for d in days},
        previous_rows_by_day={d: previous.get(d, 0) for d in days},
        quarantine_reasons=dict(parser.quarantine_reasons),
        skipped_other_days=parser.skipped_other_days,
        lines=parser.lines,
        bytes=parser.bytes,
        attempts=attempts,
        seconds=time.monotonic() - started,
    )


def _store_quarantine(cur, parser: LineParser, days: list[date], source, load_id, loaded_at) -> None:
    if not parser.quarantined:
        return
    parser.quarantine_file.seek(0)
    cur.execute(
        "create temporary table quarantine_load (partition_date date, line_number bigint, reason text, "
        "detail text, raw_line bytea) on commit drop"
    )
    cur.copy_expert("copy quarantine_load from stdin", parser.quarantine_file)
    cur.execute(
        "insert into raw.events_quarantine (partition_date, window_first, window_last, line_number, reason, detail, "
        "raw_line, source, load_id, loaded_at) select partition_date, %s, %s, line_number, reason, detail, raw_line, "
        "%s, %s, %s from quarantine_load",
        (days[0], days[-1], source, load_id, loaded_at),
    )
    parser.quarantine_file.close()


def window_statistics(conn, first: date, last: date) -> dict:
    """Per-day rows, distinct users and duplicates, and events by name, for loaded days (read-only)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            select partition_date, count(*), count(distinct distinct_id),
                   count(*) - count(distinct (event, distinct_id, event_time, insert_id))
            from raw.events where partition_date between %s and %s group by 1 order by 1
            """,
            (first, last),
        )
        per_day = [
            {"day": d.isoformat(), "rows": n, "distinct_users": u, "duplicates": dup} for d, n, u, dup in cur.fetchall()
        ]
        cur.execute(
            "select event, count(*) from raw.events where partition_date between %s and %s "
            "group by 1 order by 2 desc, 1",
            (first, last),
        )
        by_event = [{"event": e, "rows": n} for e, n in cur.fetchall()]
    conn.rollback()
    return {"per_day": per_day, "by_event": by_event}


def replace_profiles(conn, profiles: Iterator[dict], *, source: str) -> int:
    """Replace raw.profiles with an Engage export in one transaction; returns the profile count."""
    import orjson

    load_id = str(uuid.uuid4())
    loaded_at = datetime.now(UTC).isoformat()
    count = 0

    def chunks() -> Iterator[bytes]:
        nonlocal count
        rows: list[str] = []
        for profile in profiles:
            distinct_id = profile.get("$distinct_id")
            if distinct_id in (None, ""):
                raise ValueError(f"Engage profile without $distinct_id: {str(profile)[:200]}")
            props = orjson.dumps(profile.get("$properties") or {}).decode().replace("\\", "\\\\")
            rows.append(f"{copy_text(distinct_id)}\t{props}\t{copy_text(source)}\t{load_id}\t{loaded_at}\n")
            count += 1
            if len(rows) >= 2000:
                yield "".join(rows).encode()
                rows = []
        if rows:
            yield "".join(rows).encode()

    with conn.cursor() as cur:
        cur.execute("create temporary table profiles_load (like raw.profiles) on commit drop")
        cur.copy_expert("copy profiles_load from stdin", IteratorReader(chunks()))
        cur.execute("truncate raw.profiles")
        # Engage pages can repeat a profile; keep one row per distinct_id (the last seen).
        cur.execute(
            "insert into raw.profiles select distinct on (distinct_id) * from profiles_load "
            "order by distinct_id, ctid desc"
        )
        cur.execute("select count(*) from raw.profiles")
        stored = cur.fetchone()[0]
    conn.commit()
    return stored


def stored_rows(first: date, last: date, url: str | None = None) -> int:
    """Rows of `raw.events` in the reporting days first..last (0 before the first load)."""
    if not warehouse.table_exists("raw.events", url):
        return 0
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.events where partition_date between %s and %s", (first, last))
        return cur.fetchone()[0]


def profile_count(url: str | None = None) -> int:
    """Profiles in `raw.profiles` (0 before the first load)."""
    if not warehouse.table_exists("raw.profiles", url):
        return 0
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.profiles")
        return cur.fetchone()[0]


def profiles_by_role(conn) -> list[tuple[str, int]]:
    """(role, profiles) of raw.profiles, most first; `(none)` for profiles without a role."""
    with conn.cursor() as cur:
        cur.execute(
            "select coalesce(properties->>'role', '(none)'), count(*) from raw.profiles group by 1 order by 2 desc"
        )
        return cur.fetchall()
