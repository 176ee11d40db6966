"""Product marts on a sample-Mixpanel backfill vs. an independent pandas computation (exact equality).

20 days of the default scenario are loaded through the real path (Mixpanel client -> sample app -> load_days),
the marts are built once with the partition window vars, and:
- the production funnel (users per entry day and step, drop-off, median seconds to the step) and
- weekly retention (bounded and unbounded, elapsed periods only)
are recomputed in pandas from staging.stg_events (the tested dedup/identity layer) with their own code
(merge_asof for sequential steps), and compared row for row. The planted prompt effect must be visible.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from marts_helpers import reset
from testkit.sample_client import sample_client

from hitcraft_assets.mixpanel.ingest import load_days
from hitcraft_assets.store import warehouse

pytestmark = pytest.mark.slow

ANCHOR = date(2026, 5, 1)
DAYS = [date(2026, 4, 1) + timedelta(days=i) for i in range(20)]
NOW = datetime(2026, 4, 27, 4, tzinfo=UTC)  # every late event (<= 5 days) of the range has arrived
SCALE = 0.5
PRODUCTION = ["Sketch Uploaded", "Prompt Selected", "Render Started", "Render Completed", "Production Downloaded"]
WINDOW = pd.Timedelta(days=7)  # var funnel_default_window_days; the production funnel has no override
POLISH = "Help me turn my demo into a polished hit"


@pytest.fixture(scope="module")
def built(warehouse_url, dbt):
    conn = warehouse.connect(warehouse_url)
    reset(conn)
    with sample_client(anchor=ANCHOR, now=NOW, scale=SCALE) as client:
        load_days(
            conn, client, DAYS, reporting_tz="UTC", source="sample", client_version="test", project_today=NOW.date()
        )
    dbt.build("+funnel_conversions +retention_cohorts +prompt_performance", DAYS[0], DAYS[-1])
    yield conn
    conn.close()


def _frame(conn, sql: str) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql)
        cols = [c.name for c in cur.description]
        rows = cur.fetchall()
    conn.rollback()
    return pd.DataFrame(rows, columns=cols)


@pytest.fixture(scope="module")
def events(built) -> pd.DataFrame:
    df = _frame(
        built,
        "select user_key, event, event_date, event_time from staging.stg_events where user_key is not null",
    )
    df["event_time"] = pd.to_datetime(df["event_time"], utc=True)
    df["event_date"] = pd.to_datetime(df["event_date"])
    return df


def _pandas_production_funnel(events: pd.DataFrame) -> pd.DataFrame:
    step_events = {
        k: events[events["event"] == name][["user_key", "event_time"]].sort_values("event_time")
        for k, name in enumerate(PRODUCTION, 1)
    }
    first = events[events["event"] == PRODUCTION[0]]
    attempts = first.groupby(["user_key", "event_date"], as_index=False)["event_time"].min()
    attempts = attempts.rename(columns={"event_time": "entered_at"})
    attempts["window_end"] = attempts["entered_at"] + WINDOW
    attempts["t1"] = attempts["entered_at"]
    current = attempts.copy()
    for k in range(2, len(PRODUCTION) + 1):
        prev = current[current[f"t{k - 1}"].notna()].sort_values(f"t{k - 1}")
        candidates = step_events[k].rename(columns={"event_time": f"t{k}"})
        # first step-k event strictly after step k-1 was reached
        matched = pd.merge_asof(
            prev,
            candidates,
            left_on=f"t{k - 1}",
            right_on=f"t{k}",
            by="user_key",
            direction="forward",
            allow_exact_matches=False,
        )
        matched.loc[matched[f"t{k}"] >= matched["window_end"], f"t{k}"] = pd.NaT
        current = current.merge(matched[["user_key", "event_date", f"t{k}"]], on=["user_key", "event_date"], how="left")
    rows = []
    for k in range(1, len(PRODUCTION) + 1):
        reached = current[current[f"t{k}"].notna()]
        seconds = (reached[f"t{k}"] - reached["entered_at"]).dt.total_seconds()
        g = pd.DataFrame({"entry_date": reached["event_date"], "seconds": seconds}).groupby("entry_date")["seconds"]
        rows.append(pd.DataFrame({"step": k, "users": g.size(), "median_seconds": g.median()}).reset_index())
    out = pd.concat(rows)
    full = pd.MultiIndex.from_product(
        [sorted(attempts["event_date"].unique()), range(1, len(PRODUCTION) + 1)], names=["entry_date", "step"]
    )
    out = out.set_index(["entry_date", "step"]).reindex(full).reset_index()
    out["users"] = out["users"].fillna(0).astype(int)
    out["drop_off"] = (out.groupby("entry_date")["users"].shift(1).fillna(out["users"]) - out["users"]).astype(int)
    out["entry_date"] = out["entry_date"].dt.date
    return out.sort_values(["entry_date", "step"]).reset_index(drop=True)


def _check_production_funnel(built, events):
    expected = _pandas_production_funnel(events)
    got = _frame(
        built,
        "select entry_date, step, users, median_seconds_from_entry as median_seconds, drop_off_users as drop_off "
        "from marts.funnel_conversions where funnel_name = 'production' and breakdown = 'all' "
        "order by entry_date, step",
    )
    assert len(got) == len(expected) == 5 * len(DAYS)
    assert got["entry_date"].tolist() == expected["entry_date"].tolist()
    assert got["step"].tolist() == expected["step"].tolist()
    assert got["users"].tolist() == expected["users"].tolist()
    assert got["drop_off"].tolist() == expected["drop_off"].tolist()
    np.testing.assert_array_equal(got["median_seconds"].astype(float).to_numpy(), expected["median_seconds"].to_numpy())
    # the sample converts through every step, with real drop-off by the end
    per_step = expected.groupby("step")["users"].sum()
    assert (per_step.diff().dropna() <= 0).all() and 0 < per_step[5] < per_step[1]


def _pandas_weekly_retention(events: pd.DataFrame) -> pd.DataFrame:
    days = events[["user_key", "event_date"]].drop_duplicates()
    first = days.groupby("user_key")["event_date"].min().rename("first_seen")
    days = days.join(first, on="user_key")
    days["cohort"] = days["first_seen"] - pd.to_timedelta(days["first_seen"].dt.weekday, unit="D")
    days["period"] = (days["event_date"] - days["cohort"]).dt.days // 7
    last_day = days["event_date"].max()
    sizes = days.groupby("cohort")["user_key"].nunique()
    last_period = days.groupby(["cohort", "user_key"])["period"].max()
    rows = []
    for cohort, size in sizes.items():
        active = days[days["cohort"] == cohort]
        lp = last_period.loc[cohort]
        for n in range(13):
            if cohort + pd.Timedelta(days=7 * n + 6) > last_day:
                break
            bounded = active[active["period"] == n]["user_key"].nunique()
            rows.append((cohort.date(), n, int(size), int(bounded), int((lp >= n).sum())))
    return pd.DataFrame(rows, columns=["cohort_start", "period_number", "cohort_users", "retained", "unbounded"])


def _check_weekly_retention(built, events):
    expected = _pandas_weekly_retention(events)
    got = _frame(
        built,
        "select cohort_start, period_number, cohort_users, retained_users as retained, "
        "retained_users_unbounded as unbounded from marts.retention_cohorts where cohort_grain = 'week' "
        "order by cohort_start, period_number",
    )
    assert len(expected) >= 4
    assert list(got.itertuples(index=False, name=None)) == list(expected.itertuples(index=False, name=None))


def _check_planted_prompt_effect(built):
    rates = _frame(
        built,
        "select prompt_text, sum(renders_completed) as completed, sum(renders_started) as started "
        "from marts.prompt_performance where window_days = 1 and prompt_category = 'production' "
        "group by prompt_text",
    )
    rates["rate"] = rates["completed"].astype(float) / rates["started"].astype(float)
    by_text = rates.set_index("prompt_text")["rate"]
    assert len(by_text) == 6
    others = by_text.drop(POLISH)
    assert by_text[POLISH] > others.max() + 0.05, by_text.to_dict()


def test_product_marts_match_pandas(built, events):
    """One test for the module: the backfill and build are the expensive part (xdist would otherwise run the
    module-scoped fixture on both workers)."""
    _check_production_funnel(built, events)
    _check_weekly_retention(built, events)
    _check_planted_prompt_effect(built)
