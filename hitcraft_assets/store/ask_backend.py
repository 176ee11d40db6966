"""The warehouse side of `hitcraft ask`: the `AskBackend` tools over PostgreSQL.

`run_sql` runs the model's SQL as the role `hitcraft_reader`, which may only read the schemas marts, ml and
insights, in a read-only transaction with a statement timeout, fetching at most `row_limit` rows.

The role is entered by logging in as it (its own session), not by `SET ROLE` on the warehouse connection: the
embedded server's user is a superuser, and a superuser session can leave a `SET ROLE` from inside a single
SELECT (`set_config('role', 'none', true)`) and then read server files through functions that run SQL text
(`ts_stat`). A session that logged in as `hitcraft_reader` has no role to go back to. The role has LOGIN but
no password, so it can only log in where pg_hba trusts it (the embedded server's socket) or where an
administrator gave it a password (in ~/.pgpass). Elsewhere: a non-superuser warehouse user runs the SQL under
`SET LOCAL ROLE hitcraft_reader` (or, when it cannot create or use the role, with its own privileges in the
read-only transaction); a superuser warehouse user gets no `run_sql` at all.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from hitcraft_assets.reports import ask
from hitcraft_assets.store import insight_library, marts, warehouse

logger = logging.getLogger(__name__)

READER_ROLE = "hitcraft_reader"
READABLE_SCHEMAS = ("marts", "ml", "insights")
INSIGHT_LIMIT = 50

# How run_sql isolates the model's SQL (see the module docstring), chosen on the first call.
READER_LOGIN = "reader login"  # a session of hitcraft_reader
SET_ROLE = "set role"  # SET LOCAL ROLE hitcraft_reader on the warehouse user's (non-superuser) session
READ_ONLY = "read-only transaction"  # the warehouse user's own privileges
DISABLED = "disabled"  # a superuser session whose role switch could be undone: no run_sql

_warned: set[tuple[str, str]] = set()


class QueryError(Exception):
    """The warehouse refused or could not finish a tool call; the message says why (Claude sees it)."""


class WarehouseAskBackend:
    """`AskBackend` over the warehouse at `url` (None: the configured one, embedded server started on demand)."""

    def __init__(
        self, url: str | None = None, statement_timeout_ms: int = 10_000, row_limit: int = ask.MAX_RESULT_ROWS
    ) -> None:
        self._url = url
        self.statement_timeout_ms = int(statement_timeout_ms)
        self.row_limit = int(row_limit)
        self.isolation: str | None = None  # one of READER_LOGIN, SET_ROLE, READ_ONLY, DISABLED after run_sql

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = warehouse.warehouse_url()
        return self._url

    # ------------------------------------------------------------------------------------------- run_sql
    def run_sql(self, sql: str) -> pd.DataFrame:
        """Rows of one read-only SELECT (at most `row_limit`; `frame.attrs["truncated"]` says whether more
        rows exist). Raises QueryError for anything else, a permission error, or the statement timeout."""
        if not ask.is_single_select(sql):
            raise QueryError("only one read-only SELECT (or WITH ... SELECT) statement is allowed")
        isolation = self._prepare()
        if isolation == DISABLED:
            raise QueryError(
                f"SQL is disabled: the warehouse user is a superuser and the role {READER_ROLE} cannot log in "
                f"(give it a password in ~/.pgpass, or set HITCRAFT_DATABASE_URL to a non-superuser)"
            )
        import psycopg2

        try:
            conn = self._reader_connection() if isolation == READER_LOGIN else warehouse.connect(self.url)
        except psycopg2.Error as exc:
            raise QueryError(f"cannot connect to the warehouse: {_message(exc)}") from None
        try:
            with conn.cursor() as cur:
                cur.execute("set transaction read only")
                cur.execute(f"set local statement_timeout = {self.statement_timeout_ms}")
                cur.execute("set local search_path = " + ", ".join(READABLE_SCHEMAS))
                if isolation == SET_ROLE:
                    cur.execute(f"set local role {READER_ROLE}")
            # A server-side cursor: only row_limit + 1 rows ever leave the server (DECLARE also refuses
            # data-modifying WITH clauses).
            with conn.cursor(name="hitcraft_ask") as cur:
                cur.execute(sql.strip().rstrip(";"))
                rows = cur.fetchmany(self.row_limit + 1)
                names = [d[0] for d in cur.description]
        except psycopg2.errors.QueryCanceled:
            seconds = self.statement_timeout_ms / 1000
            raise QueryError(f"query cancelled after {seconds:g} s statement timeout") from None
        except psycopg2.Error as exc:
            raise QueryError(_message(exc)) from None
        finally:
            conn.rollback()
            conn.close()
        frame = pd.DataFrame.from_records(rows[: self.row_limit], columns=names)
        frame.attrs["truncated"] = len(rows) > self.row_limit
        return frame

    def _prepare(self) -> str:
        """Choose the isolation once; then, on every call, grant the reader the tables created since (dbt and
        the ML assets create them after the role exists)."""
        with warehouse.connection(self.url) as conn:
            if self.isolation is None:
                self.isolation = self._choose_isolation(conn)
            if self.isolation in (READER_LOGIN, SET_ROLE):
                _grant_missing(conn)
        return self.isolation

    def _choose_isolation(self, conn) -> str:
        with conn.cursor() as cur:
            cur.execute("select rolsuper from pg_roles where rolname = current_user")
            superuser = bool(cur.fetchone()[0])
        conn.rollback()
        if not _ensure_role(conn):
            chosen = DISABLED if superuser else READ_ONLY
        elif _reader_is_superuser(conn):
            chosen = DISABLED
        elif self._reader_can_log_in():
            return READER_LOGIN
        elif superuser:
            chosen = DISABLED
        else:
            chosen = SET_ROLE if _can_set_role(conn) else READ_ONLY
        if (self.url, chosen) not in _warned:
            _warned.add((self.url, chosen))
            logger.warning(
                "hitcraft ask: the role %s cannot log in; SQL runs as %s",
                READER_ROLE,
                {SET_ROLE: f"the warehouse user under SET LOCAL ROLE {READER_ROLE}",
                 READ_ONLY: "the warehouse user (its own privileges) in a read-only transaction",
                 DISABLED: "nobody (disabled: the warehouse user is a superuser)"}[chosen],
            )  # fmt: skip
        return chosen

    def _reader_connection(self):
        import psycopg2
        from psycopg2.extensions import parse_dsn

        params = parse_dsn(self.url)
        params.pop("password", None)  # trust on the embedded socket, else the reader's own ~/.pgpass entry
        params["user"] = READER_ROLE
        params.setdefault("connect_timeout", "10")
        options = f"-c default_transaction_read_only=on -c statement_timeout={self.statement_timeout_ms}"
        params["options"] = f"{params.get('options', '')} {options}".strip()
        return psycopg2.connect(**params)

    def _reader_can_log_in(self) -> bool:
        import psycopg2

        try:
            self._reader_connection().close()
        except psycopg2.OperationalError:
            return False
        return True

    # ----------------------------------------------------------------------------------- typed look-ups
    def get_metric(self, metric: str, start: date | None, end: date | None) -> pd.DataFrame:
        """marts.daily_metrics rows of `metric` for start..end (inclusive, None: open), by day."""
        if not warehouse.table_exists("marts.daily_metrics", self.url):
            raise QueryError("marts.daily_metrics does not exist yet: materialize the dbt marts")
        frame = marts.daily_metrics(self.url, start, end)
        rows = frame[frame["metric"] == metric].reset_index(drop=True)
        if rows.empty:
            known = warehouse.read_frame("select distinct metric from marts.daily_metrics order by 1", url=self.url)
            names = known["metric"].tolist()
            if metric not in names:
                raise QueryError(f"unknown metric {metric!r}; known metrics: {', '.join(names) or '(none yet)'}")
        return rows

    def search_insights(
        self,
        text: str | None,
        insight_type: str | None,
        metric: str | None,
        segment: str | None,
        start: date | None,
        end: date | None,
    ) -> list[dict]:
        """Selected insights matching every given filter, newest day first: each Insight's record with its
        day's `rank` and `q_value` (segment: a value or 'type=value')."""
        if not insight_library.exists(self.url):
            return []
        frame = insight_library.search(
            self.url,
            text=text or None,
            insight_type=insight_type or None,
            metric=metric or None,
            segment=segment or None,
            start=start,
            end=end,
            limit=INSIGHT_LIMIT,
        )
        return [
            {"rank": _number(row["rank"], int), "q_value": _number(row["q_value"], float), **insight.to_record()}
            for row, insight in zip(frame.to_dict("records"), insight_library.to_insights(frame))
        ]


def _ensure_role(conn) -> bool:
    """Create the reader role unless it exists; False when this user may not."""
    import psycopg2

    try:
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext('hitcraft.reader_role'))")
            cur.execute("select 1 from pg_roles where rolname = %s", (READER_ROLE,))
            if cur.fetchone() is None:
                cur.execute(f"create role {READER_ROLE} login")  # no password: see the module docstring
        conn.commit()
    except (psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
        conn.rollback()  # another database of the same server created it meanwhile
    except psycopg2.Error as exc:
        conn.rollback()
        logger.debug("cannot create role %s: %s", READER_ROLE, exc)
        return False
    return True


def _reader_is_superuser(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("select rolsuper or rolbypassrls from pg_roles where rolname = %s", (READER_ROLE,))
        row = cur.fetchone()
    conn.rollback()
    return bool(row and row[0])


def _can_set_role(conn) -> bool:
    import psycopg2

    try:
        with conn.cursor() as cur:
            cur.execute(f"set local role {READER_ROLE}")
        return True
    except psycopg2.Error:
        return False
    finally:
        conn.rollback()


def _grant_missing(conn) -> None:
    """Grant the reader USAGE on the readable schemas and SELECT on their tables and views where it lacks them
    (one catalog query when nothing is missing). Best effort: a failed grant shows as a permission error."""
    import psycopg2

    try:
        with conn.cursor() as cur:
            cur.execute(
                "select quote_ident(nspname) from pg_namespace"
                " where nspname = any(%(schemas)s) and not has_schema_privilege(%(role)s, oid, 'USAGE')",
                {"schemas": list(READABLE_SCHEMAS), "role": READER_ROLE},
            )
            schemas = [r[0] for r in cur.fetchall()]
            cur.execute(
                "select format('%%I.%%I', n.nspname, c.relname) from pg_class c"
                " join pg_namespace n on n.oid = c.relnamespace"
                " where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'v', 'm', 'f', 'p')"
                " and not has_table_privilege(%(role)s, c.oid, 'SELECT')",
                {"schemas": list(READABLE_SCHEMAS), "role": READER_ROLE},
            )
            tables = [r[0] for r in cur.fetchall()]
            if schemas or tables:
                cur.execute("set local lock_timeout = '3s'")  # a dbt run may hold the tables: do not hang
                cur.execute("select pg_advisory_xact_lock(hashtext('hitcraft.reader_grants'))")
            for schema in schemas:
                cur.execute(f"grant usage on schema {schema} to {READER_ROLE}")
                cur.execute(f"alter default privileges in schema {schema} grant select on tables to {READER_ROLE}")
            if tables:
                cur.execute(f"grant select on {', '.join(tables)} to {READER_ROLE}")
        conn.commit()
    except psycopg2.Error as exc:  # e.g. a table dropped by a dbt run meanwhile, or not ours to grant
        conn.rollback()
        logger.warning("hitcraft ask: could not grant %s read access: %s", READER_ROLE, _message(exc))


def _number(value, kind):
    return None if value is None or pd.isna(value) else kind(value)


def _message(exc) -> str:
    """The server's message without psycopg2's 'LINE 1: DECLARE ...' context (the cursor wraps the SQL)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    hint = getattr(diag, "message_hint", None)
    return primary + (f" (hint: {hint})" if hint else "")
