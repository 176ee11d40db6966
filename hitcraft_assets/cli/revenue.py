"""`hitcraft revenue …`: MRR with its movements, and subscriptions by plan (dbt marts mrr_daily, subscriptions)."""

from __future__ import annotations

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
