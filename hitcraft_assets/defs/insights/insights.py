"""insights/insights: the day's ranked, evidence-backed insights, stored in the insight library."""

from datetime import timedelta

import dagster as dg

from hitcraft_assets import settings
from hitcraft_assets.defs.dbt.assets import model_key
from hitcraft_assets.defs.ml import common
from hitcraft_assets.defs.resources import WarehouseResource

INSIGHTS_KEY = dg.AssetKey(["insights", "insights"])
INSIGHTS_GROUP = "insights"
ML_INPUTS = [
    dg.AssetKey(["ml", "anomaly_flags"]),
    dg.AssetKey(["ml", "metric_trends"]),
    dg.AssetKey(["ml", "churn_scores"]),
    dg.AssetKey(["experiments", "readouts"]),  # experiment results
    dg.AssetKey(["ai", "generation_attribution"]),  # AI regressions and version wins
]
MART_INPUTS = [
    common.DAILY_METRICS,
    common.USER_DAILY_ACTIVITY,
    common.DIM_USERS,
    common.PROMPT_PERFORMANCE,
    model_key("funnel_conversions"),
    model_key("retention_cohorts"),
    model_key("feature_adoption"),
]


class ForecastTarget(dg.Config):
    metric: str  # a daily_metrics metric, e.g. "dau"
    value: float
    direction: str = "above"  # the forecast should stay 'above' or 'below' the value


class InsightSelection(dg.Config):
    """How the day's insights are chosen (launchpad run config)."""

    false_discovery_rate: float = 0.05  # Benjamini-Hochberg across all of a day's candidate tests
    top_n: int = 10  # insights selected per day
    max_per_generator: int = 3  # so one generator cannot fill the list
    forecast_targets: list[ForecastTarget] = []  # targets a forecast crossing is reported against


# Once a day, when every input has been updated since the ingest tick. Eager would start on the first updated input
# (the daily marts come one automation tick before the whole-table marts and the ML assets) and run again for the
# rest: two reports, the first from stale metrics.
ONCE_INPUTS_UPDATED = dg.AutomationCondition.on_cron(settings.ingest_cron(), settings.reporting_timezone())


@dg.asset(
    key=INSIGHTS_KEY,
    deps=[*ML_INPUTS, *MART_INPUTS],
    kinds={"pandas", "postgres"},
    check_specs=[
        dg.AssetCheckSpec("insight_numbers_grounded", asset=INSIGHTS_KEY),
        dg.AssetCheckSpec("insight_generators_ran", asset=INSIGHTS_KEY),
    ],
    **(common.daily_asset_kwargs() | {"group_name": INSIGHTS_GROUP, "automation_condition": ONCE_INPUTS_UPDATED}),
)
def insights(context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: InsightSelection):
    """Candidate insights of every day of the partition window from the marts and ML outputs (metric movements,
    anomalies with root cause, funnel drop-offs, prompt outliers, feature impact on retention, segment and channel
    risks, persona shifts, forecast targets), tested, Benjamini-Hochberg corrected across the day, ranked by
    impact x confidence x novelty and merged with the previous days' (a running insight is not repeated).
    Table insights.insight_library: every candidate of the window's days, selected (with rank, q-value, first seen)
    and rejected (with the reason), with its evidence and recommended actions."""
    import time

    import pandas as pd

    from hitcraft_assets.analytics.insights import generate_insights
    from hitcraft_assets.analytics.insights.text import ungrounded_numbers
    from hitcraft_assets.store import insight_library
    from hitcraft_assets.store.insight_inputs import read_insight_inputs

    days = common.window_days(context)
    url = warehouse.url()
    started = time.monotonic()
    inputs = read_insight_inputs(url, days[0], days[-1])
    previous = insight_library.previous_records(url, days[0])
    targets = {t.metric: (t.value, t.direction) for t in config.forecast_targets}
    frames, errors, ungrounded, candidates = [], {}, [], 0
    result = None
    for number, day in enumerate(days, 1):
        result = generate_insights(
            inputs,
            day,
            previous,
            targets=targets,
            alpha=config.false_discovery_rate,
            top_n=config.top_n,
            max_per_generator=config.max_per_generator,
        )
        frames.append(insight_library.library_frame(result))
        candidates += result.candidates
        errors |= {f"{day} {name}": message for name, message in result.errors.items()}
        ungrounded += [
            f"{day} {r.insight.key}: {', '.join(missing)}"
            for r in result.selected
            if (missing := ungrounded_numbers(r.insight.title + " " + r.insight.statement, r.insight.numbers))
        ]
        # ranking looks back 7 days: carry this day's findings into the next day's history
        horizon = day - timedelta(days=7)
        previous = [p for p in previous if pd.Timestamp(p["as_of"]).date() > horizon]
        previous += result.history_records()
        if number % 10 == 0 or number == len(days):
            context.log.info(f"insights: {number}/{len(days)} days, {candidates} candidates, "
                             f"{time.monotonic() - started:.1f}s")  # fmt: skip

    library = pd.concat(frames, ignore_index=True)
    written = insight_library.store(library, days[0], days[-1], url)
    selected = library[library["status"] == "selected"]
    last = selected[selected["as_of"] == days[-1]]
    for name, message in errors.items():
        context.log.error(f"insight generator failed on {name}: {message}")
    metadata = {
        "dagster/row_count": written,
        "date_range": f"{days[0]}..{days[-1]}",
        "candidates": candidates,
        "selected": len(selected),
        "rejected": int((library["status"] == "rejected").sum()),
        "tests_in_last_day_correction": result.tests,
        f"top_insights_{days[-1]}": dg.MetadataValue.md(_top_markdown(last)),
        "seconds": round(time.monotonic() - started, 1),
    }
    checks = [
        dg.AssetCheckResult(
            check_name="insight_numbers_grounded",
            passed=not ungrounded,
            metadata={"ungrounded": "; ".join(ungrounded[:20]) or "none"},
            description="every number in a selected insight's title and statement is one of its evidence numbers",
        ),
        dg.AssetCheckResult(
            check_name="insight_generators_ran",
            passed=not errors,
            metadata={"errors": "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:10]) or "none"},
            description="every generator ran without error on every day (a failing one leaves the others' insights)",
        ),
    ]
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


def _top_markdown(selected) -> str:
    if selected.empty:
        return "_(no insight selected)_"
    shown = selected.sort_values("rank").assign(
        p=lambda f: f["p_value"].map(lambda v: "" if v is None or v != v else f"{v:.2g}"),
        q=lambda f: f["q_value"].map(lambda v: "" if v is None or v != v else f"{v:.2g}"),
        impact=lambda f: f["impact"].round(0).astype("Int64").astype(str) + " " + f["impact_unit"],
    )
    return common.table_markdown(shown[["rank", "insight_type", "title", "p", "q", "impact", "days_running"]])
