"""Revenue end to end on the sample: 90 days of the default scenario loaded through the real Mixpanel client, the
subscription models built with their dbt tests (the constructed-history unit test of mrr_daily, the movements add up
to the paid periods), and MRR and its movements recomputed independently in pandas from raw.events.

Also: the billing system's server-side events are not user activity (no sessions, not in stg_events), and the
planted plan (studio_monthly) cancels more in its first two months than the others."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest
from testkit.experiment_warehouse import load_sample, sample_days

from hitcraft_assets.store import warehouse

pytestmark = pytest.mark.slow

ANCHOR = date(2026, 3, 1)
DAYS = sample_days(ANCHOR, 90)
LAST = DAYS[-1]
MODELS = "+mrr_daily +subscriptions +user_daily_activity"
SERVER_EVENTS = ("Subscription Renewed", "Subscription Plan Changed", "Payment Failed", "Subscription Cancelled")


@pytest.fixture(scope="module")
def built(warehouse_url, dbt):
    conn = warehouse.connect(warehouse_url)
    with conn.cursor() as cur:
        for schema in ("raw", "staging", "intermediate", "marts"):
            cur.execute(f"drop schema if exists {schema} cascade")
    conn.commit()
    load_sample(conn, DAYS, scale=0.5, anchor=ANCHOR)
    conn.commit()
    conn.close()
    build = dbt("build", "--select", MODELS, vars={"min_date": str(DAYS[0]), "max_date": str(LAST)})
    return {"dbt": build.stdout, "url": warehouse_url}


def _frame(url: str, sql: str, params=None) -> pd.DataFrame:
    return warehouse.read_frame(sql, params=params, url=url)


def _independent_daily_mrr(url: str) -> pd.DataFrame:
    """MRR per day and its movements per paying user, straight from raw.events: each paid period (the first from
    Subscription Started, the others from Subscription Renewed, one per subscription and period start) counts its
    monthly amount on the days it covers; a user's day-over-day change is one movement."""
    raw = _frame(
        url,
        "select distinct on (event, distinct_id, event_time, insert_id) event, distinct_id, event_time,"
        " properties ->> 'subscription_id' as subscription_id, properties ->> 'amount' as amount,"
        " properties ->> 'billing_period' as billing_period, properties ->> 'period_start' as period_start,"
        " properties ->> 'period_end' as period_end from raw.events"
        " where event in ('Subscription Started', 'Subscription Renewed')"
        " order by event, distinct_id, event_time, insert_id, mp_processing_time",
    )
    raw = raw.sort_values("event_time").drop_duplicates(["subscription_id", "period_start"])
    raw["mrr"] = raw["amount"].astype(float) / raw["billing_period"].map({"month": 1.0, "year": 12.0})
    days = pd.date_range(pd.to_datetime(raw["period_start"]).min(), LAST).date
    per_user = {}
    for user, periods in raw.groupby("distinct_id"):
        starts = pd.to_datetime(periods["period_start"]).dt.date.to_numpy()
        ends = pd.to_datetime(periods["period_end"]).dt.date.to_numpy()
        per_user[user] = [float(periods["mrr"][(starts <= d) & (d < ends)].sum()) for d in days]
    levels = pd.DataFrame(per_user, index=days)
    before = levels.shift(1, fill_value=0.0)
    paid_before = (before.cummax() > 0).shift(1, fill_value=False)
    delta = levels - before
    changed = levels.ne(before)
    kinds = {
        "new": changed & (before == 0) & ~paid_before,
        "reactivation": changed & (before == 0) & paid_before,
        "churn": changed & (levels == 0) & (before > 0),
        "expansion": changed & (before > 0) & (levels > before),
        "contraction": changed & (levels > 0) & (levels < before),
    }
    out = pd.DataFrame({"mrr": levels.sum(axis=1), "paying_customers": (levels > 0).sum(axis=1)})
    for kind, mask in kinds.items():
        out[kind] = delta.where(mask, 0.0).abs().sum(axis=1)
    return out


def test_dbt_models_and_their_tests_pass(built):
    tail = built["dbt"].split("Done.")[-1]
    assert "ERROR=0" in tail and "FAIL" not in tail, built["dbt"][-3000:]
    assert "mrr_movements_of_a_constructed_history" in built["dbt"]  # the unit test ran
    assert "mrr_movements_add_up_to_the_paid_periods" in built["dbt"]  # the singular test ran


def test_mrr_and_its_movements_equal_an_independent_computation(built):
    mart = _frame(built["url"], "select * from marts.mrr_daily order by metric_date").set_index("metric_date")
    expected = _independent_daily_mrr(built["url"])
    assert list(mart.index) == list(expected.index)
    assert mart["mrr"].astype(float).to_numpy() == pytest.approx(expected["mrr"].to_numpy(), abs=1e-6)
    assert mart["paying_customers"].tolist() == expected["paying_customers"].tolist()
    for kind, column in (
        ("new", "new_mrr"),
        ("expansion", "expansion_mrr"),
        ("contraction", "contraction_mrr"),
        ("churn", "churned_mrr"),
        ("reactivation", "reactivation_mrr"),
    ):
        assert mart[column].astype(float).to_numpy() == pytest.approx(expected[kind].to_numpy(), abs=1e-6), kind
    # the sample has every kind of movement but reactivation (its users never come back after ending)
    assert (mart[["new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr"]].astype(float).sum() > 0).all()


def test_billing_events_are_not_user_activity(built):
    url = built["url"]
    in_staging = _frame(
        url, "select count(*) as n from staging.stg_events where event = any(%(e)s)", {"e": list(SERVER_EVENTS)}
    )
    assert int(in_staging["n"].iloc[0]) == 0
    billed = _frame(
        url,
        "select count(*) as n from staging.stg_subscription_events where event = any(%(e)s)",
        {"e": list(SERVER_EVENTS)},
    )
    assert int(billed["n"].iloc[0]) > 100
    # a user whose only event of a day is a renewal is not active that day
    only_billing = _frame(
        url,
        "select count(*) as n from (select user_key, event_date from staging.stg_subscription_events"
        " where event = 'Subscription Renewed' except select user_key, event_date from staging.stg_events) as x"
        " join marts.user_daily_activity as a on a.user_key = x.user_key and a.activity_date = x.event_date",
    )
    assert int(only_billing["n"].iloc[0]) == 0


def test_subscriptions_and_the_planted_early_cancellations(built):
    subs = _frame(built["url"], "select * from marts.subscriptions")
    assert subs["subscription_id"].is_unique and set(subs["status"]) <= {"active", "cancelling", "ended"}
    assert (subs["revenue"].astype(float) > 0).all() and (subs["periods_paid"] >= 1).all()
    started = subs[pd.to_datetime(subs["started_on"]).dt.date >= DAYS[0]]  # started in the window: first plan known
    monthly = started[started["billing_period"] == "month"]
    two_months = monthly[pd.to_datetime(monthly["started_on"]).dt.date <= LAST - timedelta(days=62)]
    early = two_months.assign(early=two_months["cancelled_at"].notna() & (two_months["periods_paid"] <= 2))
    rate = early.groupby("first_plan")["early"].mean()
    assert rate["studio_monthly"] > 2 * rate["pro_monthly"], json.dumps(rate.to_dict())


def test_cli_prints_mrr_movements_and_plans(built, monkeypatch):
    from typer.testing import CliRunner

    from hitcraft_assets.cli import app
    from hitcraft_assets.store import revenue

    monkeypatch.setenv("HITCRAFT_DATABASE_URL", built["url"])
    runner = CliRunner()
    shown = runner.invoke(app, ["revenue", "mrr", "--days", "28"])
    assert shown.exit_code == 0, shown.output
    headline = revenue.headline(LAST, 28, built["url"])
    assert f"MRR on {LAST}: {headline['mrr']:,.2f}" in shown.output and "churn -" in shown.output
    plans = runner.invoke(app, ["revenue", "plans", "--date", str(LAST)])
    assert plans.exit_code == 0 and "studio_monthly" in plans.output
    bad = runner.invoke(app, ["revenue", "mrr", "--date", "2020-01-01"])
    assert bad.exit_code != 0 and "no MRR for 2020-01-01" in str(bad.exception)  # main() prints it as one line
