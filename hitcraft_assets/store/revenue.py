"""Readers of the revenue marts (dbt: marts.mrr_daily, marts.subscriptions, marts.marketing_touchpoints): MRR with
its movements over a range, the headline figures as of a day, subscriptions by plan (with early cancellations), the
touchpoints; and the attribution table the revenue/attribution asset writes (schema `revenue`)."""

from __future__ import annotations

from datetime import date, timedelta

from hitcraft_assets.store import warehouse
from hitcraft_assets.store.warehouse import Table

MRR = "marts.mrr_daily"
SUBSCRIPTIONS = "marts.subscriptions"
MOVEMENTS = ("new_mrr", "expansion_mrr", "reactivation_mrr", "contraction_mrr", "churned_mrr")
EARLY_PERIODS = 2  # "early" cancellation: within the first two billing periods
TOUCHPOINTS = "marts.marketing_touchpoints"

ATTRIBUTION = Table(
    "revenue",
    "attribution",
    (
        ("as_of", "date not null"),
        ("level", "text not null"),  # source (utm_source) or campaign (utm_campaign)
        ("model", "text not null"),
        ("key", "text not null"),
        ("conversions", "double precision"),
        ("revenue", "double precision"),
        ("share", "double precision"),
        ("disagreement", "double precision"),
        ("lookback_days", "integer"),
    ),
    ("as_of", "level", "model", "key"),
)

MRR_FORECAST = Table(
    "revenue",
    "mrr_forecast",
    (
        ("as_of", "date not null"),  # the last MRR day the forecast is made from
        ("forecast_date", "date not null"),
        ("forecast", "double precision"),
        ("lower", "double precision"),
        ("upper", "double precision"),
        ("level", "double precision"),
        ("model", "text"),
    ),
    ("as_of", "forecast_date"),
)
MRR_BACKTEST = Table(
    "revenue",
    "mrr_forecast_backtest",
    (
        ("as_of", "date not null"),
        ("model", "text"),
        ("n_days", "integer"),
        ("n_origins", "integer"),
        ("horizon_days", "integer"),
        ("mape_pct", "double precision"),
        ("smape_pct", "double precision"),
        ("mase", "double precision"),
        ("coverage", "double precision"),
        ("naive_mape_pct", "double precision"),
    ),
    ("as_of",),
)

#: the marketing spend the team keeps outside Mixpanel (`hitcraft revenue import-spend FILE.csv`)
CHANNEL_SPEND = Table(
    "marketing",
    "channel_spend",
    (
        ("spend_date", "date not null"),
        ("channel", "text not null"),
        ("campaign", "text not null"),
        ("spend", "double precision not null"),
        ("currency", "text not null"),
    ),
    ("spend_date", "channel", "campaign"),
)
SPEND_COLUMNS = ("date", "channel", "campaign", "spend", "currency")


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


def touchpoints(url: str | None = None):
    return warehouse.read_frame(
        f"select user_key, touch_time, source, campaign, converted_at, days_before_conversion, revenue"
        f" from {TOUCHPOINTS} order by user_key, touch_number",
        url=url,
    )


def has_attribution(url: str | None = None) -> bool:
    return warehouse.table_exists(ATTRIBUTION.qualified, url)


def attribution(level: str = "source", url: str | None = None):
    """The newest attribution of `level`: one row per model and key."""
    return warehouse.read_frame(
        f"select * from {ATTRIBUTION.qualified} where level = %(level)s"
        f" and as_of = (select max(as_of) from {ATTRIBUTION.qualified}) order by key, model",
        {"level": level},
        url=url,
    )


def read_spend_csv(path, currency: str = "USD"):
    """A spend file (columns date, channel, campaign, spend, currency; campaign and currency optional) as rows of
    marketing.channel_spend. Every problem is reported at once with its line and column, and nothing is imported
    from a file with any: a spend file is curated by hand, and half of it would give wrong ROI silently."""
    import csv
    from datetime import date as _date

    import pandas as pd

    rows, problems = [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("date", "channel", "spend") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(SPEND_COLUMNS)})")
        seen = set()
        for line, row in enumerate(reader, start=2):
            where = f"{path} line {line}"
            try:
                day = _date.fromisoformat((row.get("date") or "").strip())
            except ValueError:
                problems.append(f"{where}: date {row.get('date')!r} is not YYYY-MM-DD")
                continue
            channel = (row.get("channel") or "").strip()
            campaign = (row.get("campaign") or "").strip() or "(all)"
            if not channel:
                problems.append(f"{where}: channel is empty")
                continue
            try:
                amount = float(row.get("spend") or "")
            except ValueError:
                problems.append(f"{where}: spend {row.get('spend')!r} is not a number")
                continue
            if not amount >= 0:
                problems.append(f"{where}: spend {amount} is negative")
                continue
            cur = (row.get("currency") or "").strip() or currency
            if cur != currency:
                problems.append(f"{where}: currency {cur!r} is not the revenue currency {currency!r}")
                continue
            if (day, channel, campaign) in seen:
                problems.append(f"{where}: {day} {channel} {campaign} is listed twice")
                continue
            seen.add((day, channel, campaign))
            rows.append({"spend_date": day, "channel": channel, "campaign": campaign, "spend": amount, "currency": cur})
    if problems:
        raise ValueError(f"{len(problems)} problem(s); nothing imported:\n" + "\n".join(problems[:50]))
    return pd.DataFrame(rows, columns=CHANNEL_SPEND.column_names)


def import_spend(frame, url: str | None = None) -> int:
    """Replace the spend of the frame's channels over the frame's dates by the frame (a file is the truth for the
    days and channels it covers: importing it again changes nothing)."""
    if frame.empty:
        return 0
    where = "spend_date between %(first)s and %(last)s and channel = any(%(channels)s)"
    params = {
        "first": frame["spend_date"].min(),
        "last": frame["spend_date"].max(),
        "channels": sorted(frame["channel"].unique()),
    }
    return warehouse.replace_rows(CHANNEL_SPEND, frame, where=where, params=params, url=url)


def channel_spend(start: date | None = None, end: date | None = None, url: str | None = None):
    """Daily spend per channel (campaigns summed) over start..end (all when None)."""
    if not warehouse.table_exists(CHANNEL_SPEND.qualified, url):
        import pandas as pd

        return pd.DataFrame(columns=["spend_date", "channel", "spend"])
    return warehouse.read_frame(
        f"select spend_date, channel, sum(spend) as spend from {CHANNEL_SPEND.qualified}"
        " where spend_date between coalesce(%(start)s, date '1900-01-01') and coalesce(%(end)s, date '2999-12-31')"
        " group by spend_date, channel order by spend_date, channel",
        {"start": start, "end": end},
        url=url,
    )


def daily_signups_by_channel(start: date, end: date, url: str | None = None):
    """Signups per day and acquisition channel (marts.dim_users), the response a channel's spend buys."""
    return warehouse.read_frame(
        "select signup_date, acquisition_channel as channel, count(*) as signups"
        " from marts.dim_users where signup_date between %(start)s and %(end)s"
        " group by 1, 2 order by 1, 2",
        {"start": start, "end": end},
        url=url,
    )


def revenue_per_paying_user_by_channel(url: str | None = None):
    """Per acquisition channel: signups, paying users and their revenue so far (marts.subscriptions)."""
    return warehouse.read_frame(
        "select d.acquisition_channel as channel, count(*) as signups, count(s.user_key) as paying,"
        " coalesce(sum(s.revenue), 0) as revenue"
        " from marts.dim_users as d left join (select user_key, sum(revenue) as revenue from marts.subscriptions"
        " group by user_key) as s on s.user_key = d.user_key group by d.acquisition_channel order by 1",
        url=url,
    )


def budget_inputs(start: date, end: date, url: str | None = None):
    """(daily rows channel, spend_date, spend, signups over start..end; value per signup by channel: its users'
    subscription revenue so far per signup) for analytics.budget."""
    spend = channel_spend(start, end, url)
    if spend.empty:
        return spend.assign(signups=[]), {}
    signups = daily_signups_by_channel(start, end, url).rename(columns={"signup_date": "spend_date"})
    daily = spend.merge(signups, on=["spend_date", "channel"], how="left").fillna({"signups": 0})
    daily = daily.astype({"spend": float, "signups": float})
    values = revenue_per_paying_user_by_channel(url)
    value = {r.channel: float(r.revenue) / r.signups for r in values.itertuples() if r.signups}
    return daily, value


def mrr_forecast(url: str | None = None):
    """The newest MRR forecast (rows per forecast day) and its backtest row (or None)."""
    if not warehouse.table_exists(MRR_FORECAST.qualified, url):
        return None, None
    newest = f"(select max(as_of) from {MRR_FORECAST.qualified})"
    frame = warehouse.read_frame(
        f"select * from {MRR_FORECAST.qualified} where as_of = {newest} order by forecast_date", url=url
    )
    backtest = warehouse.read_frame(f"select * from {MRR_BACKTEST.qualified} where as_of = {newest}", url=url)
    return frame, (backtest.iloc[0].to_dict() if len(backtest) else None)
