"""PostgreSQL connections for the warehouse and Dagster's instance storage.

`HITCRAFT_DATABASE_URL` set: that server is the warehouse (and Dagster's storage unless `DAGSTER_PG_URL`
says otherwise). Unset: an embedded PostgreSQL from the `pgserver` wheel under `$HITCRAFT_HOME/pgdata`,
shared by every process of a run (CLI, webserver, daemon, run and step workers) through its Unix socket,
with separate databases `hitcraft` (warehouse) and `dagster` (instance storage).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hitcraft_assets import settings

log = logging.getLogger(__name__)

WAREHOUSE_DB = "hitcraft"
DAGSTER_DB = "dagster"


EMBEDDED_WORK_MEM = "128MB"


def _pgdata() -> Path:
    return settings.hitcraft_home() / "pgdata"


def embedded_server():
    """Start (or attach to) the embedded server; never stopped implicitly by a worker's exit."""
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the /tmp fallback is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # only when the embedded server is used

    pgdata = _pgdata()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    _ensure_databases(server.get_uri("postgres"))
    return server


def _ensure_databases(admin_url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for name in (WAREHOUSE_DB, DAGSTER_DB):
                cur.execute("select 1 from pg_database where datname = %s", (name,))
                if cur.fetchone() is None:
                    try:
                        cur.execute(f'create database "{name}"')
                    except psycopg2.errors.DuplicateDatabase:  # another process won the race
                        pass
            # The stock 4 MB makes the dbt builds' sorts and hashes spill to disk; an embedded server
            # has the machine to itself (an external warehouse is tuned by its administrator).
            cur.execute(f"alter database \"{WAREHOUSE_DB}\" set work_mem = '{EMBEDDED_WORK_MEM}'")
    finally:
        conn.close()


def embedded_running() -> bool:
    """Whether an embedded server is running under $HITCRAFT_HOME (without starting one)."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(_pgdata()) if (_pgdata() / "postmaster.pid").exists() else None
    return bool(info and info.is_running())


def embedded_other_clients() -> list[str]:
    """Client connections to the embedded server other than this one, each as "application (state)"; none if it is
    not running."""
    if not embedded_running():
        return []
    import psycopg2

    conn = psycopg2.connect(embedded_server().get_uri("postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select coalesce(nullif(application_name, ''), 'unnamed') || ' (' || coalesce(state, '?') || ')' "
                "from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() order by 1"
            )
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def stop_embedded_if_idle(wait_s: float = 10.0) -> tuple[bool, list[str]]:
    """Stop the embedded server unless other clients stay connected for `wait_s` (processes that were
    just told to stop may need a moment to close theirs). Returns (stopped, the clients still connected)."""
    import time

    deadline = time.monotonic() + wait_s
    while (clients := embedded_other_clients()) and time.monotonic() < deadline:
        time.sleep(0.5)
    if clients:
        return False, clients
    return stop_embedded(), []


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; returns whether it was running."""
    if not embedded_running():
        return False
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.name != "nt" and os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=_pgdata(), user=user)
    return True


def warehouse_url() -> str:
    """libpq URL of the warehouse database (starts the embedded server when needed)."""
    external = settings.external_database_url()
    if external:
        return external
    return embedded_server().get_uri(WAREHOUSE_DB)


def dagster_storage_url() -> str:
    """SQLAlchemy URL for dagster-postgres (scheme `postgresql+psycopg2`, see the trap in ARCHITECTURE.md)."""
    explicit = settings.database_settings().dagster_storage_url
    if explicit:
        return explicit
    external = settings.external_database_url()
    base = external if external else embedded_server().get_uri(DAGSTER_DB)
    parts = urlsplit(base)
    return urlunsplit(("postgresql+psycopg2", *parts[1:]))


def connect(url: str | None = None):
    """A psycopg2 connection to the warehouse (autocommit off)."""
    import psycopg2

    return psycopg2.connect(url or warehouse_url())


_pools: dict[str, tuple] = {}  # url -> (ThreadedConnectionPool, BoundedSemaphore): see use_pool
_pools_lock = threading.Lock()


def use_pool(url: str, size: int = 12) -> None:
    """From now on `connection(url)` in this process borrows from a pool of at most `size` connections (waiting for a
    free one) instead of opening one per call: for the analytics app, whose requests each make a few short reads.
    Other processes (Dagster runs, the CLI) keep one connection per call."""
    from psycopg2.pool import ThreadedConnectionPool

    with _pools_lock:
        if url not in _pools:
            _pools[url] = (ThreadedConnectionPool(1, size, url), threading.BoundedSemaphore(size))


def close_pools() -> None:
    """Close every pooled connection (before the embedded server stops: it waits for idle clients)."""
    with _pools_lock:
        for pool, _ in _pools.values():
            pool.closeall()
        _pools.clear()


@contextmanager
def connection(url: str | None = None) -> Iterator:
    """A connection closed (or, for a pooled URL, rolled back and returned to its pool) on exit."""
    pooled = _pools.get(url) if url else None
    if pooled is None:
        conn = connect(url)
        try:
            yield conn
        finally:
            conn.close()
        return
    pool, free = pooled
    with free:
        conn = pool.getconn()
        try:
            yield conn
        finally:
            broken = bool(conn.closed)
            if not broken:
                try:
                    conn.rollback()  # no transaction or session state leaks into the next borrower
                    conn.autocommit = False
                except Exception:
                    broken = True
            pool.putconn(conn, close=broken)


class IteratorReader:
    """A read-only file object over an iterator of byte chunks, for `cursor.copy_expert` streaming.

    psycopg2 reports an exception raised by `read()` as QueryCanceled; the original one is kept in
    `error` so that callers can re-raise it (a retryable network error must stay recognisable).
    """

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buffer = b""
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
            except BaseException as exc:
                self.error = exc
                raise
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    readline = read


def dbt_connection_env(url: str | None = None) -> dict[str, str]:
    """`HITCRAFT_DBT_*` variables for dbt_project/profiles.yml from a libpq URL (a socket directory is a host)."""
    from psycopg2.extensions import parse_dsn

    params = parse_dsn(url or warehouse_url())
    return {
        "HITCRAFT_DBT_HOST": params.get("host", "localhost"),
        "HITCRAFT_DBT_PORT": params.get("port", "5432"),
        "HITCRAFT_DBT_USER": params.get("user", "postgres"),
        "HITCRAFT_DBT_PASSWORD": params.get("password", ""),
        "HITCRAFT_DBT_DBNAME": params.get("dbname", WAREHOUSE_DB),
    }


# ---------------------------------------------------------------------------------------------- frames
@dataclass(frozen=True)
class Table:
    """A warehouse table written from DataFrames (ML and insight outputs): typed columns, created on first write."""

    schema: str
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type)
    primary_key: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f'"{self.schema}"."{self.name}"'

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def ddl(self) -> str:
        cols = [f'"{c}" {t}' for c, t in self.columns]
        if self.primary_key:
            cols.append("primary key (" + ", ".join(f'"{c}"' for c in self.primary_key) + ")")
        return f"create table if not exists {self.qualified} (\n  " + ",\n  ".join(cols) + "\n)"


def table_exists(qualified_name: str, url: str | None = None) -> bool:
    """Whether a table (`schema.table`) exists, e.g. before reading an output that no run has written yet."""
    with connection(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (qualified_name,))
        return bool(cur.fetchone()[0])


def read_frame(sql: str, params: dict | None = None, url: str | None = None):
    """Run a read query and return a DataFrame (dates stay `datetime.date`; `numeric` columns arrive as Decimal,
    so readers convert what they compute with)."""
    import pandas as pd

    with connection(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        names = [d[0] for d in cur.description]
        return pd.DataFrame.from_records(cur.fetchall(), columns=names)


def _json_safe(value):
    if isinstance(value, float) and value != value:  # NaN: not JSON, and jsonb rejects it
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _copy_value(value):
    if isinstance(value, dict | list):
        return json.dumps(_json_safe(value), allow_nan=False, default=float)
    if isinstance(value, bytes | memoryview):
        return "\\x" + bytes(value).hex()  # bytea hex input
    return value


INTEGER_TYPES = ("integer", "bigint", "smallint", "int")


def _as_integers(values, where: str):
    """A float column bound for an integer column (pandas makes ints float once one value is missing): written as
    integers, or an error naming the column when a value has a fraction (never truncated silently)."""
    import numpy as np

    present = values.dropna()
    fractional = present[present != np.round(present)]
    if len(fractional):
        raise ValueError(f"{where}: {fractional.iloc[0]} is not an integer")
    return values.astype("Int64")


def replace_rows(table: Table, frame, *, where: str | None = None, params: dict | None = None, url: str | None = None):
    """Replace the rows of `table` matching `where` (all rows when None) by `frame`, in one transaction.

    The frame must have the table's columns (extra columns are an error: a silent drop would lose data).
    Values are sent with COPY (CSV); dict/list values are stored as JSON text, bytes as bytea. Returns the rows
    written.
    """
    import io

    missing = [c for c in table.column_names if c not in frame.columns]
    extra = [c for c in frame.columns if c not in table.column_names]
    if missing or extra:
        raise ValueError(f"{table.qualified}: frame columns differ from the table (missing {missing}, extra {extra})")
    out = frame[table.column_names].copy()
    for column, sql_type in table.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(_copy_value)
        elif sql_type.split()[0] in INTEGER_TYPES and out[column].dtype.kind == "f":
            out[column] = _as_integers(out[column], f"{table.qualified}.{column}")
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, header=False, na_rep="\\N")
    buffer.seek(0)
    names = ", ".join(f'"{c}"' for c in table.column_names)
    with connection(url) as conn:
        with conn.cursor() as cur:
            # Concurrent first writes would race on the catalog: the DDL runs alone under one lock.
            cur.execute("select pg_advisory_xact_lock(hashtext('hitcraft.create_tables'))")
            cur.execute(f'create schema if not exists "{table.schema}"')
            cur.execute(table.ddl())
        conn.commit()
        with conn.cursor() as cur:
            # Writers of one table take turns, so overlapping windows cannot collide on the primary key.
            cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (table.qualified,))
            cur.execute(f"delete from {table.qualified}" + (f" where {where}" if where else ""), params)
            cur.copy_expert(f"copy {table.qualified} ({names}) from stdin with (format csv, null '\\N')", buffer)
        conn.commit()
    return len(out)
