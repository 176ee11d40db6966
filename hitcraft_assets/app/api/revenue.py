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


ATTRIBUTION_COLUMNS = ("model", "key", "conversions", "revenue", "share", "disagreement")


@router.get("/revenue/attribution", dependencies=REVENUE, tags=["revenue"], summary="Multi-touch attribution")
@cached
def attribution(
    request: Request,
    level: Annotated[str, Query(description="source (utm_source) or campaign (utm_campaign).")] = "source",
    model: Annotated[str | None, Query(description="One model; default all six.")] = None,
    format: FormatQuery = None,
):
    """Paid conversions and their revenue credited per channel or campaign under first touch, last touch, linear,
    time decay, position based and the data-driven Markov removal effect (revenue/attribution), with each key's
    disagreement: the spread of its share of conversions across the models."""
    from hitcraft_assets.analytics.attribution import MODELS
    from hitcraft_assets.app.api.common import invalid

    if level not in ("source", "campaign"):
        raise invalid("level", "level must be source or campaign")
    if model is not None and model not in MODELS:
        raise invalid("model", f"model must be one of {', '.join(MODELS)}")
    url = request.app.state.url
    frame = store.attribution(level, url) if store.has_attribution(url) else None
    if frame is not None and model:
        frame = frame[frame["model"] == model]
    as_of = frame["as_of"].iloc[0] if frame is not None and len(frame) else None
    return table(
        request,
        records(frame, ATTRIBUTION_COLUMNS),
        ATTRIBUTION_COLUMNS,
        name="attribution",
        format=format,
        as_of=as_of,
        level=level,
    )


CURVE_COLUMNS = (
    "channel",
    "days",
    "mean_spend",
    "b",
    "b_low",
    "b_high",
    "value_per_signup",
    "roi",
    "roi_low",
    "roi_high",
    "marginal_roi",
    "marginal_roi_low",
    "marginal_roi_high",
)
ALLOCATION_COLUMNS = (
    "channel",
    "current_spend",
    "current_revenue",
    "proposed_spend",
    "proposed_revenue",
    "proposed_revenue_low",
    "proposed_revenue_high",
    "min_spend",
    "max_spend",
)
ASSUMPTIONS = (
    "daily signups of a channel = a * spend^b (log-log least squares on days with spend and signups); a signup is "
    "worth its channel's subscription revenue per signup so far; intervals: 95 % bootstrap over days; bounds "
    "default to 0..3x a channel's mean spend; observational curves: test a reallocation before trusting it"
)


def _bounds(values: list[str], field: str) -> dict[str, float]:
    from hitcraft_assets.analytics.budget import parse_bounds
    from hitcraft_assets.app.api.common import invalid

    try:
        return parse_bounds(values)
    except ValueError as exc:
        raise invalid(field, f"{field}: {exc}") from None


@router.get("/revenue/budget", dependencies=REVENUE, tags=["revenue"], summary="Response curves and reallocation")
@cached
def budget(
    request: Request,
    days: Annotated[int, Query(ge=14, le=730, description="Days of spend and signups the curves are fitted on.")] = 56,
    total: Annotated[float | None, Query(ge=0, description="Daily budget (default: today's total).")] = None,
    min: Annotated[list[str], Query(description="CHANNEL:AMOUNT, least daily spend (repeatable).")] = [],  # noqa: A002, B006
    max: Annotated[list[str], Query(description="CHANNEL:AMOUNT, most daily spend (repeatable).")] = [],  # noqa: A002, B006
    format: FormatQuery = None,
):
    """Per paid channel the response curve of daily signups to spend (elasticity b with its interval), ROI and
    marginal ROI (95 % bootstrap intervals), and the allocation of `total` per day that maximises predicted revenue
    under the bounds, next to today's mix scaled to the same total; `assumptions` says what the numbers rest on."""
    from datetime import timedelta

    from hitcraft_assets.analytics import budget as model
    from hitcraft_assets.app.api.common import invalid

    url = request.app.state.url
    end = _newest(url)
    daily, value = store.budget_inputs(end - timedelta(days=days - 1), end, url)
    curves = model.fit_curves(daily, value) if len(daily) else []
    allocation = None
    if curves:
        try:
            plan = model.optimise(
                curves,
                total if total is not None else sum(c.mean_spend for c in curves),
                _bounds(min, "min"),
                _bounds(max, "max"),
            )
        except ValueError as exc:
            raise invalid("total", str(exc)) from None
        allocation = records(plan, ALLOCATION_COLUMNS)
    rows = [{k: plain(getattr(c, k)) for k in CURVE_COLUMNS} for c in curves]
    return table(
        request,
        rows,
        CURVE_COLUMNS,
        name="budget",
        format=format,
        as_of=end,
        days=days,
        assumptions=ASSUMPTIONS,
        allocation=allocation,
    )


FORECAST_COLUMNS = ("forecast_date", "forecast", "lower", "upper")


@router.get("/revenue/forecast", dependencies=REVENUE, tags=["revenue"], summary="MRR forecast with intervals")
@cached
def forecast(request: Request, format: FormatQuery = None):
    """MRR for the next 30 days with a 90 % interval (revenue/mrr_forecast) and its rolling-origin backtest (MAPE,
    sMAPE, MASE, coverage, and the seasonal naive forecast's MAPE on the same days)."""
    frame, backtest = store.mrr_forecast(request.app.state.url)
    model = frame["model"].iloc[0] if frame is not None and len(frame) else None
    as_of = frame["as_of"].iloc[0] if frame is not None and len(frame) else None
    return table(
        request,
        records(frame, FORECAST_COLUMNS),
        FORECAST_COLUMNS,
        name="mrr-forecast",
        format=format,
        as_of=as_of,
        model=model,
        backtest=plain(backtest) if backtest else None,
    )
