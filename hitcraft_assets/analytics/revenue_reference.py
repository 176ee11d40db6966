"""An independent computation of MRR and its movements straight from raw.events, in pandas: the reference the
dbt revenue models are checked against (tests/integration/revenue, benchmarks `revenue`). It shares no code with
the models: each paid period (the first from Subscription Started, the others from Subscription Renewed, one per
subscription and period start, the earliest event kept) counts its monthly amount on every day it covers, per user
and day; a user's day-over-day change is one movement."""

from __future__ import annotations

from datetime import date

import pandas as pd

from hitcraft_assets.store import warehouse

__all__ = ["independent_daily_mrr"]


def independent_daily_mrr(url: str, last: date) -> pd.DataFrame:
    """Per day up to `last`: mrr, paying_customers and the amounts of new, reactivation, churn, expansion and
    contraction (positive amounts)."""
    raw = warehouse.read_frame(
        "select distinct on (event, distinct_id, event_time, insert_id) event, distinct_id, event_time,"
        " properties ->> 'subscription_id' as subscription_id, properties ->> 'amount' as amount,"
        " properties ->> 'billing_period' as billing_period, properties ->> 'period_start' as period_start,"
        " properties ->> 'period_end' as period_end from raw.events"
        " where event in ('Subscription Started', 'Subscription Renewed')"
        " order by event, distinct_id, event_time, insert_id, mp_processing_time",
        url=url,
    )
    raw = raw.sort_values("event_time").drop_duplicates(["subscription_id", "period_start"])
    raw["mrr"] = raw["amount"].astype(float) / raw["billing_period"].map({"month": 1.0, "year": 12.0})
    days = pd.date_range(pd.to_datetime(raw["period_start"]).min(), last).date
    per_user = {}
    for user, periods in raw.groupby("distinct_id"):
        starts = pd.to_datetime(periods["period_start"]).dt.date.to_numpy()
        ends = pd.to_datetime(periods["period_end"]).dt.date.to_numpy()
        per_user[user] = [float(periods["mrr"][(starts <= d) & (d < ends)].sum()) for d in days]
    levels = pd.DataFrame(per_user, index=days)
    before = levels.shift(1, fill_value=0.0)
    paid_before = before.cummax() > 0  # paid on some earlier day
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
