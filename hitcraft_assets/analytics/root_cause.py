"""Root cause of a metric's deviation on a day: which segments (daily_metrics_by_segment) explain it.

Within one segment_type the segments partition the users, so contributions add up:
- count metrics (dau, sessions, productions_completed …): contribution = the segment's value minus its own
  expected value (same baseline as :func:`detect_anomalies`); share = contribution / the sum over the type.
- ratio metrics (numerator / denominator): with today's weights w = n_s / Σn and rates r, and the expected ones
  w0, r0 (expected denominators and rates from the same baseline), the change R - R0 = Σ (w r - w0 r0) splits
  exactly into a rate effect ½(w + w0)(r - r0) and a mix effect (½(r + r0) - R̄)(w - w0), R̄ = ½(R + R0). The
  mix term is measured against the average rate, so a segment that merely grows only matters if its rate differs.

Evidence per segment: its own value vs. expected, size (denominator, or expected count) and size_share, and a
test of the segment on its own — for proportions a two-proportion z-test of the day's (numerator, denominator)
against the pooled trailing history, otherwise the detector's severity. Segments are ranked within each type by
share, significant ones first, so a tiny segment with a large but noisy swing cannot outrank the real cause; the
overall explanation is the significant segment whose share most exceeds its size share (a cause concentrated in
one segment, not a change spread proportionally over all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.anomaly import AnomalyConfig, detect_anomalies, infer_kind

EXPLANATION_COLUMNS = [
    "metric_date", "metric", "segment_type", "segment_value", "value", "expected", "contribution",
    "contribution_share", "rank", "kind", "size", "expected_size", "size_share", "excess_share", "rate_effect",
    "mix_effect", "total_change", "baseline_rate", "z", "p_value", "significant",
]  # fmt: skip


def _baseline(rows: pd.DataFrame, day: pd.Timestamp, config: AnomalyConfig, kind: str) -> pd.DataFrame:
    """Expected value and severity per segment on ``day`` for one metric's segment series (same baseline as the
    detector, the kind forced so that helper series such as denominators are treated as counts)."""
    metric = rows["metric"].iloc[0]
    rules = {**config.rules, metric: replace(config.rule(metric), kind=kind)}
    judged = detect_anomalies(rows, days=[day.date()], config=replace(config, rules=rules))
    return judged.set_index(["segment_type", "segment_value"])[["value", "expected", "severity"]]


def explain_deviation(
    segments: pd.DataFrame,
    metric: str,
    day: date,
    config: AnomalyConfig | None = None,
    segment_types: Sequence[str] | None = None,
    alpha: float = 0.01,
) -> pd.DataFrame:
    """Contribution of every segment to the deviation of ``metric`` on ``day`` from its expected value.

    ``segments``: the daily_metrics_by_segment shape — metric_date, segment_type, segment_value, metric, value,
    numerator, denominator — with the trailing history before ``day`` (the same history the detector needs).
    ``metric``: a metric of that table; count metrics need value, ratio metrics numerator and denominator.
    ``segment_types``: restrict to these types (default all). ``alpha``: significance level of the per-segment test.
    ``config``: the detector's config (history length, warm-up, kind overrides).

    Returns one row per segment, columns: metric_date, metric, segment_type, segment_value, value (segment's value
    on the day: count or rate), expected (its expected value), contribution (to the total change, in the metric's
    unit), contribution_share (contribution / total_change of its type; sums to 1 within a type), rank (1 = best
    explanation within the type), kind ('count' | 'proportion' | 'ratio'), size (the day's denominator, or the
    count), expected_size, size_share (expected size / type total), excess_share (contribution_share - size_share),
    rate_effect and mix_effect (ratios; NaN for counts), total_change (Σ contributions of the type), baseline_rate
    (pooled rate over the history window; proportions), z and p_value (the segment's own test), significant
    (p_value < alpha). Empty if the metric or day is absent.
    """
    config = config or AnomalyConfig()
    day_ts = pd.Timestamp(day).normalize()
    rows = segments[segments["metric"] == metric].copy()
    if segment_types is not None:
        rows = rows[rows["segment_type"].isin(list(segment_types))]
    rows["metric_date"] = pd.to_datetime(rows["metric_date"]).dt.normalize()
    rows = rows[rows["metric_date"] <= day_ts]
    if rows.empty or not (rows["metric_date"] == day_ts).any():
        return pd.DataFrame(columns=EXPLANATION_COLUMNS)
    kind = _kind(rows, config, metric)
    # One detector pass over every segment series (each series is judged on its own, so this equals a pass per
    # segment type), split by type afterwards.
    if kind == "count":
        baselines = (_baseline(rows[["metric_date", "segment_type", "segment_value", "metric", "value"]], day_ts,
                               config, kind),)  # fmt: skip
    else:
        sizes = rows.assign(
            metric=rows["metric"] + ":denominator", value=rows["denominator"], numerator=np.nan, denominator=np.nan
        )
        baselines = (_baseline(rows, day_ts, config, kind), _baseline(sizes, day_ts, config, "count"))
    frames = []
    for segment_type, typed in rows.groupby("segment_type", sort=True):
        of_type = [b.xs(segment_type, level="segment_type", drop_level=False) for b in baselines]
        frame = (_explain_count if kind == "count" else _explain_ratio)(typed, day_ts, config, kind, *of_type)
        frame["segment_type"] = segment_type
        frames.append(_rank(frame, alpha))
    out = pd.concat(frames, ignore_index=True)
    out["metric_date"] = day_ts.date()
    out["metric"] = metric
    out["kind"] = kind
    return out[EXPLANATION_COLUMNS].sort_values(["segment_type", "rank"], kind="stable").reset_index(drop=True)


def _kind(rows: pd.DataFrame, config: AnomalyConfig, metric: str) -> str:
    kind = (
        config.rule(metric).kind
        or config.kinds.get(metric)
        or infer_kind(rows["numerator"], rows["denominator"], rows["value"])
    )
    if kind == "median":
        raise ValueError(f"explain_deviation: {metric!r} is a median; medians of segments do not add up")
    return kind


def _explain_count(
    typed: pd.DataFrame, day: pd.Timestamp, config: AnomalyConfig, kind: str, base: pd.DataFrame
) -> pd.DataFrame:
    frame = base.reset_index()
    frame["contribution"] = frame["value"] - frame["expected"]
    frame["size"] = frame["value"]
    frame["expected_size"] = frame["expected"]
    frame["rate_effect"] = np.nan
    frame["mix_effect"] = np.nan
    frame["baseline_rate"] = np.nan
    frame["z"] = frame["severity"]
    frame["p_value"] = 2 * stats.norm.sf(np.abs(frame["z"]))
    return frame


def _explain_ratio(
    typed: pd.DataFrame, day: pd.Timestamp, config: AnomalyConfig, kind: str, rate: pd.DataFrame, size: pd.DataFrame
) -> pd.DataFrame:
    keys = ["segment_type", "segment_value"]
    frame = rate.join(size[["value", "expected"]].rename(columns=lambda c: f"{c}_size")).reset_index()

    # The segment's own test: the day's proportion vs. the pooled trailing history (history_days before the day).
    start = day - pd.Timedelta(days=config.history_days)
    history = typed[(typed["metric_date"] >= start) & (typed["metric_date"] < day)]
    pooled = history.groupby(keys)[["numerator", "denominator"]].sum()
    today = typed[typed["metric_date"] == day].set_index(keys)[["numerator", "denominator"]]
    frame = frame.join(pooled.rename(columns=lambda c: f"hist_{c}"), on=keys).join(today, on=keys)
    frame["baseline_rate"] = frame["hist_numerator"] / frame["hist_denominator"].where(frame["hist_denominator"] > 0)

    n, n0 = frame["value_size"].fillna(0.0), frame["expected_size"].clip(lower=0.0).fillna(0.0)
    w = n / n.sum() if n.sum() > 0 else n * 0.0
    w0 = n0 / n0.sum() if n0.sum() > 0 else n0 * 0.0
    # A segment too young for the baseline falls back to its pooled history; no sample today means no information.
    r0 = frame["expected"].fillna(frame["baseline_rate"]).fillna(frame["value"]).fillna(0.0)
    r = frame["value"].where(n > 0, r0).fillna(r0)
    total_now, total_expected = float((w * r).sum()), float((w0 * r0).sum())
    average = (total_now + total_expected) / 2
    frame["rate_effect"] = 0.5 * (w + w0) * (r - r0)
    frame["mix_effect"] = (0.5 * (r + r0) - average) * (w - w0)
    frame["contribution"] = frame["rate_effect"] + frame["mix_effect"]
    frame["size"] = frame["value_size"]
    if kind == "proportion":
        z, p = zip(*(_two_proportion(*row) for row in frame[["numerator", "denominator", "hist_numerator",
                                                                 "hist_denominator"]].to_numpy()))  # fmt: skip
        frame["z"], frame["p_value"] = z, p
    else:
        frame["z"] = frame["severity"]
        frame["p_value"] = 2 * stats.norm.sf(np.abs(frame["z"]))
    return frame


def _two_proportion(count: float, nobs: float, count0: float, nobs0: float) -> tuple[float, float]:
    if not (nobs > 0 and nobs0 > 0) or np.isnan([count, count0]).any():
        return np.nan, np.nan
    pooled = (count + count0) / (nobs + nobs0)
    if pooled in (0.0, 1.0):
        return 0.0, 1.0
    z, p = proportions_ztest([count, count0], [nobs, nobs0])
    return float(z), float(p)


def _rank(frame: pd.DataFrame, alpha: float) -> pd.DataFrame:
    total = frame["contribution"].sum(min_count=1)
    frame["total_change"] = total
    frame["contribution_share"] = frame["contribution"] / total if total and np.isfinite(total) else np.nan
    expected_total = frame["expected_size"].clip(lower=0).sum()
    frame["size_share"] = frame["expected_size"].clip(lower=0) / expected_total if expected_total > 0 else np.nan
    frame["excess_share"] = frame["contribution_share"] - frame["size_share"]
    frame["significant"] = (frame["p_value"] < alpha).fillna(False).astype(bool)
    order = frame.assign(_share=frame["contribution_share"].fillna(-np.inf)).sort_values(
        ["significant", "_share"], ascending=[False, False], kind="stable"
    )
    frame.loc[order.index, "rank"] = np.arange(1, len(frame) + 1)
    frame["rank"] = frame["rank"].astype(int)
    return frame


def explain_anomalies(
    flags: pd.DataFrame, segments: pd.DataFrame, config: AnomalyConfig | None = None, alpha: float = 0.01
) -> pd.DataFrame:
    """:func:`explain_deviation` for every flagged row (is_anomaly) of a :func:`detect_anomalies` result whose
    metric exists in ``segments``; the explanations concatenated (same columns). Empty if nothing to explain."""
    wanted = flags[flags["is_anomaly"].astype(bool)][["metric_date", "metric"]].drop_duplicates()  # empty: object dtype
    available = set(segments["metric"].unique())
    frames = [
        explain_deviation(segments, metric, day, config=config, alpha=alpha)
        for day, metric in wanted.itertuples(index=False)
        if metric in available
    ]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EXPLANATION_COLUMNS)


def describe_root_cause(
    explanation: pd.DataFrame, units: Mapping[str, str] | None = None, broad_excess: float = 0.15
) -> dict:
    """Plain-words summary of one :func:`explain_deviation` result (one metric and day).

    Returns {'overall': str, 'overall_segment': (segment_type, segment_value) | None, 'by_segment_type':
    {segment_type: str}}. Per type the rank-1 segment is described; overall, the significant segment whose share
    exceeds its size share the most; if no segment exceeds it by ``broad_excess`` the change is called broad.
    ``units`` names the denominator of a ratio metric (default: the catalogue's denominator_unit, e.g. 'renders').
    """
    if explanation.empty:
        return {"overall": "no segment data for this metric and day", "overall_segment": None, "by_segment_type": {}}
    units = {**metric_catalogue.denominator_units(), **(units or {})}
    by_type = {
        segment_type: _sentence(rows.sort_values("rank").iloc[0], units)
        for segment_type, rows in explanation.groupby("segment_type", sort=True)
    }
    candidates = explanation[explanation["significant"] & explanation["excess_share"].notna()]
    if candidates.empty or candidates["excess_share"].max() < broad_excess:
        first = explanation.iloc[0]
        change = "rise" if first["total_change"] > 0 else "drop"
        overall = f"the {change} of {first['metric']} is spread over the segments; no single segment stands out"
        return {"overall": overall, "overall_segment": None, "by_segment_type": by_type}
    best = candidates.loc[candidates["excess_share"].idxmax()]
    return {
        "overall": _sentence(best, units),
        "overall_segment": (best["segment_type"], best["segment_value"]),
        "by_segment_type": by_type,
    }


def _sentence(row: pd.Series, units: Mapping[str, str]) -> str:
    change = "rise" if row["total_change"] > 0 else "drop"
    head = f"{row['segment_type']} = {row['segment_value']} explains {row['contribution_share']:.0%} of the {change}"
    if row["kind"] == "proportion":
        unit = units.get(row["metric"], "cases")
        detail = f"{row['value']:.1%} vs {row['expected']:.1%} expected on {row['size']:,.0f} {unit}"
    elif row["kind"] == "ratio":
        unit = units.get(row["metric"], "cases")
        detail = f"{row['value']:,.2f} vs {row['expected']:,.2f} expected on {row['size']:,.0f} {unit}"
    else:
        detail = f"{row['value']:,.0f} vs {row['expected']:,.0f} expected"
    return f"{head} of {row['metric']}: {detail}" + ("" if row["significant"] else " (not significant)")
