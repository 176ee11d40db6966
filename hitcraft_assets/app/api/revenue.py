"""Revenue: MRR with its movements over a date range, the headline as of a day, and subscriptions by plan (dbt marts
mrr_daily and subscriptions). Aggregates only; permission `revenue` (admin, product_manager)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from hitcraft_assets.app.api.common import FormatQuery, Range, date_range, default_range, plain, records, table
from hitcraft_assets.app.auth import allow
from hitcraft_assets.app.cache import cached
from hitcraft_assets.app.permissions import Permission
from hitcraft_assets.store import revenue as store

router = APIRouter()
REVENUE = [Depends(allow(Permission.REVENUE))]
MRR_COLUMNS = (
    "metric_date",
    "mrr",
    "paying_customers",
    "new_mrr",
    "expansion_mrr",
    "reactivation_mrr",
    "contraction_mrr",
    "churned_mrr",
    "net_new_mrr",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
)
PLAN_COLUMNS = (
    "plan",
    "billing_period",
    "subscriptions",
    "paying_now",
    "mrr",
    "revenue",
    "seasoned",
    "early_cancel_rate",
    "payment_failures",
)


def _newest(url: str):
    if not store.has_revenue(url):
        raise HTTPException(404, "no revenue marts yet: materialize marts/mrr_daily")
    newest = store.newest_day(url)
    if newest is None:
        raise HTTPException(404, "marts.mrr_daily is empty: no subscription event has been loaded")
    return newest


@router.get("/revenue/mrr", dependencies=REVENUE, tags=["revenue"], summary="MRR and its movements per day")
@cached
def mrr(
    request: Request,
    window: Annotated[Range, Depends(date_range)],
    days: Annotated[int, Query(ge=1, le=3660, description="Headline movements over this many days.")] = 30,
    format: FormatQuery = None,
):
    """MRR, paying customers and the day's movements (new, expansion, reactivation, contraction, churn) for each
    day of the range (default: the 91 days to the newest day), and a headline as of the range's last day: MRR,
    ARR, and the movements of the `days` days before it (their sum is the change in MRR)."""
    url = request.app.state.url
    window = default_range(window, _newest(url), 91)
    frame = store.mrr_daily(window.start, window.end, url)
    try:
        headline = store.headline(window.end, days, url)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    return table(request, records(frame, MRR_COLUMNS), MRR_COLUMNS, name="mrr", format=format, headline=plain(headline))


@router.get("/revenue/plans", dependencies=REVENUE, tags=["revenue"], summary="Subscriptions by plan")
@cached
def plans(
    request: Request,
    as_of: Annotated[date | None, Query(description="YYYY-MM-DD; default: the newest day.")] = None,
    format: FormatQuery = None,
):
    """Per first plan: subscriptions started, paying now, MRR, revenue so far, and the early cancellation rate
    (cancelled within the first two billing periods, of those started at least two periods before)."""
    url = request.app.state.url
    day = as_of or _newest(url)
    frame = store.plans(day, url) if store.has_revenue(url) else None
    return table(request, records(frame, PLAN_COLUMNS), PLAN_COLUMNS, name="plans", format=format, as_of=day)
