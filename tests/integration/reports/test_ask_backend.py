"""The warehouse backend of `hitcraft ask` on a real embedded PostgreSQL: SQL runs as the read-only role
hitcraft_reader (no writes, no second statement, no server files, no raw schema, no way back to the superuser),
within the statement timeout and the row limit; metric and insight look-ups."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from psycopg2.extensions import make_dsn, parse_dsn
from testkit.ask_warehouse import INCIDENT, LAST_DAY, ask_database

from hitcraft_assets.store import warehouse
from hitcraft_assets.store.ask_backend import (
    DISABLED,
    READ_ONLY,
    READER_LOGIN,
    READER_ROLE,
    SET_ROLE,
    QueryError,
    WarehouseAskBackend,
)


@pytest.fixture(scope="module")
def url(warehouse_url):
    with ask_database(warehouse_url, "hitcraft_ask_backend") as database_url:
        yield database_url


@pytest.fixture
def backend(url) -> WarehouseAskBackend:
    return WarehouseAskBackend(url)


def _superuser(url: str) -> str:
    return parse_dsn(url)["user"]


def test_select_runs_as_the_reader_over_marts_ml_and_insights(backend):
    frame = backend.run_sql(
        "select metric, count(*) as days, max(value) as peak from daily_metrics group by metric order by metric;"
    )
    assert backend.isolation == READER_LOGIN
    assert frame.to_dict("records") == [
        {"metric": "dau", "days": 10, "peak": 609.0},
        {"metric": "render_failure_rate", "days": 10, "peak": 0.616},
    ]
    assert frame.attrs["truncated"] is False
    who = backend.run_sql("select current_user, session_user, current_setting('transaction_read_only') as ro")
    assert who.iloc[0].tolist() == [READER_ROLE, READER_ROLE, "on"]
    # the insight library is readable too, unqualified through the search path
    assert backend.run_sql("select count(*) as n from insight_library")["n"].item() == 4


def test_writes_and_second_statements_are_refused(backend, url):
    for sql in ("delete from marts.daily_metrics", "select 1; delete from marts.daily_metrics", "vacuum"):
        with pytest.raises(QueryError, match="only one read-only SELECT"):
            backend.run_sql(sql)
    refused = {
        "with gone as (delete from marts.daily_metrics returning 1) select count(*) from gone": "data-modifying",
        "select * from marts.daily_metrics for update": "read-only transaction",
        "select set_config('transaction_read_only', 'off', false)": "read-write",
    }
    for sql, message in refused.items():
        with pytest.raises(QueryError, match=message):
            backend.run_sql(sql)
    assert warehouse.read_frame("select count(*) as n from marts.daily_metrics", url=url)["n"].item() == 20


def test_a_slow_query_is_cancelled_by_the_statement_timeout(url):
    # the message is PostgreSQL's cancellation by the statement timeout, not the query ending on its own
    with pytest.raises(QueryError, match=r"^query cancelled after 0\.3 s statement timeout$"):
        WarehouseAskBackend(url, statement_timeout_ms=300).run_sql("select pg_sleep(5)")
    assert WarehouseAskBackend(url).statement_timeout_ms == 10_000


def test_the_row_limit_truncates_on_the_server(url):
    backend = WarehouseAskBackend(url, row_limit=5)
    frame = backend.run_sql("select generate_series(1, 50000000) as n")  # streamed: 6 rows leave the server
    assert frame["n"].tolist() == [1, 2, 3, 4, 5] and frame.attrs["truncated"] is True
    exact = backend.run_sql("select n from generate_series(1, 5) as n")
    assert len(exact) == 5 and exact.attrs["truncated"] is False


def test_server_files_raw_schema_and_the_superuser_are_out_of_reach(backend, url):
    superuser = _superuser(url)
    refused = {
        "select pg_read_file('/etc/hostname')": "permission denied for function pg_read_file",
        "select * from raw.events": "permission denied for schema raw",
        "select count(*) from pg_catalog.pg_authid": "permission denied for table pg_authid",
        f"select set_config('role', '{superuser}', true)": "permission denied to set role",
        f"select set_config('session_authorization', '{superuser}', true)": "permission denied to set session",
        # leaving the role and running SQL text: what SET ROLE on a superuser session would allow
        "select set_config('role', 'none', true) as r, (select count(*) from ts_stat("
        "'select to_tsvector(pg_read_file(''/etc/hostname''))')) as n": "permission denied for function",
    }
    for sql, message in refused.items():
        with pytest.raises(QueryError, match=message):
            backend.run_sql(sql)


def test_tables_created_after_the_role_are_granted_on_the_next_call(backend, url):
    backend.run_sql("select 1")
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute("create schema if not exists ml; create table ml.late_output as select 42 as answer")
        conn.commit()
    assert backend.run_sql("select answer from ml.late_output")["answer"].tolist() == [42]


def test_fallbacks_when_the_reader_cannot_log_in(url, caplog):
    """A superuser session gets no SQL; a member of the role runs it under SET ROLE; anyone else with its own
    privileges in the read-only transaction, with one warning."""
    WarehouseAskBackend(url).run_sql("select 1")  # grants the reader the tables while it can log in
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute(f"alter role {READER_ROLE} nologin")
        for role in ("hitcraft_ask_member", "hitcraft_ask_outsider"):
            cur.execute(f"select 1 from pg_roles where rolname = '{role}'")
            if cur.fetchone() is None:
                cur.execute(f"create role {role} login")
        cur.execute(f"grant {READER_ROLE} to hitcraft_ask_member")
    try:
        superuser = WarehouseAskBackend(url)
        with pytest.raises(QueryError, match="SQL is disabled: the warehouse user is a superuser"):
            superuser.run_sql("select 1")
        assert superuser.isolation == DISABLED

        member = WarehouseAskBackend(make_dsn(url, user="hitcraft_ask_member"))
        frame = member.run_sql("select current_user as who, count(*) as n from daily_metrics")
        assert (member.isolation, frame["who"].item(), frame["n"].item()) == (SET_ROLE, READER_ROLE, 20)
        with pytest.raises(QueryError, match="permission denied for schema raw"):
            member.run_sql("select * from raw.events")

        caplog.set_level(logging.WARNING, logger="hitcraft_assets.store.ask_backend")
        outsider = WarehouseAskBackend(make_dsn(url, user="hitcraft_ask_outsider"))
        assert outsider.run_sql("select current_user as who")["who"].item() == "hitcraft_ask_outsider"
        outsider.run_sql("select 1")
        WarehouseAskBackend(outsider.url).run_sql("select 1")
        assert outsider.isolation == READ_ONLY
        warnings = [r.getMessage() for r in caplog.records if "read-only transaction" in r.getMessage()]
        assert len(warnings) == 1, warnings
        with pytest.raises(QueryError, match="read-write"):
            outsider.run_sql("select set_config('transaction_read_only', 'off', false)")
    finally:
        with warehouse.connection(url) as conn, conn.cursor() as cur:
            cur.execute(f"alter role {READER_ROLE} login")
            conn.commit()
    again = WarehouseAskBackend(url)
    again.run_sql("select 1")
    assert again.isolation == READER_LOGIN


def test_get_metric_returns_one_metric_and_names_the_known_ones(backend):
    frame = backend.get_metric("render_failure_rate", date(2026, 11, 8), date(2026, 11, 10))
    assert frame["metric_date"].tolist() == [date(2026, 11, 8), INCIDENT, LAST_DAY]
    assert frame["value"].tolist() == [0.12, 0.616, 0.12] and set(frame["metric"]) == {"render_failure_rate"}
    assert len(backend.get_metric("dau", None, None)) == 10
    assert backend.get_metric("dau", date(2030, 1, 1), None).empty  # known metric, no rows in the range
    with pytest.raises(QueryError, match=r"unknown metric 'daus'; known metrics: dau, render_failure_rate"):
        backend.get_metric("daus", None, None)


def test_search_insights_by_text_type_segment_and_day(backend):
    def keys(**filters) -> list[str]:
        arguments = dict.fromkeys(("text", "insight_type", "metric", "segment", "start", "end")) | filters
        return [r["key"] for r in backend.search_insights(**arguments)]

    everything = backend.search_insights(None, None, None, None, None, None)
    assert [r["key"] for r in everything] == ["trend:dau", "anomaly:render_failure_rate:platform=ios",
                                              "prompt_outlier:prd_polish_hit"]  # fmt: skip
    assert everything[2]["rank"] == 2 and everything[2]["q_value"] == 4e-8
    assert everything[2]["recommendations"][1]["users_per_arm"] == 3900
    assert keys(text="render failures") == ["anomaly:render_failure_rate:platform=ios"]
    assert keys(text="polished") == ["prompt_outlier:prd_polish_hit"]
    assert keys(insight_type="trend") == ["trend:dau"]
    assert keys(segment="platform=ios") == keys(segment="ios") == ["anomaly:render_failure_rate:platform=ios"]
    assert keys(segment="platform=web") == []
    assert keys(start=INCIDENT, end=INCIDENT) == ["anomaly:render_failure_rate:platform=ios",
                                                  "prompt_outlier:prd_polish_hit"]  # fmt: skip
    assert keys(metric="dau", start=LAST_DAY) == ["trend:dau"]
    assert keys(text="beginners") == []  # rejected candidates are not offered to Claude
