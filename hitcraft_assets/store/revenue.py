"""Readers of the revenue marts (dbt: marts.mrr_daily, marts.subscriptions): MRR with its movements over a range,
the headline figures as of a day, and subscriptions by plan (with early cancellations)."""

from __future__ import annotations

from datetime import date, timedelta

from hitcraft_assets.store import warehouse

MRR = "marts.mrr_daily"
SUBSCRIPTIONS = "marts.subscriptions"
MOVEMENTS = ("new_mrr", "expansion_mrr", "reactivation_mrr", "contraction_mrr", "churned_mrr")
EARLY_PERIODS = 2  # "early" cancellation: within the first two billing periods


def has_revenue(url: str | None = None) -> bool:
    return warehouse.table_exists(MRR, url) and warehouse.table_exists(SUBSCRIPTIONS, url)


def newest_day(url: str | None = None) -> date | None:
    frame = warehouse.read_frame(f"select max(metric_date) as d from {MRR}", url=url)
    return frame["d"].iloc[0] if len(frame) and frame["d"].iloc[0] is not None else None


def mrr_daily(start: date, end: date, url: str | None = None):
    """Days start..end of marts.mrr_daily (numbers as floats)."""
    frame = warehouse.read_frame(
        f"select * from {MRR} where metric_date between %(start)s and %(end)s order by metric_date",
        {"start": start, "end": end},
        url=url,
    )
    money = ["mrr", "net_new_mrr", *MOVEMENTS]
    return frame.astype({c: float for c in money}) if len(frame) else frame


def headline(as_of: date, days: int = 30, url: str | None = None) -> dict:
    """MRR and paying customers on `as_of` and `days` before, ARR, and each movement summed over the `days` days
    ending on `as_of` (their sum is the change in MRR)."""
    start = as_of - timedelta(days=days)
    frame = mrr_daily(start, as_of, url)
    if frame.empty or frame["metric_date"].iloc[-1] != as_of:
        raise LookupError(f"no MRR for {as_of} (newest: {newest_day(url)})")
    first, last = frame.iloc[0], frame.iloc[-1]
    window = frame.iloc[1:]  # movements of the days after `start`, so that first + movements = last
    out = {
        "as_of": as_of,
        "days": days,
        "mrr": float(last["mrr"]),
        "arr": 12 * float(last["mrr"]),
        "paying_customers": int(last["paying_customers"]),
        "mrr_before": float(first["mrr"]) if first["metric_date"] == start else None,
        "paying_customers_before": int(first["paying_customers"]) if first["metric_date"] == start else None,
        **{m: float(window[m].sum()) for m in MOVEMENTS},
        "new_customers": int(window["new_customers"].sum()),
        "churned_customers": int(window["churned_customers"].sum()),
    }
    out["net_new_mrr"] = sum(out[m] for m in MOVEMENTS[:3]) - out["contraction_mrr"] - out["churned_mrr"]
    return out


def plans(as_of: date, url: str | None = None):
    """Per first plan: subscriptions started, paying now, their MRR, revenue so far, and the early cancellation
    rate: of subscriptions started at least two billing periods before `as_of`, the share cancelled within
    their first two periods (the figure the planted plan stands out on)."""
    return warehouse.read_frame(
        f"""
        with s as (
            select *,
                   started_on + case when billing_period = 'year' then interval '2 years'
                                     else interval '2 months' end <= %(as_of)s as is_seasoned
            from {SUBSCRIPTIONS}
            where started_on <= %(as_of)s
        )
        select
            first_plan as plan,
            min(billing_period) as billing_period,
            count(*) as subscriptions,
            sum(case when paid_through > %(as_of)s then 1 else 0 end) as paying_now,
            cast(sum(case when paid_through > %(as_of)s then current_mrr else 0 end) as double precision) as mrr,
            cast(sum(revenue) as double precision) as revenue,
            sum(case when is_seasoned then 1 else 0 end) as seasoned,
            cast(avg(case when is_seasoned then
                    case when cancelled_at is not null and periods_paid <= %(early)s then 1.0 else 0.0 end
                 end) as double precision) as early_cancel_rate,
            sum(payment_failures) as payment_failures
        from s
        group by first_plan
        order by mrr desc, plan
        """,
        {"as_of": as_of, "early": EARLY_PERIODS},
        url=url,
    )
