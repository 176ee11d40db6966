"""revenue/attribution: paid conversions and their revenue credited to channels and campaigns under six models."""

import dagster as dg

from hitcraft_assets.defs.dbt.assets import model_key
from hitcraft_assets.defs.resources import WarehouseResource
from hitcraft_assets.store import revenue as store

TOUCHPOINTS = model_key("marketing_touchpoints")
ATTRIBUTION_KEY = dg.AssetKey(["revenue", "attribution"])
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
