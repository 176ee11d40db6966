"""Sessions and DAU/WAU/MAU on a sample-Mixpanel backfill equal an independent pandas computation.

~20 days of the sample Mixpanel are loaded through the real client and loader, the models are built once,
and pandas recomputes from raw.events (all but the billing system's server-side events): Mixpanel dedup, ID
merge, 30-minute sessions split at midnight (UTC reporting zone), per-user-day sessions/events, and distinct
users in trailing 1/7/28 days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
import yaml
from marts_helpers import connect, reset, rows
from testkit.sample_client import sample_client

from hitcraft_assets import settings
from hitcraft_assets.mixpanel.ingest import load_days

pytestmark = pytest.mark.slow

DAYS = [date(2026, 4, 6) + timedelta(days=i) for i in range(20)]
NOW = datetime(2026, 5, 1, 4, tzinfo=UTC)  # > 5 days after the last day: every late event has arrived
TIMEOUT_S = 30 * 60
# the billing system's server-side events are not user activity (dbt var server_events)
DBT_VARS = yaml.safe_load((settings.REPO_ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]
SERVER_EVENTS = DBT_VARS["server_events"]


@pytest.fixture(scope="module")
def built(warehouse_url, dbt):
    conn = connect(warehouse_url)
    try:
        reset(conn)
        with sample_client(anchor=date(2026, 5, 1), now=NOW) as client:
            load_days(
                conn, client, DAYS, project_today=NOW.date(), reporting_tz="UTC", source="sample", client_version="test"
            )
        dbt.build("+user_daily_activity +daily_metrics", DAYS[0], DAYS[-1])
        raw = pd.DataFrame(
            rows(
                conn,
                """
                select event, distinct_id, event_time, insert_id,
                       properties ->> '$device_id', properties ->> '$user_id'
                from raw.events
                where event <> all(%(server)s)""",
                {"server": SERVER_EVENTS},
            ),
            columns=["event", "distinct_id", "event_time", "insert_id", "p_device", "p_user"],
        )
        activity = pd.DataFrame(
            rows(conn, "select activity_date, user_key, sessions, events from marts.user_daily_activity"),
            columns=["day", "user_key", "sessions", "events"],
        )
        metrics = pd.DataFrame(
            rows(
                conn,
                "select metric_date, metric, value from marts.daily_metrics "
                "where metric in ('dau', 'wau', 'mau', 'sessions')",
            ),
            columns=["day", "metric", "value"],
        )
        sessions = pd.DataFrame(
            rows(conn, "select user_key, session_start, event_count, duration_seconds from marts.sessions"),
            columns=["user_key", "session_start", "event_count", "duration_seconds"],
        )
        return raw, activity, metrics, sessions
    finally:
        conn.close()


def _expected_events(raw: pd.DataFrame) -> pd.DataFrame:
    """Dedup on (event, distinct_id, time, $insert_id) and resolve identities like Mixpanel's ID merge."""
    ev = raw.drop_duplicates(["event", "distinct_id", "event_time", "insert_id"]).copy()
    anon = ev["distinct_id"].fillna("").str.startswith("$device:")
    ev["device"] = ev["p_device"].where(ev["p_device"].notna(), ev["distinct_id"].where(anon).str[len("$device:") :])
    ev["user"] = ev["p_user"].where(ev["p_user"].notna(), ev["distinct_id"].where(~anon & ev["distinct_id"].notna()))
    pairs = ev[ev["p_device"].notna() & ev["p_user"].notna()].sort_values(["event_time", "p_user"])
    first_user = pairs.drop_duplicates("p_device").set_index("p_device")["p_user"]
    key = ev["user"]
    key = key.where(key.notna(), ev["device"].map(first_user))
    key = key.where(key.notna(), "device:" + ev["device"])
    ev["user_key"] = key.where(key.notna(), ev["distinct_id"])
    ev = ev[ev["user_key"].notna()].copy()
    ev["t"] = ev["event_time"].map(lambda t: t.timestamp())
    ev["day"] = ev["event_time"].map(lambda t: t.astimezone(UTC).date())
    return ev


def _expected_sessions(ev: pd.DataFrame) -> pd.DataFrame:
    ev = ev.sort_values(["user_key", "t"], kind="stable")
    same_user = ev["user_key"].eq(ev["user_key"].shift())
    new = ~same_user | (ev["t"] - ev["t"].shift() > TIMEOUT_S) | ev["day"].ne(ev["day"].shift())
    ev = ev.assign(session=new.cumsum())
    s = ev.groupby("session").agg(
        user_key=("user_key", "first"),
        start=("t", "min"),
        end=("t", "max"),
        event_count=("t", "size"),
        day=("day", "first"),
    )
    assert ((s["end"] - s["start"]) < 24 * 3600).all()  # with the midnight split the cap never applies
    return s


def test_sessions_per_user_day_equal_pandas(built):
    raw, activity, _, sessions = built
    ev = _expected_events(raw)
    s = _expected_sessions(ev)
    expected = (
        ev.groupby(["day", "user_key"])
        .size()
        .rename("events")
        .to_frame()
        .join(s.groupby(["day", "user_key"]).size().rename("sessions"))
        .fillna(0)
        .astype(int)
        .reset_index()
        .sort_values(["day", "user_key"])
        .reset_index(drop=True)
    )
    got = activity.sort_values(["day", "user_key"]).reset_index(drop=True)[["day", "user_key", "events", "sessions"]]
    expected = expected[["day", "user_key", "events", "sessions"]]
    assert len(got) > 10_000
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # every session: same start, event count and duration
    got_s = sessions.assign(start=sessions["session_start"].map(lambda t: t.timestamp()))
    got_s = got_s.set_index(["user_key", "start"]).sort_index()
    exp_s = s.assign(duration_seconds=s["end"] - s["start"]).set_index(["user_key", "start"]).sort_index()
    assert got_s.index.equals(exp_s.index)
    assert (got_s["event_count"] == exp_s["event_count"]).all()
    assert (got_s["duration_seconds"].astype(float) == exp_s["duration_seconds"]).all()


def test_dau_wau_mau_equal_pandas(built):
    raw, _, metrics, _ = built
    ev = _expected_events(raw)
    user_days = ev[["day", "user_key"]].drop_duplicates()
    got = metrics.pivot(index="day", columns="metric", values="value")
    assert list(got.index) == DAYS
    for day in DAYS:
        for metric, n in (("dau", 1), ("wau", 7), ("mau", 28)):
            window = user_days[(user_days["day"] > day - timedelta(days=n)) & (user_days["day"] <= day)]
            assert got.loc[day, metric] == window["user_key"].nunique(), (day, metric)
    s = _expected_sessions(ev)
    assert got["sessions"].tolist() == [int((s["day"] == d).sum()) for d in DAYS]
