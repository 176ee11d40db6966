"""Revenue end to end on the sample: 90 days of the default scenario (scale 1) loaded through the real Mixpanel
client, the subscription models built with their dbt tests (the constructed-history unit test of mrr_daily, the
movements add up to the paid periods), and MRR and its movements recomputed independently in pandas from raw.events.

Also: the billing system's server-side events are not user activity (no sessions, not in stg_events), and the
planted plan (studio_monthly) cancels more in its first two months than the others; UTM touches become conversion
paths whose credits sum to the conversions under every attribution model, the planted campaign (yt_creators) earns
more credit from the data-driven model than from first touch, and the planted channel (tiktok) brings signups that
rarely pay."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest
from scipy import stats as scipy_stats
from testkit.experiment_warehouse import load_sample, sample_days, sample_spend_csv

from hitcraft_assets.analytics.revenue_reference import independent_daily_mrr
from hitcraft_assets.store import warehouse

pytestmark = pytest.mark.slow

ANCHOR = date(2026, 3, 1)
DAYS = sample_days(ANCHOR, 90)
LAST = DAYS[-1]
MODELS = "+mrr_daily +subscriptions +marketing_touchpoints +user_daily_activity +dim_users"
SERVER_EVENTS = ("Subscription Renewed", "Subscription Plan Changed", "Payment Failed", "Subscription Cancelled")


@pytest.fixture(scope="module")
def built(warehouse_url, dbt, tmp_path_factory):
    conn = warehouse.connect(warehouse_url)
    with conn.cursor() as cur:
        for schema in ("raw", "staging", "intermediate", "marts"):
            cur.execute(f"drop schema if exists {schema} cascade")
    conn.commit()
    load_sample(conn, DAYS, scale=1.0, anchor=ANCHOR)
    conn.commit()
    conn.close()
    build = dbt("build", "--select", MODELS, vars={"min_date": str(DAYS[0]), "max_date": str(LAST)})
    attribution = _materialize_attribution(warehouse_url)
    spend = sample_spend_csv(tmp_path_factory.mktemp("spend") / "channel_spend.csv", DAYS, anchor=ANCHOR)
    return {"dbt": build.stdout, "url": warehouse_url, "attribution": attribution, "spend": spend}


def _materialize_attribution(url: str):
    import dagster as dg

    from hitcraft_assets.defs.resources import WarehouseResource
    from hitcraft_assets.defs.revenue.assets import attribution, mrr_forecast

    result = dg.materialize([attribution, mrr_forecast], resources={"warehouse": WarehouseResource(database_url=url)})
    assert result.success
    return result


def _frame(url: str, sql: str, params=None) -> pd.DataFrame:
    return warehouse.read_frame(sql, params=params, url=url)


def test_dbt_models_and_their_tests_pass(built):
    tail = built["dbt"].split("Done.")[-1]
    assert "ERROR=0" in tail and "FAIL" not in tail, built["dbt"][-3000:]
    assert "mrr_movements_of_a_constructed_history" in built["dbt"]  # the unit test ran
    assert "mrr_movements_add_up_to_the_paid_periods" in built["dbt"]  # the singular test ran


def test_mrr_and_its_movements_equal_an_independent_computation(built):
    mart = _frame(built["url"], "select * from marts.mrr_daily order by metric_date").set_index("metric_date")
    expected = independent_daily_mrr(built["url"], LAST)
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
    counts = early.groupby("first_plan")["early"].agg(["sum", "count"])
    rate = counts["sum"] / counts["count"]
    studio, pro = counts.loc["studio_monthly"], counts.loc["pro_monthly"]
    table = [[studio["sum"], studio["count"] - studio["sum"]], [pro["sum"], pro["count"] - pro["sum"]]]
    p_value = scipy_stats.fisher_exact(table, alternative="greater").pvalue
    assert rate["studio_monthly"] > 1.5 * rate["pro_monthly"] and p_value < 0.05, json.dumps(counts.to_dict())


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


def test_attribution_credits_every_conversion_once_and_finds_the_planted_campaign(built):
    from hitcraft_assets.store import revenue

    checks = {c.check_name: c for c in built["attribution"].get_asset_check_evaluations()}
    assert checks["credits_sum_to_conversions"].passed
    touches = _frame(built["url"], "select * from marts.marketing_touchpoints")
    assert {"google_ads", "tiktok", "instagram", "youtube"} <= set(touches["source"])
    by_campaign = revenue.attribution("campaign", built["url"]).pivot(index="key", columns="model", values="share")
    creators = by_campaign.loc["yt_creators"]
    # its touches come right before conversions: last touch and the Markov chain credit it above first touch
    assert creators["markov"] > creators["first_touch"] and creators["last_touch"] > creators["first_touch"]
    assert creators["markov"] == by_campaign["markov"].max()  # the campaign the data-driven model credits most
    by_source = revenue.attribution("source", built["url"])
    totals = by_source.groupby("model")["conversions"].sum()
    assert totals.max() - totals.min() < 1e-6  # every model hands out the same conversions


def test_the_planted_channel_brings_signups_that_rarely_pay(built):
    users = _frame(
        built["url"],
        "select d.acquisition_channel as channel, count(*) as signups, count(s.user_key) as paying"
        " from marts.dim_users as d left join (select distinct user_key from marts.subscriptions) as s"
        " on s.user_key = d.user_key group by d.acquisition_channel",
    ).set_index("channel")
    rate = users["paying"] / users["signups"]
    assert users.loc["tiktok", "signups"] > users.loc["youtube", "signups"]
    assert rate["tiktok"] < 0.5 * rate.drop("tiktok").min(), rate.to_dict()


def test_spend_import_is_validated_and_idempotent(built, tmp_path):
    from hitcraft_assets.store import revenue

    frame = revenue.read_spend_csv(built["spend"])
    assert revenue.import_spend(frame, built["url"]) == len(frame)
    assert revenue.import_spend(frame, built["url"]) == len(frame)  # again: the same rows, not twice as many
    stored = revenue.channel_spend(url=built["url"])
    assert stored["spend"].astype(float).sum() == pytest.approx(frame["spend"].sum())
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "date,channel,campaign,spend\n2026-01-01,tiktok,tt,12\n2026-13-01,tiktok,tt,3\n2026-01-02,,x,1\n"
        "2026-01-03,google_ads,g,-5\n2026-01-01,tiktok,tt,12\n"
    )
    with pytest.raises(ValueError) as problem:
        revenue.read_spend_csv(bad)
    text = str(problem.value)
    assert "4 problem(s); nothing imported" in text
    assert "line 3: date '2026-13-01'" in text and "line 4: channel is empty" in text
    assert "line 5: spend -5.0 is negative" in text and "line 6: 2026-01-01 tiktok tt is listed twice" in text


def test_budget_recovers_the_planted_diminishing_returns_and_improves_on_the_current_mix(built, monkeypatch):
    from typer.testing import CliRunner

    from hitcraft_assets.analytics import budget
    from hitcraft_assets.cli import app
    from hitcraft_assets.store import revenue

    revenue.import_spend(revenue.read_spend_csv(built["spend"]), built["url"])
    daily, value = revenue.budget_inputs(DAYS[-56], LAST, built["url"])
    curves = {c.channel: c for c in budget.fit_curves(daily, value)}
    assert set(curves) == {"google_ads", "tiktok", "instagram", "youtube"}
    # planted: google_ads signups = a * spend^0.5, the others ^0.8 (the spend's day-to-day noise biases a
    # log-log fit slightly low: errors in x)
    google = curves["google_ads"]
    assert abs(google.b - 0.5) < 0.08, (google.b, google.b_low, google.b_high)
    assert google.b_high < min(c.b_low for name, c in curves.items() if name != "google_ads")
    plan = budget.optimise(list(curves.values()), sum(c.mean_spend for c in curves.values()))
    assert plan["proposed_revenue"].sum() > plan["current_revenue"].sum()
    assert (plan["proposed_spend"] <= plan["max_spend"] + 1e-6).all()
    monkeypatch.setenv("HITCRAFT_DATABASE_URL", built["url"])
    shown = CliRunner().invoke(app, ["revenue", "budget", "--max", "google_ads=50"])
    assert shown.exit_code == 0, shown.output
    assert "predicted revenue per day" in shown.output and "marginal_roi" in shown.output
    attribution = CliRunner().invoke(app, ["revenue", "attribution", "--level", "campaign"])
    assert attribution.exit_code == 0 and "yt_creators" in attribution.output and "markov" in attribution.output


def test_mrr_forecast_has_intervals_and_a_backtest_against_seasonal_naive(built, monkeypatch):
    from typer.testing import CliRunner

    from hitcraft_assets.cli import app
    from hitcraft_assets.store import revenue

    frame, backtest = revenue.mrr_forecast(built["url"])
    assert len(frame) == 30 and frame["as_of"].iloc[0] == LAST
    assert (frame["lower"] <= frame["forecast"]).all() and (frame["forecast"] <= frame["upper"]).all()
    assert backtest["n_origins"] == 4 and backtest["mape_pct"] >= 0 and backtest["naive_mape_pct"] >= 0
    checks = {c.check_name: c for c in built["attribution"].get_asset_check_evaluations()}
    assert checks["forecast_beats_seasonal_naive"].metadata["naive_mape_pct"].value == pytest.approx(
        backtest["naive_mape_pct"]
    )
    monkeypatch.setenv("HITCRAFT_DATABASE_URL", built["url"])
    shown = CliRunner().invoke(app, ["revenue", "forecast"])
    assert shown.exit_code == 0 and "MAPE" in shown.output and "seasonal naive" in shown.output, shown.output
