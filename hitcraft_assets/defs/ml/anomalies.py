"""ml/anomaly_flags: every daily metric judged against its trailing history, with root causes by segment."""

from datetime import timedelta
from typing import TYPE_CHECKING

import dagster as dg

from hitcraft_assets.defs.ml import common
from hitcraft_assets.defs.resources import WarehouseResource
from hitcraft_assets.store import ml_tables as tables
from hitcraft_assets.store import warehouse as wh

if TYPE_CHECKING:
    import pandas as pd

#: Days read before the first judged day: the detector's history plus the longest warm-up.
HISTORY_DAYS = 56 + 28 + 7


class AnomalySensitivity(dg.Config):
    """Sensitivity of ml/anomaly_flags (launchpad run config; the defaults flag the sample's planted incident and
    nothing else in 60 days). Thresholds are robust z-scores."""

    threshold: float = 4.0  # product-wide metrics
    segment_threshold: float = 5.0  # metric x segment series (about 15x more series, burstier)
    metric_thresholds: dict[str, float] = {}  # per metric, e.g. {"render_failure_rate": 3.5}
    disabled_metrics: list[str] = []  # metrics never flagged
    min_relative_change: float = 0.10  # smaller relative deviations never alarm
    min_denominator: float = 30.0  # a rate on fewer renders/users/sessions never alarms

    def to_config(self, config_cls, rule_cls):
        rules = {m: rule_cls(threshold=t) for m, t in self.metric_thresholds.items()}
        rules.update({m: rule_cls(enabled=False) for m in self.disabled_metrics})
        return config_cls(
            threshold=self.threshold,
            segment_threshold=self.segment_threshold,
            min_rel_change=self.min_relative_change,
            min_denominator=self.min_denominator,
            rules=rules,
        )


@dg.asset(
    key=["ml", "anomaly_flags"],
    deps=[common.DAILY_METRICS, common.DAILY_METRICS_BY_SEGMENT, common.PROMPT_PERFORMANCE],
    kinds={"pandas", "postgres"},
    check_specs=[
        dg.AssetCheckSpec("anomaly_flag_volume", asset=["ml", "anomaly_flags"]),
        dg.AssetCheckSpec("anomaly_intervals_valid", asset=["ml", "anomaly_flags"]),
    ],
    **common.daily_asset_kwargs(),
)
def anomaly_flags(context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: AnomalySensitivity):
    """Each metric of marts.daily_metrics (and each metric × segment of daily_metrics_by_segment) on each day of
    the partition window: expected value and interval from the trailing 8 weeks (same-weekday medians with a
    trend, robust to earlier incidents), severity (robust z), direction and flag; every flagged product-wide
    metric explained by the segments (role, experience, channel, platform, country; prompt for the completion rate)
    that drove it.
    Tables ml.anomaly_flags and ml.anomaly_root_causes, replaced for the window's days."""
    import pandas as pd

    from hitcraft_assets.analytics.anomaly import AnomalyConfig, MetricRule, detect_anomalies
    from hitcraft_assets.analytics.charts import metric_chart_png
    from hitcraft_assets.analytics.root_cause import describe_root_cause, explain_anomalies
    from hitcraft_assets.store import marts

    days = common.window_days(context)
    url = warehouse.url()
    start = days[0] - timedelta(days=HISTORY_DAYS)
    metrics = marts.daily_metrics(url, start, days[-1])
    segments = marts.daily_metrics_by_segment(url, start, days[-1])
    # By prompt (completion rate only): renders started that day, completed at any time later, so the latest
    # days read low and the shares are not comparable with the user segments': stored, never the named cause.
    prompts = marts.prompt_completion_segments(url, start, days[-1])
    sensitivity = config
    config = sensitivity.to_config(AnomalyConfig, MetricRule)

    overall = detect_anomalies(metrics, days=days, config=config)
    if overall.empty or not overall["severity"].notna().any():
        context.log.warning(f"no metric could be judged for {days[0]}..{days[-1]} (no data or too little history)")
    by_segment = detect_anomalies(segments, days=days, config=config)
    flagged = overall[overall["is_anomaly"].astype(bool)]  # astype: an empty result has object dtype
    explanations = explain_anomalies(flagged, segments, config=config)
    overall = _attach_root_causes(overall, explanations, describe_root_cause)
    by_prompt = explain_anomalies(flagged, prompts, config=config)
    explanations = (
        pd.concat([f for f in (explanations, by_prompt) if len(f)], ignore_index=True)
        if (len(explanations) or len(by_prompt))
        else explanations
    )

    flags = pd.concat(
        [overall.assign(segment_type="all", segment_value="all"), by_segment[by_segment["is_anomaly"].astype(bool)]],
        ignore_index=True,
    )
    flags = flags.rename(columns={"lower": "lower_bound", "upper": "upper_bound"})
    where = "metric_date between %(first)s and %(last)s"
    window = {"first": days[0], "last": days[-1]}
    written = wh.replace_rows(
        tables.ANOMALY_FLAGS, flags[tables.ANOMALY_FLAGS.column_names], where=where, params=window, url=url
    )
    wh.replace_rows(
        tables.ANOMALY_ROOT_CAUSES,
        explanations.reindex(columns=tables.ANOMALY_ROOT_CAUSES.column_names),
        where=where,
        params=window,
        url=url,
    )

    flagged = overall[overall["is_anomaly"].astype(bool)].sort_values("severity", key=abs, ascending=False)
    judged = overall["severity"].notna()
    context.log.info(
        f"anomaly flags {days[0]}..{days[-1]}: {len(flagged)} product-wide and "
        f"{int(by_segment['is_anomaly'].sum())} segment flags over {int(judged.sum())} judged metric-days"
    )
    metadata = {
        "dagster/row_count": written,
        "date_range": f"{days[0]}..{days[-1]}",
        "metric_days_judged": int(judged.sum()),
        "flags": len(flagged),
        "segment_flags": int(by_segment["is_anomaly"].astype(bool).sum()),
        "flagged": dg.MetadataValue.md(
            common.table_markdown(
                flagged[["metric_date", "metric", "value", "expected", "severity", "direction", "root_cause"]]
            )
        ),
    }
    if len(flagged) and len(days) <= CHART_MAX_DAYS:  # a range run's metadata is copied to every partition
        top = flagged.iloc[0]
        history = metrics[metrics["metric"] == top["metric"]].set_index("metric_date")["value"]
        history.index = pd.to_datetime(history.index)
        png = metric_chart_png(
            history,
            title=f"{top['metric']}: flagged {top['metric_date']}",
            anomalies=list(flagged[flagged["metric"] == top["metric"]]["metric_date"]),
        )
        metadata["top_flag_chart"] = dg.MetadataValue.md(common.png_markdown(png, str(top["metric"])))
    yield dg.MaterializeResult(metadata=metadata, check_results=_checks(overall, days))


def _attach_root_causes(overall: "pd.DataFrame", explanations: "pd.DataFrame", describe) -> "pd.DataFrame":
    overall = overall.copy()
    overall["root_cause"] = None
    overall["root_cause_segment_type"] = None
    overall["root_cause_segment_value"] = None
    if explanations.empty:
        return overall
    for (day, metric), rows in explanations.groupby(["metric_date", "metric"], sort=False):
        summary = describe(rows)
        at = (overall["metric_date"] == day) & (overall["metric"] == metric)
        overall.loc[at, "root_cause"] = summary["overall"]
        if summary["overall_segment"]:
            overall.loc[at, "root_cause_segment_type"] = summary["overall_segment"][0]
            overall.loc[at, "root_cause_segment_value"] = summary["overall_segment"][1]
    return overall


CHART_MAX_DAYS = 7
#: More product-wide flags than this share of judged metric-days means the sensitivity is wrong, not the product.
MAX_FLAG_SHARE = 0.05


def _checks(overall: "pd.DataFrame", days) -> list[dg.AssetCheckResult]:
    judged = overall[overall["severity"].notna()]
    share = float(judged["is_anomaly"].mean()) if len(judged) else 0.0
    judged_bounds = judged.dropna(subset=["expected", "lower", "upper"])
    bad = judged_bounds[
        (judged_bounds["lower"] > judged_bounds["expected"] + 1e-9)
        | (judged_bounds["upper"] < judged_bounds["expected"] - 1e-9)
    ]
    return [
        dg.AssetCheckResult(
            check_name="anomaly_flag_volume",
            passed=bool(share <= MAX_FLAG_SHARE),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"flag_share": share, "max_share": MAX_FLAG_SHARE, "judged": len(judged), "days": len(days)},
            description="share of judged product-wide metric-days flagged stays small",
        ),
        dg.AssetCheckResult(
            check_name="anomaly_intervals_valid",
            passed=bool(bad.empty),
            metadata={"invalid_rows": len(bad)},
            description="every judged day has lower <= expected <= upper",
        ),
    ]
