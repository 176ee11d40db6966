"""A small warehouse for the `hitcraft ask` / `hitcraft insights` tests, in its own database on the test server
(the worker's warehouse database is shared with the dbt tests, whose marts must not be replaced): ten days of
marts.daily_metrics, a raw table the reader must not see, and four insights in the insight library."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pandas as pd
from psycopg2.extensions import make_dsn, parse_dsn

from hitcraft_assets.analytics.insights.model import Insight
from hitcraft_assets.store import insight_library, warehouse
from testkit import insight_factory

FIRST_DAY = date(2026, 11, 1)
LAST_DAY = date(2026, 11, 10)
INCIDENT = date(2026, 11, 9)


@contextmanager
def ask_database(server_url: str, name: str, seeded: bool = True) -> Iterator[str]:
    """A fresh database `name` (plus the pytest-xdist worker) on the server of `server_url`, seeded unless
    `seeded` is False; dropped afterwards."""
    database = f"{name}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = warehouse.connect(server_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'drop database if exists "{database}" with (force)')
        cur.execute(f'create database "{database}"')
    url = make_dsn(**(parse_dsn(server_url) | {"dbname": database}))
    try:
        if seeded:
            seed(url)
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{database}" with (force)')
        admin.close()


def seed(url: str) -> None:
    days = [FIRST_DAY + timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute("create schema marts; create schema raw")
        cur.execute(
            "create table marts.daily_metrics (metric_date date, metric text, value double precision,"
            " numerator double precision, denominator double precision)"
        )
        for i, day in enumerate(days):
            failed = 616 if day == INCIDENT else 120
            cur.execute(
                "insert into marts.daily_metrics values (%s, 'dau', %s, %s, null), (%s, 'render_failure_rate', %s,"
                " %s, 1000)",
                (day, 600 + i, 600 + i, day, failed / 1000, failed),
            )
        cur.execute("create table raw.events (payload text); insert into raw.events values ('secret')")
        conn.commit()
    rows = [
        library_row(incident_insight(), "selected", rank=1, q_value=None),
        library_row(prompt_insight(), "selected", rank=2, q_value=4e-8),
        library_row(trend_insight(), "selected", rank=1, q_value=0.003),
        library_row(rejected_insight(), "rejected", rank=None, q_value=0.31, reason="q = 0.31 above 0.10"),
    ]
    frame = pd.DataFrame(rows).reindex(columns=insight_library.INSIGHT_LIBRARY.column_names)
    frame["rank"] = frame["rank"].astype("Int64")  # NaN next to ints makes floats, which COPY refuses as integer
    insight_library.store(frame, FIRST_DAY, LAST_DAY, url)


def library_row(insight: Insight, status: str, *, rank: int | None, q_value: float | None, reason=None) -> dict:
    return insight.to_record() | {
        "status": status,
        "rank": rank,
        "score": 1.0 / (rank or 10),
        "q_value": q_value,
        "novelty": 1.0,
        "first_seen": insight.as_of,
        "days_running": 1,
        "reason": reason,
    }


def make_insight(**overrides) -> Insight:
    """The shared polish-prompt opportunity, dated on the incident day; override any field."""
    on_incident_day = {
        "as_of": INCIDENT,
        "window_start": INCIDENT - timedelta(days=27),
        "window_end": INCIDENT,
        "statement": "The polish prompt completed 70.8% of 4,120 renders vs 55.7% for other production prompts.",
    }
    return insight_factory.make_insight(**(on_incident_day | overrides))


def prompt_insight() -> Insight:
    return make_insight()


def incident_insight() -> Insight:
    return insight_factory.incident_insight(as_of=INCIDENT)


def trend_insight() -> Insight:
    return make_insight(
        key="trend:dau",
        insight_type="trend",
        generator="trends",
        as_of=LAST_DAY,
        title="Daily active users are rising",
        statement="Daily active users rose from 600 to 609 over 10 days (Mann-Kendall p = 0.001).",
        metric="dau",
        segment_type=None,
        segment_value=None,
        window_start=FIRST_DAY,
        window_end=LAST_DAY,
        test="Mann-Kendall",
        p_value=0.001,
        numbers={"first": 600.0, "last": 609.0},
        recommendations=(),
    )


def rejected_insight() -> Insight:
    return make_insight(
        key="segment_risk:experience_level=beginner",
        insight_type="risk",
        generator="segments",
        as_of=LAST_DAY,
        title="Beginners churn more",
        statement="Beginners returned 3% less often than others.",
        metric="return_user_rate",
        segment_type="experience_level",
        segment_value="beginner",
        p_value=0.2,
        recommendations=(),
    )
