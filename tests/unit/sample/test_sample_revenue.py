"""The sample's subscription lifecycle: every event of a scenario without the `revenue` key unchanged (the key only
adds events and properties), periods that follow the billing calendar, the same day whichever way it is generated,
and scenario errors that name the key."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import yaml

from hitcraft_assets.mixpanel.sample import Simulator, load_scenario
from hitcraft_assets.mixpanel.sample.revenue import BILLING_EVENTS, TRIAL_EVENT, subscription_schedule
from hitcraft_assets.mixpanel.sample.scenario import ScenarioError

ANCHOR = date(2025, 5, 15)
ADDED_PROPERTIES = {"subscription_id", "billing_period", "period_start", "period_end"}


def _day(sim: Simulator, d: date) -> list[dict]:
    start = datetime(d.year, d.month, d.day, tzinfo=UTC)
    return list(sim.events(start, start + timedelta(days=1)))


def _scenario_without(tmp_path, key: str, **changes):
    from importlib import resources

    text = resources.files("hitcraft_assets.mixpanel.sample").joinpath("scenarios/default.yaml").read_text()
    data = yaml.safe_load(text)
    if changes:
        data[key] = {**data[key], **changes}
    else:
        data.pop(key)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))  # key order is vocabulary order
    return path


def test_the_revenue_key_only_adds_events_and_properties(tmp_path):
    with_revenue = Simulator(load_scenario(), anchor_date=ANCHOR)
    without = Simulator(load_scenario(_scenario_without(tmp_path, "revenue")), anchor_date=ANCHOR)
    day = ANCHOR - timedelta(days=3)
    full, plain = _day(with_revenue, day), _day(without, day)
    added = [e for e in full if e["event"] in BILLING_EVENTS or e["event"] == TRIAL_EVENT]
    kept = [e for e in full if e not in added]
    strip = [
        {"event": e["event"], "properties": {k: v for k, v in e["properties"].items() if k not in ADDED_PROPERTIES}}
        for e in kept
    ]
    assert strip == plain
    assert {e["event"] for e in added} >= {"Subscription Renewed", TRIAL_EVENT}
    assert all(e["properties"]["subscription_id"] for e in kept if e["event"] == "Subscription Started")


def test_periods_follow_the_billing_calendar_and_a_cancellation_ends_the_schedule():
    sim = Simulator(load_scenario(), anchor_date=ANCHOR)
    model = sim.model
    _day(sim, date(2025, 5, 1))  # the population up to that day exists
    cfg = model.sc.extensions["revenue"]
    subscribers = [u for u in range(len(model.pop)) if model.pop.subscribe_at[u] >= 0][:300]
    start = date(2025, 1, 31).toordinal()  # month ends: Feb 28, then Mar 31 (anchored on the start day)
    kinds = set()
    for u in subscribers:
        first, events = subscription_schedule(model, cfg, u, start)
        assert (first, events) == subscription_schedule(model, cfg, u, start)  # pure
        assert first["period_start"] == "2025-01-31"
        assert first["period_end"] == ("2026-01-31" if first["billing_period"] == "year" else "2025-02-28")
        previous_end = first["period_end"]
        for e in events:
            kinds.add(e.event)
            if e.event == "Subscription Renewed":
                assert e.props["period_start"] == previous_end
                previous_end = e.props["period_end"]
                expected_end = {
                    ("month", 2): "2025-03-31",
                    ("month", 3): "2025-04-30",
                    ("year", 2): "2027-01-31",
                }.get((e.props["billing_period"], e.props["period_number"]))
                assert expected_end in (None, previous_end), e
        assert [e.event for e in events].count("Subscription Cancelled") <= 1
        if events and events[-1].event != "Subscription Cancelled":
            assert (date.fromordinal(events[-1].day) - date(2025, 1, 31)).days > 2 * 365  # ran to the horizon
    assert kinds == set(BILLING_EVENTS)


def test_a_day_is_the_same_alone_or_after_the_days_before_it():
    alone = Simulator(load_scenario(), anchor_date=ANCHOR)
    in_order = Simulator(load_scenario(), anchor_date=ANCHOR)
    day = ANCHOR - timedelta(days=2)
    for k in range(6, 0, -1):
        _day(in_order, day - timedelta(days=k))
    assert _day(alone, day) == _day(in_order, day)


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"cancel_hazard": {"pro_monthly": 0.1}}, "revenue.cancel_hazard"),
        ({"billing_periods": {"pro_yearly": "fortnight"}}, "revenue.billing_periods.pro_yearly"),
        ({"early_cancel": {"plan": "gold", "periods": 2, "hazard": 0.4}}, "revenue.early_cancel.plan"),
        ({"payment_failure": 1.5}, "revenue.payment_failure"),
        ({"upgrade": {"from": "pro_monthly", "to": "pro_yearly", "share": 0.1}}, "revenue.upgrade"),
    ],
)
def test_bad_revenue_keys_name_the_key(tmp_path, changes, key):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")):
        load_scenario(_scenario_without(tmp_path, "revenue", **changes))
