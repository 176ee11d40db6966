"""ml/metric_trends: trend tests, period-over-period changes, change points and 30-day forecasts per metric."""

from datetime import timedelta

import dagster as dg

from hitcraft_assets.defs.ml import common
from hitcraft_assets.defs.resources import WarehouseResource
from hitcraft_assets.store import ml_tables as tables
from hitcraft_assets.store import warehouse as wh

#: The first days of a fresh warehouse have every user "new" and partial trailing windows: trends start after.
WARMUP_DAYS = 14
HISTORY_DAYS = 365
HORIZON_DAYS = 30
#: A range run's metadata is copied to each of its partitions: charts only for short (daily) runs.
CHART_MAX_DAYS = 7


@dg.asset(
    key=["ml", "metric_trends"],
    deps=[common.DAILY_METRICS],
    kinds={"pandas", "statsmodels", "postgres"},
    check_specs=[dg.AssetCheckSpec("forecast_intervals_valid", asset=["ml", "metric_trends"])],
    **common.daily_asset_kwargs(),
)
def metric_trends(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """For each day of the window and each metric of marts.daily_metrics: Mann-Kendall trend (seasonal variant
    when a weekly cycle is present) with Sen's slope over the trailing 28 and 90 days, week-over-week and
    month-over-month changes with 95 % intervals, and change points over 90 days. Forecasts of the key metrics
    30 days ahead with 90 % prediction intervals (ETS) are made as of the window's last day (a range run
    forecasts once, from its newest day), with a rolling-origin backtest in the metadata.
    Tables ml.metric_trends, ml.metric_period_changes, ml.metric_change_points, ml.metric_forecasts."""
    import pandas as pd

    from hitcraft_assets.analytics import metric_catalogue
    from hitcraft_assets.analytics.charts import metric_chart_png
    from hitcraft_assets.analytics.forecast import forecast_metrics
    from hitcraft_assets.analytics.trends import change_points, metric_trends, period_changes
    from hitcraft_assets.store import marts

    days = common.window_days(context)
    url = warehouse.url()
    metrics = marts.daily_metrics(url, days[0] - timedelta(days=HISTORY_DAYS), days[-1])
    if metrics.empty:
        raise dg.Failure(f"marts.daily_metrics has no rows up to {days[-1]}: materialize the dbt models first")
    start = min(metrics["metric_date"]) + timedelta(days=WARMUP_DAYS)
    trend_frames, change_frames, point_frames = [], [], []
    for day in days:
        trend_frames.append(metric_trends(metrics, day, start=start))
        change_frames.append(period_changes(metrics, day, start=start))
        point_frames.append(change_points(metrics, day, start=start))
    trends = pd.concat(trend_frames, ignore_index=True)
    changes = pd.concat(change_frames, ignore_index=True)
    points = pd.concat(point_frames, ignore_index=True)
    where = "as_of between %(first)s and %(last)s"
    window = {"first": days[0], "last": days[-1]}
    for table, frame in (
        (tables.METRIC_TRENDS, trends),
        (tables.METRIC_PERIOD_CHANGES, changes),
        (tables.METRIC_CHANGE_POINTS, points),
    ):
        wh.replace_rows(table, frame.reindex(columns=table.column_names), where=where, params=window, url=url)

    as_of = days[-1]
    # the catalogue's forecast metrics (the report's key metrics and a few more); the trend tests cover every metric
    available = [m for m in metric_catalogue.forecast_metrics() if m in set(metrics["metric"])]
    forecasts, backtest = forecast_metrics(metrics, as_of, names=available, horizon=HORIZON_DAYS, start=start)
    forecast_rows = forecasts.rename(columns={"date": "forecast_date", "lower": "lower_bound", "upper": "upper_bound"})
    forecast_rows["as_of"] = as_of
    forecast_rows["forecast_date"] = pd.to_datetime(forecast_rows["forecast_date"]).dt.date
    wh.replace_rows(
        tables.METRIC_FORECASTS,
        forecast_rows[tables.METRIC_FORECASTS.column_names],
        where="as_of = %(as_of)s",
        params={"as_of": as_of},
        url=url,
    )

    latest = trends[trends["as_of"] == as_of]
    significant = latest[latest["trend"].isin(["increasing", "decreasing"])]
    wow = changes[(changes["as_of"] == as_of) & (changes["comparison"] == "wow")]
    context.log.info(
        f"trends {days[0]}..{days[-1]}: {len(trends)} trend rows, {len(points)} change points, "
        f"{len(forecasts)} forecast rows as of {as_of}"
    )
    metadata = {
        "date_range": f"{days[0]}..{days[-1]}",
        "dagster/row_count": len(trends),
        "significant_trends": dg.MetadataValue.md(
            common.table_markdown(
                significant[["metric", "window_days", "test", "trend", "p_value", "sen_slope_pct_per_week"]]
            )
        ),
        "week_over_week": dg.MetadataValue.md(
            common.table_markdown(wow[["metric", "current", "previous", "rel_change", "ci_low", "ci_high", "p_value"]])
        ),
        "change_points": dg.MetadataValue.md(
            common.table_markdown(
                points[points["as_of"] == as_of][["metric", "change_date", "mean_before", "mean_after", "rel_change"]]
            )
        ),
        "forecast_backtest": dg.MetadataValue.md(
            common.table_markdown(backtest.drop(columns=[c for c in ("transform",) if c in backtest]))
        ),
    }
    if "dau" in available and len(days) <= CHART_MAX_DAYS:
        history = metrics[metrics["metric"] == "dau"].set_index("metric_date")["value"]
        history.index = pd.to_datetime(history.index)
        dau_forecast = forecasts[forecasts["metric"] == "dau"]
        png = metric_chart_png(
            history,
            title=f"DAU and {HORIZON_DAYS}-day forecast as of {as_of}",
            forecast=dau_forecast[["date", "forecast", "lower", "upper"]],
        )
        metadata["dau_forecast_chart"] = dg.MetadataValue.md(common.png_markdown(png, "DAU forecast"))
    bad = forecast_rows[
        (forecast_rows["lower_bound"] > forecast_rows["forecast"] + 1e-9)
        | (forecast_rows["upper_bound"] < forecast_rows["forecast"] - 1e-9)
        | forecast_rows["forecast"].isna()
    ]
    check = dg.AssetCheckResult(
        check_name="forecast_intervals_valid",
        passed=bool(bad.empty),
        metadata={
            "forecast_rows": len(forecast_rows),
            "invalid_rows": len(bad),
            "note": "" if len(forecast_rows) else f"history shorter than the {WARMUP_DAYS}-day warm-up: no forecast",
        },
        description="every forecast day has a value and lower <= forecast <= upper",
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
