"""`hitcraft revenue …`: MRR with its movements, and subscriptions by plan (dbt marts mrr_daily, subscriptions)."""

from __future__ import annotations

from pathlib import Path

import typer

from hitcraft_assets.cli.common import EmbeddedDatabase, UserError, parse_day, say, show

revenue_app = typer.Typer(help="Revenue: MRR and its movements, subscriptions by plan.", no_args_is_help=True)


def _store_and_day(day: str | None):
    from hitcraft_assets.store import revenue

    if not revenue.has_revenue():
        raise UserError("no revenue marts yet: materialize marts/mrr_daily (`hitcraft demo` or a backfill)")
    as_of = parse_day(day, "--date") if day else revenue.newest_day()
    if as_of is None:
        raise UserError("marts.mrr_daily is empty: no Subscription Started or Renewed event has been loaded")
    return revenue, as_of


@revenue_app.command("mrr")
def mrr(
    day: str = typer.Option(None, "--date", help="As of YYYY-MM-DD (default: the newest loaded day)."),
    days: int = typer.Option(30, "--days", min=1, max=3660, help="Movements over this many days before --date."),
) -> None:
    """MRR, ARR and paying customers on --date, the movements of the --days before it (new, expansion,
    reactivation, contraction, churn: their sum is the change in MRR), then MRR week by week."""
    with EmbeddedDatabase():
        store, as_of = _store_and_day(day)
        try:
            h = store.headline(as_of, days)
        except LookupError as exc:
            raise UserError(str(exc)) from None
        before = "" if h["mrr_before"] is None else f" (was {h['mrr_before']:,.2f} {days} days before)"
        say(f"MRR on {as_of}: {h['mrr']:,.2f}{before}; ARR {h['arr']:,.2f}; paying customers {h['paying_customers']:,}")
        say(
            f"last {days} days: new +{h['new_mrr']:,.2f}, expansion +{h['expansion_mrr']:,.2f}, reactivation "
            f"+{h['reactivation_mrr']:,.2f}, contraction -{h['contraction_mrr']:,.2f}, churn -{h['churned_mrr']:,.2f}"
            f" = net {h['net_new_mrr']:+,.2f}; {h['new_customers']} new and {h['churned_customers']} churned customers"
        )
        from datetime import timedelta

        frame = store.mrr_daily(as_of - timedelta(days=days), as_of)
        weekly = frame[frame["metric_date"].map(lambda d: (as_of - d).days % 7 == 0)]
        cols = ["metric_date", "mrr", "paying_customers", "net_new_mrr", "new_mrr", "churned_mrr"]
        show("MRR every 7 days (movements of that day)", weekly[cols].round(2))


@revenue_app.command("plans")
def plans(day: str = typer.Option(None, "--date", help="As of YYYY-MM-DD (default: the newest loaded day).")) -> None:
    """Subscriptions by first plan: started, paying now, MRR, revenue so far, and the early cancellation rate
    (cancelled within the first two billing periods, of those started at least two periods ago)."""
    with EmbeddedDatabase():
        store, as_of = _store_and_day(day)
        frame = store.plans(as_of)
        say(f"subscriptions by first plan as of {as_of}")
        if len(frame):
            rate = frame["early_cancel_rate"].map(lambda v: "" if v != v else f"{v:.0%}")
            frame = frame.assign(early_cancel_rate=rate)
        show("plans", frame.round(2), "(no subscription)")


@revenue_app.command("attribution")
def attribution(
    level: str = typer.Option("source", "--level", help="source (utm_source) or campaign (utm_campaign)."),
) -> None:
    """Paid conversions and their revenue credited to each channel (or campaign) under first touch, last touch,
    linear, time decay, position based and the data-driven Markov model, side by side; `disagreement` is the
    spread of a key's share of conversions across the models."""
    if level not in ("source", "campaign"):
        raise UserError(f"--level must be source or campaign, not {level!r}")
    with EmbeddedDatabase():
        from hitcraft_assets.store import revenue

        if not revenue.has_attribution():
            raise UserError("no attribution yet: materialize revenue/attribution (`hitcraft demo` or a backfill)")
        frame = revenue.attribution(level)
        if frame.empty:
            raise UserError("revenue.attribution is empty: no marketing touch has been loaded")
        say(f"attribution of paid conversions by {level} as of {frame['as_of'].iloc[0]} (conversions credited)")
        table = frame.pivot(index="key", columns="model", values="conversions").round(1)
        spread = frame.groupby("key")["disagreement"].first()
        table = table.assign(disagreement=spread.map(lambda v: f"{v:.0%}"))
        show("conversions by model (disagreement: spread of the share across models)", table.reset_index())
        money = frame.pivot(index="key", columns="model", values="revenue").round(2)
        show("revenue by model", money.reset_index())


@revenue_app.command("import-spend")
def import_spend(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: date,channel,campaign,spend,currency"),
) -> None:
    """Import the marketing spend (not in Mixpanel) into marketing.channel_spend: one row per day, channel and
    campaign (campaign and currency optional). The file replaces the spend of its channels over its dates, so
    importing it again changes nothing; a file with any bad row is refused whole, every problem named."""
    from hitcraft_assets.store import revenue

    try:
        frame = revenue.read_spend_csv(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with EmbeddedDatabase():
        written = revenue.import_spend(frame)
    if written:
        say(
            f"{written} spend rows for {frame['channel'].nunique()} channel(s), {frame['spend_date'].min()}.."
            f"{frame['spend_date'].max()}: {frame['spend'].sum():,.2f} in all"
        )
    else:
        say("the file has no rows: nothing imported")


@revenue_app.command("sample-spend")
def sample_spend(
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD."),
    end: str = typer.Option(..., "--end", help="Last day, YYYY-MM-DD (inclusive)."),
    out: Path = typer.Option(Path("channel_spend.csv"), "--out", help="CSV to write."),
) -> None:
    """Write the sample Mixpanel's marketing spend for the days (the file a marketing team would keep), for
    `hitcraft revenue import-spend`. The demo imports it by itself."""
    from hitcraft_assets.cli.common import check_range

    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    check_range(first, last)
    rows = sample_spend_rows(first, last)
    write_spend_csv(rows, out)
    say(f"{len(rows)} rows, {sum(r['spend'] for r in rows):,.2f} in all: {out}")


def sample_spend_rows(first, last) -> list[dict]:
    """The sample source's spend rows for first..last (the same simulator and anchor as the sample Mixpanel)."""
    from hitcraft_assets.defs.resources import sample_anchor_date
    from hitcraft_assets.mixpanel.sample import Simulator, load_scenario
    from hitcraft_assets.mixpanel.sample.marketing import spend_rows

    return spend_rows(Simulator(load_scenario(), anchor_date=sample_anchor_date()).model, first, last)


def write_spend_csv(rows: list[dict], out: Path) -> None:
    import csv

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["date", "channel", "campaign", "spend", "currency"])
        writer.writeheader()
        writer.writerows({**r, "currency": "USD"} for r in rows)


def _bounds(values: list[str], option: str) -> dict[str, float]:
    from hitcraft_assets.analytics.budget import parse_bounds

    try:
        return parse_bounds(values)
    except ValueError as exc:
        raise UserError(f"{option} {exc}") from None


@revenue_app.command("budget")
def budget(
    total: float = typer.Option(None, "--total", min=0.0, help="Daily budget to allocate (default: today's)."),
    days: int = typer.Option(56, "--days", min=14, help="Days of spend and signups the curves are fitted on."),
    minimum: list[str] = typer.Option([], "--min", help="CHANNEL=AMOUNT: least daily spend (repeatable)."),
    maximum: list[str] = typer.Option([], "--max", help="CHANNEL=AMOUNT: most daily spend (repeatable)."),
    spend: list[str] = typer.Option([], "--what-if", help="CHANNEL=AMOUNT: simulate this daily allocation instead."),
) -> None:
    """Per paid channel: the response curve of daily signups to daily spend (elasticity b, < 1 = diminishing
    returns), ROI and marginal ROI with 95 % bootstrap intervals, then the allocation of --total that maximises
    predicted revenue under --min/--max (or, with --what-if, the prediction for a given allocation)."""
    from datetime import timedelta

    from hitcraft_assets.analytics import budget as model
    from hitcraft_assets.store import revenue

    with EmbeddedDatabase():
        end = revenue.newest_day() if revenue.has_revenue() else None
        if end is None:
            raise UserError("no revenue marts yet: materialize marts/mrr_daily (`hitcraft demo` or a backfill)")
        daily, value = revenue.budget_inputs(end - timedelta(days=days - 1), end)
    if daily.empty:
        raise UserError("no marketing spend: `hitcraft revenue import-spend FILE.csv` first")
    curves = model.fit_curves(daily, value)
    if not curves:
        raise UserError(f"no channel has spend and signups on {model.MIN_DAYS}+ of the last {days} days")
    say(
        f"response curves over {days} days to {end} (signups = a * spend^b; a signup is worth its channel's "
        "revenue per signup so far; intervals: bootstrap over days)"
    )
    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "channel": c.channel,
                "days": c.days,
                "mean_spend": round(c.mean_spend, 2),
                "b": f"{c.b:.2f} ({c.b_low:.2f}..{c.b_high:.2f})",
                "value_per_signup": round(c.value_per_signup, 2),
                "roi": f"{c.roi:.2f} ({c.roi_low:.2f}..{c.roi_high:.2f})",
                "marginal_roi": f"{c.marginal_roi:.2f} ({c.marginal_roi_low:.2f}..{c.marginal_roi_high:.2f})",
            }
            for c in curves
        ]
    )
    show("channels", table)
    try:
        if spend:
            show("what if (daily)", model.what_if(curves, _bounds(spend, "--what-if")).round(2))
            return
        budget_total = total if total is not None else sum(c.mean_spend for c in curves)
        plan = model.optimise(curves, budget_total, _bounds(minimum, "--min"), _bounds(maximum, "--max"))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    gain = plan["proposed_revenue"].sum() - plan["current_revenue"].sum()
    show(f"allocation of {budget_total:,.2f} a day (current = today's mix scaled to the total)", plan.round(2))
    say(
        f"predicted revenue per day {plan['current_revenue'].sum():,.2f} -> {plan['proposed_revenue'].sum():,.2f} "
        f"({gain:+,.2f}); bounds default to 0..3x a channel's mean spend (no extrapolation far beyond the data)"
    )


def import_sample_spend(first, last) -> int:
    """Import the sample source's spend for first..last the way a team imports its file: written to
    $HITCRAFT_HOME/sample_channel_spend.csv, then read and imported like `hitcraft revenue import-spend`. Inside
    EmbeddedDatabase."""
    from hitcraft_assets import settings
    from hitcraft_assets.store import revenue

    path = settings.hitcraft_home() / "sample_channel_spend.csv"
    write_spend_csv(sample_spend_rows(first, last), path)
    return revenue.import_spend(revenue.read_spend_csv(path))


@revenue_app.command("forecast")
def forecast() -> None:
    """MRR for the next 30 days with its 90 % interval (asset revenue/mrr_forecast), every 7th day, and the
    rolling-origin backtest: MAPE against the seasonal naive forecast's on the same days."""
    with EmbeddedDatabase():
        from hitcraft_assets.store import revenue

        frame, backtest = revenue.mrr_forecast()
    if frame is None or frame.empty:
        raise UserError("no MRR forecast yet: materialize revenue/mrr_forecast (needs 28 days of MRR)")
    say(f"MRR forecast from {frame['as_of'].iloc[0]} ({frame['model'].iloc[0]}, {frame['level'].iloc[0]:.0%} interval)")
    weekly = frame.iloc[6::7][["forecast_date", "forecast", "lower", "upper"]].round(2)
    show("every 7th day", weekly)
    if backtest and backtest.get("mape_pct") == backtest.get("mape_pct"):
        say(
            f"backtest ({int(backtest['n_origins'])} origins x {int(backtest['horizon_days'])} days): MAPE "
            f"{backtest['mape_pct']:.2f} % vs seasonal naive {backtest['naive_mape_pct']:.2f} %; interval coverage "
            f"{backtest['coverage']:.0%}"
        )
