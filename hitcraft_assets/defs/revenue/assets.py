"""revenue/attribution: paid conversions and their revenue credited to channels and campaigns under six models;
revenue/mrr_forecast: MRR 30 days ahead with intervals and a rolling-origin backtest against seasonal naive."""

from datetime import timedelta

import dagster as dg

from hitcraft_assets.defs.dbt.assets import model_key
from hitcraft_assets.defs.resources import WarehouseResource
from hitcraft_assets.store import revenue as store

TOUCHPOINTS = model_key("marketing_touchpoints")
MRR_DAILY = model_key("mrr_daily")
ATTRIBUTION_KEY = dg.AssetKey(["revenue", "attribution"])
FORECAST_KEY = dg.AssetKey(["revenue", "mrr_forecast"])
FORECAST_DAYS = 30
MIN_HISTORY_DAYS = 28
LOOKBACK_DAYS = 30  # touches up to this many days before a conversion count
HALF_LIFE_DAYS = 7.0  # time decay


@dg.asset(
    key=ATTRIBUTION_KEY,
    deps=[TOUCHPOINTS],
    kinds={"pandas", "postgres"},
    group_name="revenue",
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[
        dg.AssetCheckSpec(
            "credits_sum_to_conversions",
            asset=ATTRIBUTION_KEY,
            description="every model hands out each converting path's conversion and revenue exactly once",
        )
    ],
)
def attribution(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Conversion paths from marts.marketing_touchpoints (touches up to a user's first Subscription Started, within
    30 days; non-converting users' last 30 days of touches), credited per utm_source and per utm_campaign under
    first touch, last touch, linear, time decay (half-life 7 days), position based (40/20/40) and the data-driven
    Markov removal effect, side by side with each key's disagreement (spread of its share across models). Table
    revenue.attribution, replaced for the newest touch day."""
    import pandas as pd

    from hitcraft_assets.analytics.attribution import build_paths, compare
    from hitcraft_assets.store import warehouse as wh

    url = warehouse.url()
    touches = store.touchpoints(url)
    if touches.empty:
        context.log.warning("no marketing touch loaded: nothing to attribute")
        return dg.MaterializeResult(
            metadata={"paths": 0},
            check_results=[dg.AssetCheckResult(check_name="credits_sum_to_conversions", passed=True)],
        )
    as_of = pd.to_datetime(touches["touch_time"]).max().date()
    frames, problems, counts = [], [], {}
    for level in ("source", "campaign"):
        paths = build_paths(touches, level, LOOKBACK_DAYS)
        converting = [p for p in paths if p.converted]
        table = compare(paths, HALF_LIFE_DAYS)
        for model, credits in table.groupby("model"):
            n, money = credits["conversions"].sum(), credits["revenue"].sum()
            want = sum(p.revenue for p in converting)
            if abs(n - len(converting)) > 1e-6 or abs(money - want) > 1e-6 * max(1.0, want):
                problems.append(
                    f"{level}/{model}: {n:.6f} conversions for {len(converting)}, {money:.2f} for {want:.2f}"
                )
        counts[level] = (len(paths), len(converting))
        frames.append(table.assign(as_of=as_of, level=level, lookback_days=LOOKBACK_DAYS))
    result = pd.concat(frames, ignore_index=True)[store.ATTRIBUTION.column_names]
    written = wh.replace_rows(store.ATTRIBUTION, result, where="as_of = %(d)s", params={"d": as_of}, url=url)
    by_source = result[result["level"] == "source"].pivot(index="key", columns="model", values="conversions")
    context.log.info(f"attribution as of {as_of}: {counts['source'][1]} conversions of {counts['source'][0]} paths")
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of),
            "rows": written,
            "paths": counts["source"][0],
            "converting_paths": counts["source"][1],
            "credits_by_source": dg.MetadataValue.md(by_source.round(2).to_markdown()),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="credits_sum_to_conversions",
                passed=not problems,
                metadata={"problems": "; ".join(problems) or "none"},
            )
        ],
    )


@dg.asset(
    key=FORECAST_KEY,
    deps=[MRR_DAILY],
    kinds={"statsmodels", "postgres"},
    group_name="revenue",
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[
        dg.AssetCheckSpec(
            "forecast_beats_seasonal_naive",
            asset=FORECAST_KEY,
            description="the backtest's MAPE is no worse than the seasonal naive forecast's on the same days",
        )
    ],
)
def mrr_forecast(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """MRR for the next 30 days with a 90 % prediction interval (the platform's metric forecaster: statsmodels ETS
    with a damped trend, weekly seasonality when the series has one, on the raw scale, clipped at 0), and a
    rolling-origin backtest (4 non-overlapping 7-day forecasts ending at the last day): MAPE, sMAPE, MASE, interval
    coverage, and the seasonal naive forecast's MAPE on the same days. Tables revenue.mrr_forecast and
    revenue.mrr_forecast_backtest, replaced for the newest MRR day. Needs 28 days of MRR; fewer: a warning and no
    forecast."""
    import pandas as pd

    from hitcraft_assets.analytics.forecast import forecast_metric
    from hitcraft_assets.store import warehouse as wh

    url = warehouse.url()
    newest = store.newest_day(url) if store.has_revenue(url) else None
    frame = store.mrr_daily(newest - timedelta(days=730), newest, url) if newest else None
    if frame is None or len(frame) < MIN_HISTORY_DAYS:
        reason = f"{0 if frame is None else len(frame)} days of MRR, {MIN_HISTORY_DAYS} needed"
        context.log.warning(f"no MRR forecast: {reason}")
        return dg.MaterializeResult(
            metadata={"days": 0 if frame is None else len(frame)},
            check_results=[
                dg.AssetCheckResult(
                    check_name="forecast_beats_seasonal_naive",
                    passed=True,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"skipped": reason},
                )
            ],
        )
    series = pd.Series(frame["mrr"].to_numpy(float), index=pd.to_datetime(frame["metric_date"]))
    # on the raw scale: MRR is a smooth level, and on log1p the ramp of a young history (MRR from a few paid periods
    # to thousands) blew the interval up to 20x the level (measured on the demo); MRR is never below 0
    result = forecast_metric(series, horizon=FORECAST_DAYS, level=0.9, bounds="none")
    for column in ("forecast", "lower", "upper"):
        result.frame[column] = result.frame[column].clip(lower=0.0)
    rows = result.frame.assign(
        as_of=newest, forecast_date=result.frame["date"].dt.date, level=result.level, model=result.model
    )[store.MRR_FORECAST.column_names]
    where, params = "as_of = %(d)s", {"d": newest}
    wh.replace_rows(store.MRR_FORECAST, rows, where=where, params=params, url=url)
    bt = {"as_of": newest, "model": result.model, "n_days": len(series), **result.backtest}
    wh.replace_rows(
        store.MRR_BACKTEST, pd.DataFrame([bt])[store.MRR_BACKTEST.column_names], where=where, params=params, url=url
    )
    mape, naive = result.backtest.get("mape_pct"), result.backtest.get("naive_mape_pct")
    known = mape == mape and naive == naive  # NaN when no backtest origin fits the history
    end = rows.iloc[-1]
    context.log.info(f"MRR forecast from {newest}: {end['forecast']:.2f} on {end['forecast_date']} ({result.model})")
    return dg.MaterializeResult(
        metadata={
            "as_of": str(newest),
            "model": result.model,
            "mrr_now": float(series.iloc[-1]),
            f"mrr_in_{FORECAST_DAYS}_days": float(end["forecast"]),
            "interval": f"{end['lower']:.2f} .. {end['upper']:.2f} (90 %)",
            **{k: float(v) for k, v in result.backtest.items() if v == v},
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="forecast_beats_seasonal_naive",
                passed=bool(not known or mape <= naive),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"mape_pct": mape if known else "n/a", "naive_mape_pct": naive if known else "n/a"},
            )
        ],
    )
