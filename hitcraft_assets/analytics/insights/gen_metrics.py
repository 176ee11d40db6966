"""Generator 1: metric movements. Significant trends and week-over-week / month-over-month changes of the daily
metrics (from ml.metric_trends and ml.metric_period_changes), and the day's anomalies with their root cause
(ml.anomaly_flags, ml.anomaly_root_causes)."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import stats

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.insights import text
from hitcraft_assets.analytics.insights.base import build_insight, day_series, is_empty, label, require
from hitcraft_assets.analytics.insights.model import Insight, Recommendation
from hitcraft_assets.analytics.insights.stats import clamp_p
from hitcraft_assets.analytics.metric_catalogue import metric_label, metric_name, metric_unit

# What the counts of each metric count, in insight texts (the catalogue's unit; counted things read as counts).
COUNTED_UNITS = ("users", "sessions", "productions", "uploads")


def metric_value(metric: str, value: float) -> str:
    """A metric value in its natural format: percentages for proportions, counts for whole-number metrics."""
    if metric_catalogue.is_proportion(metric):
        return text.pct(value)
    if metric_unit(metric, "") in COUNTED_UNITS:
        return text.count(value) if abs(value) >= 100 else text.num(value, 1)
    return text.num(value, 2)


def is_good_change(metric: str, change: float) -> bool:
    """True when a change of this sign is good news for the metric."""
    return (change > 0) if metric_catalogue.higher_is_better(metric) else (change < 0)


def anomaly_insights(flags: pd.DataFrame, root_causes: pd.DataFrame | None, as_of: date) -> list[Insight]:
    """One 'anomaly' insight per anomaly of day `as_of` and root cause.

    Inputs: ml.anomaly_flags (metric_date, metric, segment_type, segment_value, value, expected, severity,
    direction, is_anomaly, kind, denominator, root_cause_segment_type, root_cause_segment_value; segment_type 'all'
    for the total); ml.anomaly_root_causes (metric_date, metric, segment_type, segment_value, value, expected,
    contribution_share, size, z, p_value, significant), optional.
    Flagged total metrics that share a root-cause segment are one insight, titled by the most severe metric (key
    'anomaly:<metric>'); flagged segment rows of a metric whose total is not flagged are their own insight (key
    'anomaly:<metric>:<segment_type>=<value>') unless the segment is the root cause of a flagged total that day.
    Test: the detector's z-score (severity) as a two-sided normal p-value; effect = value - expected with the
    interval effect +- 1.96 z-units. Impact: |effect| x denominator (e.g. extra failed renders) for proportions,
    |effect| for counts, on that day.
    """
    if is_empty(flags):
        return []
    require(flags, ["metric_date", "metric", "segment_type", "segment_value", "value", "expected", "severity"], "flags")
    frame = flags.assign(metric_date=day_series(flags["metric_date"]))
    frame = frame[(frame["metric_date"] == pd.Timestamp(as_of)) & _flagged(frame["is_anomaly"])]
    if frame.empty:
        return []
    totals = frame[frame["segment_type"] == "all"].copy()
    causes = totals[["root_cause_segment_type", "root_cause_segment_value"]].astype(object)
    totals["cause"] = [None if pd.isna(t) else (str(t), str(v)) for t, v in causes.itertuples(index=False)]
    explained = {c for c in totals["cause"] if c is not None}
    segment_flags = frame[frame["segment_type"] != "all"]
    insights = []
    for cause in dict.fromkeys(totals["cause"]):
        group = totals[totals["cause"].map(lambda c, cause=cause: c == cause)]
        group = group.reindex(group["severity"].abs().sort_values(ascending=False).index)
        also = segment_flags.iloc[0:0]
        if cause is not None:
            same = (
                (segment_flags["segment_type"].astype(str) == cause[0])
                & (segment_flags["segment_value"].astype(str) == cause[1])
                & ~segment_flags["metric"].isin(group["metric"])
            )
            also = segment_flags[same]
        insights.append(_anomaly(group.iloc[0], group.iloc[1:], also, cause, root_causes, as_of))
    flagged_totals = set(totals["metric"])
    for _, row in frame[frame["segment_type"] != "all"].iterrows():
        seg = (str(row["segment_type"]), str(row["segment_value"]))
        if row["metric"] not in flagged_totals and seg not in explained:
            insights.append(_anomaly(row, frame.iloc[0:0], frame.iloc[0:0], None, None, as_of))
    return insights


def _flagged(values: pd.Series) -> pd.Series:
    # booleans from the warehouse, or 'True'/'False' strings from a CSV with missing values
    return values.astype(str).str.lower().isin(["true", "1", "1.0"])


def _anomaly(primary, others, also, cause, root_causes, as_of: date) -> Insight:
    metric = primary["metric"]
    is_total = primary["segment_type"] == "all"
    effect = float(primary["value"] - primary["expected"])
    z = float(primary["severity"])
    sigma = abs(effect / z) if z else math.nan
    kind = primary.get("kind", "count")
    n = float(primary["denominator"]) if pd.notna(primary.get("denominator")) else float("nan")
    unit = metric_unit(metric, "cases") if kind in ("proportion", "ratio") else metric_unit(metric, "units")
    impact = abs(effect) * n if kind == "proportion" and n == n else abs(effect)
    name = metric_name(metric)
    subject = name if is_total else f"{name} for {label(primary['segment_type'], primary['segment_value'])}"
    word = "up" if effect > 0 else "down"
    numbers = {"value": primary["value"], "expected": primary["expected"], "z": z}
    sentence = (
        f"On {as_of}, {subject} was {metric_value(metric, primary['value'])} against "
        f"{metric_value(metric, primary['expected'])} expected from its trailing history (z = {text.num(z, 1)}"
    )
    if n == n:
        numbers["denominator"] = n
        sentence += f", {text.count(n)} {unit}"
    sentence += ")."
    for i, (_, other) in enumerate(others.iterrows(), start=1):
        numbers |= {f"other{i}_value": other["value"], f"other{i}_expected": other["expected"]}
        sentence += (
            f" {other['metric']} moved with it: {metric_value(other['metric'], other['value'])} vs "
            f"{metric_value(other['metric'], other['expected'])} expected."
        )
    cause_row = _cause_row(root_causes, as_of, metric, cause)
    if cause_row is not None:
        numbers |= {
            "cause_share": cause_row["contribution_share"],
            "cause_value": cause_row["value"],
            "cause_expected": cause_row["expected"],
            "cause_size": cause_row["size"],
        }
        sentence += (
            f" Root cause: {label(*cause)} explains {text.pct(cause_row['contribution_share'], 0)} of the change "
            f"({metric_value(metric, cause_row['value'])} vs {metric_value(metric, cause_row['expected'])} expected "
            f"on {text.count(cause_row['size'])} {unit})."
        )
    elif cause is not None:
        sentence += f" Root cause: {label(*cause)}."
    elif is_total:
        sentence += " No single segment explains it; the change is spread across segments."
    for i, (_, seg) in enumerate(also.iterrows(), start=1):
        numbers |= {f"segment{i}_value": seg["value"], f"segment{i}_expected": seg["expected"]}
        sentence += (
            f" In that segment {metric_name(seg['metric'])} was also off: "
            f"{metric_value(seg['metric'], seg['value'])} vs "
            f"{metric_value(seg['metric'], seg['expected'])} expected."
        )
    p_value = clamp_p(float(2 * stats.norm.sf(abs(z))))
    numbers |= {"p_value": p_value}
    sentence += f" Anomaly test: detector z-score, {text.p_text(p_value)}."
    where = f" for {label(*cause)}" if cause else ""
    recs = [
        Recommendation(
            kind="investigate",
            action=f"Investigate {name}{where} on {as_of}: releases, provider status and error logs of that day.",
        )
    ]
    if not is_good_change(metric, effect):
        recs.append(
            Recommendation(
                kind="campaign",
                action=f"Reach out to the affected users{where} once fixed, with a prompt to retry what failed.",
            )
        )
    segment = cause if cause else ((primary["segment_type"], primary["segment_value"]) if not is_total else None)
    key = f"anomaly:{metric}" if is_total else f"anomaly:{metric}:{primary['segment_type']}={primary['segment_value']}"
    value, expected = metric_value(metric, primary["value"]), metric_value(metric, primary["expected"])
    title = f"{metric_label(metric)} {word}: {value} vs {expected}"
    return build_insight(
        key=key,
        insight_type="anomaly",
        generator="anomaly_insights",
        as_of=as_of,
        title=title + (f", root cause {label(*cause)}" if cause else ""),
        statement=sentence,
        metric=metric,
        segment_type=segment[0] if segment else None,
        segment_value=segment[1] if segment else None,
        window_start=as_of,
        window_end=as_of,
        baseline_start=None,
        baseline_end=as_of - timedelta(days=1),
        sample_size=n if n == n else abs(float(primary["value"])),
        sample_unit=unit,
        test="anomaly z-score vs trailing seasonal baseline (two-sided normal)",
        p_value=p_value,
        effect=effect,
        effect_relative=effect / primary["expected"] if primary["expected"] else None,
        ci_low=effect - 1.96 * sigma,
        ci_high=effect + 1.96 * sigma,
        impact=float(impact),
        impact_unit=unit,
        numbers=numbers,
        recommendations=tuple(recs),
    )


def _cause_row(root_causes, as_of: date, metric: str, cause) -> pd.Series | None:
    if cause is None or is_empty(root_causes):
        return None
    rc = root_causes.assign(metric_date=day_series(root_causes["metric_date"]))
    hit = rc[
        (rc["metric_date"] == pd.Timestamp(as_of))
        & (rc["metric"] == metric)
        & (rc["segment_type"].astype(str) == cause[0])
        & (rc["segment_value"].astype(str) == cause[1])
    ]
    return None if hit.empty else hit.iloc[0]


def metric_movement_insights(
    trends: pd.DataFrame | None,
    period_changes: pd.DataFrame | None,
    daily_metrics: pd.DataFrame | None,
    as_of: date,
    trend_window_days: int = 28,
) -> list[Insight]:
    """One 'trend' insight per metric with a tested trend or period change as of `as_of` (key 'trend:<metric>').

    Inputs: ml.metric_trends (as_of, metric, window_days, window_start, n_days, test, trend, p_value,
    sen_slope_per_day, sen_slope_pct_per_week, window_mean); ml.metric_period_changes (as_of, metric, comparison
    'wow'|'mom', kind, current, previous, rel_change, ci_low, ci_high (relative), p_value, test, n_current);
    marts.daily_metrics (metric_date, metric, denominator) for the impact of rates. Rows of other as_of dates are
    ignored. Evidence: the Mann-Kendall test over `trend_window_days` and the wow / mom tests; the insight's p-value
    is the smallest of them times their number (Bonferroni), so a metric gets one candidate, not three.
    Impact: weekly change of the metric (Sen slope x 7, else the period change) times its mean daily denominator
    for rates (e.g. renders), as is for counts.
    """
    rows: dict[str, dict] = {}
    if not is_empty(trends):
        t = trends[(day_series(trends["as_of"]) == pd.Timestamp(as_of)) & (trends["window_days"] == trend_window_days)]
        for _, r in t[t["p_value"].notna()].iterrows():
            rows.setdefault(r["metric"], {})["trend"] = _clamped(r)
    if not is_empty(period_changes):
        c = period_changes[day_series(period_changes["as_of"]) == pd.Timestamp(as_of)]
        for _, r in c[c["p_value"].notna()].iterrows():
            rows.setdefault(r["metric"], {})[r["comparison"]] = _clamped(r)
    denominators = _mean_denominators(daily_metrics, as_of)
    insights = []
    for metric, tests in sorted(rows.items()):
        insight = _movement(metric, tests, denominators.get(metric), as_of, trend_window_days)
        if insight is not None:
            insights.append(insight)
    return insights


def _clamped(row: pd.Series) -> pd.Series:
    row = row.copy()
    row["p_value"] = clamp_p(float(row["p_value"]))
    return row


def _mean_denominators(daily_metrics, as_of: date) -> dict[str, float]:
    if is_empty(daily_metrics):
        return {}
    dm = daily_metrics.assign(metric_date=day_series(daily_metrics["metric_date"]))
    last = dm[
        (dm["metric_date"] <= pd.Timestamp(as_of)) & (dm["metric_date"] > pd.Timestamp(as_of) - pd.Timedelta(days=7))
    ]
    return last.groupby("metric")["denominator"].mean().dropna().to_dict()


def _movement(metric: str, tests: dict, denominator: float | None, as_of: date, window: int) -> Insight | None:
    trend = tests.get("trend")
    if trend is not None and not trend["sen_slope_per_day"]:
        trend = None  # a "trend" with a zero Sen slope (ties, e.g. medians of whole days) has no size
    spans = {"trend": window, "wow": 7, "mom": 28}
    present = {name: row for name, row in (("trend", trend), ("wow", tests.get("wow")), ("mom", tests.get("mom")))
               if row is not None}  # fmt: skip
    if not present:
        return None
    lead = min(present, key=lambda name: float(present[name]["p_value"]))
    p_value = min(1.0, float(present[lead]["p_value"]) * len(present))
    window_days = spans[lead]
    numbers: dict[str, float] = {"p_value": p_value, "tests": len(present), "window_days": window_days}
    proportion = metric_catalogue.is_proportion(metric)
    parts = []
    if trend is not None:
        slope = float(trend["sen_slope_per_day"])
        numbers |= {"slope_per_week": slope * 7, "trend_p": trend["p_value"], "trend_days": window}
        slope_text = text.pp(slope * 7, 2) if proportion else text.signed(slope * 7, 2 if abs(slope) < 1 else 1)
        parts.append(
            f"{metric_label(metric)} is {trend['trend']} over the last {window} days (Sen slope {slope_text} per week; "
            f"{_test_name(trend['test'])}, {text.p_text(trend['p_value'])})."
        )
    for name in ("wow", "mom"):
        row = present.get(name)
        if row is None:
            continue
        span = spans[name]
        numbers |= {
            f"{name}_current": row["current"],
            f"{name}_previous": row["previous"],
            f"{name}_rel": row["rel_change"],
            f"{name}_p": row["p_value"],
            f"{name}_days": span,
        }
        interval = ""
        if pd.notna(row.get("ci_low")) and pd.notna(row.get("ci_high")):
            numbers |= {f"{name}_ci_low": row["ci_low"], f"{name}_ci_high": row["ci_high"], "ci_level": 0.95}
            interval = f", 95% CI {text.signed_pct(row['ci_low'], 1)} to {text.signed_pct(row['ci_high'], 1)}"
        parts.append(
            f"Last {span} days vs the {span} before: {metric_value(metric, row['current'])} vs "
            f"{metric_value(metric, row['previous'])} ({text.signed_pct(row['rel_change'], 1)}{interval}; "
            f"{_test_name(row['test'])}, {text.p_text(row['p_value'])})."
        )
    if len(present) > 1:
        parts.append(f"Combined evidence (smallest p x {len(present)} tests, Bonferroni): {text.p_text(p_value)}.")
    row = present[lead]
    if lead == "trend":
        weekly_change = float(row["sen_slope_per_day"]) * 7
        pct_week = row.get("sen_slope_pct_per_week")
        relative = float(pct_week) / 100 if pct_week is not None and pd.notna(pct_week) else None
        n, sample_unit = float(row["n_days"]), "days"
    else:
        weekly_change = float(row["current"] - row["previous"]) * 7 / spans[lead]
        relative = float(row["rel_change"]) if pd.notna(row.get("rel_change")) else None
        n = float(row["n_current"]) if pd.notna(row.get("n_current")) else 0.0
        sample_unit = "days" if row.get("kind") in ("count", "median", "ratio") else metric_unit(metric, "cases")
    if not np.isfinite(weekly_change):
        return None
    good = is_good_change(metric, weekly_change)
    scale = denominator if (denominator and proportion) else 1.0
    direction = "rising" if weekly_change > 0 else "falling"
    title = (
        f"{metric_label(metric)} {direction} over the last {window_days} days"
        if lead == "trend"
        else f"{metric_label(metric)} {text.signed_pct(row['rel_change'], 1)}: last {window_days} days vs the "
        f"{window_days} before"
    )
    recs = (
        Recommendation(
            kind="investigate",
            action=f"Break {metric_name(metric)} down by segment to find where the "
            f"{'gain' if good else 'decline'} comes from.",
        ),
    )
    return build_insight(
        key=f"trend:{metric}",
        insight_type="trend",
        generator="metric_movement_insights",
        as_of=as_of,
        title=title,
        statement=" ".join(parts),
        metric=metric,
        segment_type=None,
        segment_value=None,
        window_start=as_of - timedelta(days=window_days - 1),
        window_end=as_of,
        baseline_start=None if lead == "trend" else as_of - timedelta(days=2 * window_days - 1),
        baseline_end=None if lead == "trend" else as_of - timedelta(days=window_days),
        sample_size=n,
        sample_unit=sample_unit,
        test=f"{_test_name(row['test'])} (lead of {len(present)} tests, Bonferroni)",
        p_value=p_value,
        effect=weekly_change,
        effect_relative=relative,
        ci_low=None,
        ci_high=None,
        impact=float(abs(weekly_change) * scale),
        impact_unit=metric_unit(metric, "units"),
        numbers=numbers,
        recommendations=recs,
    )


def _test_name(name: str) -> str:
    # upstream test names carry parameters in parentheses ("phi=8.18"); quoting them would add ungrounded numbers
    return re.sub(r"\s*\([^)]*\d[^)]*\)", "", str(name))
