"""PostgreSQL connections for the warehouse and Dagster's instance storage.

`HITCRAFT_DATABASE_URL` set: that server is the warehouse (and Dagster's storage unless `DAGSTER_PG_URL`
says otherwise). Unset: an embedded PostgreSQL from the `pgserver` wheel under `$HITCRAFT_HOME/pgdata`,
shared by every process of a run (CLI, webserver, daemon, run and step workers) through its Unix socket,
with separate databases `hitcraft` (warehouse) and `dagster` (instance storage).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hitcraft_assets import settings

log = logging.getLogger(__name__)

WAREHOUSE_DB = "hitcraft"
DAGSTER_DB = "dagster"


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
    finally:
        conn.close()


def embedded_running() -> bool:
    """Whether an embedded server is running under $HITCRAFT_HOME (without starting one)."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(_pgdata()) if (_pgdata() / "postmaster.pid").exists() else None
    return bool(info and info.is_running())


def embedded_other_clients() -> int:
    """Client connections to the embedded server other than this one (0 if it is not running)."""
    if not embedded_running():
        return 0
    import psycopg2

    conn = psycopg2.connect(embedded_server().get_uri("postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select count(*) from pg_stat_activity where backend_type = 'client backend' "
                "and pid <> pg_backend_pid()"
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def stop_embedded_if_idle(wait_s: float = 10.0) -> tuple[bool, int]:
    """Stop the embedded server unless other clients stay connected for `wait_s` (processes that were
    just told to stop may need a moment to close theirs). Returns (stopped, clients still connected)."""
    import time

    deadline = time.monotonic() + wait_s
    while (clients := embedded_other_clients()) and time.monotonic() < deadline:
        time.sleep(0.5)
    if clients:
        return False, clients
    return stop_embedded(), 0


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
    explicit = os.environ.get("DAGSTER_PG_URL")
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


@contextmanager
def connection(url: str | None = None) -> Iterator:
    conn = connect(url)
    try:
        yield conn
    finally:
        conn.close()


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
