"""Quality benchmark of anomaly detection and root cause (hitcraft_assets.analytics.anomaly / root_cause).

1. Sample data (:func:`evaluate_on_sample`): the detector at its default sensitivity over every day of the sample
   daily_metrics that has the minimum history must flag the planted incident (render_failure_rate up; drops of
   productions_completed / production_completion_rate are acceptable too) with root cause platform = ios, and
   nothing else. Every other flag is reported (metric, day, severity). The same figures are computed for each
   candidate baseline model, so that the choice in anomaly.py stays measured.
2. Public labelled data (:func:`evaluate_public`): labelled anomaly series shipped inside the aeon wheel (fetched
   at run time with pip into a cache outside the repository), scored for the detector and for a plain rolling
   z-score baseline (mean / std of the previous N points, |z| > 3).

Scoring of the public series (both stated in the output):
- point: every time step is a sample; precision = flagged and labelled / flagged, recall = flagged and labelled /
  labelled, F1 their harmonic mean.
- event: each maximal run of labelled points is one event, widened by ``tolerance`` steps on both sides; a
  predicted event is a maximal run of flagged points (gaps of at most ``tolerance`` merged). Recall = labelled
  events hit by a flag / labelled events; precision = predicted events overlapping a widened labelled event /
  predicted events.

``python -m benchmarks.anomaly_bench`` prints the figures as JSON; :func:`run` returns them (benchmarks/run.py may
merge them into results.json). Standalone, the sample is read from a dump in $HITCRAFT_ML_DATA when set.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from hitcraft_assets.analytics.anomaly import AnomalyConfig, detect_anomalies
from hitcraft_assets.analytics.anomaly_models import MODELS, fit_baseline
from hitcraft_assets.analytics.root_cause import describe_root_cause, explain_deviation

INCIDENT_METRICS = {"render_failure_rate": "up", "productions_completed": "down", "production_completion_rate": "down"}
EXPECTED_CAUSE = ("platform", "ios")
SWEEP = (3.0, 3.5, 4.0, 4.5, 5.0, 6.0)

AEON = ("aeon", "1.6.0", "d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409")
PUBLIC_SERIES = {
    # name: (path inside the wheel, first point scored (earlier points are history only), source)
    "ucr_internal_bleeding_16": (
        "aeon/datasets/data/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv",
        1200,
        "UCR Time Series Anomaly Archive (KDD Cup 2021) no. 135, InternalBleeding16: a real physiological signal, "
        "1 labelled anomaly; points before 1200 are the archive's anomaly-free training prefix",
    ),
    "gutentag_ecg_diff_count_3": (
        "aeon/datasets/data/UnitTest/ecg-diff-count-3_TEST.csv",
        0,
        "GutenTAG synthetic ECG-like series (TimeEval), 3 labelled anomalies of 100 points",
    ),
}


# ---------------------------------------------------------------------------------------------------- sample data


def evaluate_on_sample(
    metrics: pd.DataFrame,
    segments: pd.DataFrame,
    incident_day: date,
    config: AnomalyConfig | None = None,
    compare_models: bool = True,
) -> dict:
    """Detection at the default sensitivity over every judged day of ``metrics`` (daily_metrics shape) and root
    cause on ``segments`` (daily_metrics_by_segment shape) for the ``incident_day``.

    Returns a JSON-able dict: judged days and rows, the incident day's flags, every other flag (false flags), the
    root cause sentence and segment, whether the checks pass, segment-level flags, timings, and (compare_models)
    the same counts for each candidate baseline plus its incident severity and largest other |severity|.
    """
    config = config or AnomalyConfig()
    incident_day = pd.Timestamp(incident_day).date()
    started = time.perf_counter()
    flags = detect_anomalies(metrics, config=config)
    detect_seconds = time.perf_counter() - started
    judged = flags[flags["severity"].notna()]
    flagged = judged[judged["is_anomaly"]]
    on_incident = flagged[flagged["metric_date"] == incident_day]
    false_flags = flagged[flagged["metric_date"] != incident_day]

    started = time.perf_counter()
    explanation = explain_deviation(segments, "render_failure_rate", incident_day, config=config)
    summary = describe_root_cause(explanation)
    root_cause_seconds = time.perf_counter() - started
    other_causes = {
        metric: describe_root_cause(explain_deviation(segments, metric, incident_day, config=config))["overall"]
        for metric in sorted(set(on_incident["metric"]) & set(segments["metric"]) - {"render_failure_rate"})
    }
    started = time.perf_counter()
    segment_flags = detect_anomalies(segments, config=config)
    segment_seconds = time.perf_counter() - started
    seg_flagged = segment_flags[segment_flags["is_anomaly"]]

    incident_ok = any(INCIDENT_METRICS.get(row.metric) == row.direction for row in on_incident.itertuples(index=False))
    result = {
        "incident_day": str(incident_day),
        "judged_days": int(judged["metric_date"].nunique()),
        "first_judged_day": str(judged["metric_date"].min()) if not judged.empty else None,
        "judged_rows": len(judged),
        "threshold": config.threshold,
        "segment_threshold": config.segment_threshold,
        "incident_flags": _flag_list(on_incident),
        "false_flags": _flag_list(false_flags),
        "root_cause": summary["overall"],
        "root_cause_segment": list(summary["overall_segment"]) if summary["overall_segment"] else None,
        "root_cause_by_segment_type": summary["by_segment_type"],
        "root_cause_of_other_incident_flags": other_causes,
        "incident_flagged": incident_ok,
        "root_cause_is_platform_ios": summary["overall_segment"] == EXPECTED_CAUSE,
        "no_false_flags": false_flags.empty,
        "segment_series": int(segment_flags.groupby(["metric", "segment_type", "segment_value"]).ngroups),
        "segment_flags_on_incident_day": _flag_list(seg_flagged[seg_flagged["metric_date"] == incident_day]),
        "segment_flags_other_days": len(seg_flagged[seg_flagged["metric_date"] != incident_day]),
        "seconds": {
            "detect_daily_metrics": round(detect_seconds, 2),
            "detect_segments": round(segment_seconds, 2),
            "root_cause": round(root_cause_seconds, 2),
        },
    }
    result["threshold_sweep"] = {
        str(t): _sweep(metrics, segments, incident_day, config.with_threshold(t)) for t in SWEEP
    }
    if compare_models:
        result["models"] = {
            model: _model_figures(metrics, incident_day, replace(config, model=model)) for model in MODELS
        }
    return result


def _flag_list(rows: pd.DataFrame) -> list[dict]:
    columns = [c for c in ("metric", "segment_type", "segment_value") if c in rows and rows[c].notna().any()]
    return [
        {**{c: row[c] for c in columns}, "day": str(row["metric_date"]), "direction": row["direction"],
         "severity": round(float(row["severity"]), 2), "value": round(float(row["value"]), 4),
         "expected": round(float(row["expected"]), 4)}
        for _, row in rows.sort_values(["metric_date", "metric"]).iterrows()
    ]  # fmt: skip


def _sweep(metrics: pd.DataFrame, segments: pd.DataFrame, incident_day: date, config: AnomalyConfig) -> dict:
    counts = {}
    for name, frame in (("", metrics), ("segment_", segments)):
        flagged = detect_anomalies(frame, config=config).query("is_anomaly")
        counts[f"{name}incident_day_flags"] = int((flagged["metric_date"] == incident_day).sum())
        counts[f"{name}false_flags"] = int((flagged["metric_date"] != incident_day).sum())
    return counts


def plant_second_incident(metrics: pd.DataFrame, day: date, factor: float = 1.5) -> pd.DataFrame:
    """A copy of daily_metrics with render_failure_rate (value and numerator) × ``factor`` on ``day``."""
    out = metrics.copy()
    hit = (pd.to_datetime(out["metric_date"]).dt.date == day) & (out["metric"] == "render_failure_rate")
    out.loc[hit, ["value", "numerator"]] *= factor
    return out


def _model_figures(metrics: pd.DataFrame, incident_day: date, config: AnomalyConfig) -> dict:
    """Incident severity, the largest other severity, flags and false flags of one baseline model; and whether a
    second, smaller incident a week after the first (render failures × 1.5) is still found with the first one in
    the history (robustness of the baseline to earlier anomalies)."""
    started = time.perf_counter()
    flags = detect_anomalies(metrics, config=config)
    seconds = time.perf_counter() - started
    judged = flags[flags["severity"].notna()]
    other = judged[judged["metric_date"] != incident_day]
    incident = judged[(judged["metric_date"] == incident_day) & (judged["metric"] == "render_failure_rate")]
    worst = other.loc[other["severity"].abs().idxmax()] if not other.empty else None
    second_day = incident_day + timedelta(days=7)
    second = detect_anomalies(plant_second_incident(metrics, second_day), days=[second_day], config=config)
    second = second[second["metric"] == "render_failure_rate"]
    return {
        "second_incident_day": str(second_day),
        "second_incident_severity": round(float(second["severity"].iloc[0]), 2) if not second.empty else None,
        "second_incident_flagged": bool(second["is_anomaly"].any()),
        "incident_severity_render_failure_rate": round(float(incident["severity"].iloc[0]), 2)
        if not incident.empty
        else None,
        "largest_other_abs_severity": round(float(abs(worst["severity"])), 2) if worst is not None else None,
        "largest_other_at": f"{worst['metric']} {worst['metric_date']}" if worst is not None else None,
        "flags_on_incident_day": int(judged[judged["metric_date"] == incident_day]["is_anomaly"].sum()),
        "false_flags": int(other["is_anomaly"].sum()),
        "judged_rows": len(judged),
        "seconds": round(seconds, 2),
    }


def load_sample(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, date]:
    """daily_metrics, daily_metrics_by_segment and the incident day (anchor - 12 days) from a sample dump."""
    directory = Path(directory)
    metrics = pd.read_csv(directory / "daily_metrics.csv.gz")
    segments = pd.read_csv(directory / "daily_metrics_by_segment.csv.gz")
    anchor = date.fromisoformat((directory / "anchor.txt").read_text().strip()[:10])
    return metrics, segments, anchor - timedelta(days=12)


# ----------------------------------------------------------------------------------------------- public series


def cache_dir() -> Path:
    """Where downloaded wheels go: $HITCRAFT_HOME/cache, else ~/.cache/hitcraft (never the repository)."""
    home = os.environ.get("HITCRAFT_HOME")
    return (Path(home).expanduser().resolve() / "cache") if home else Path.home() / ".cache" / "hitcraft"


def fetch_wheel(name: str, version: str, sha256: str, directory: Path | None = None) -> Path:
    """The wheel of ``name==version`` from the package index (pip download, no dependencies), cached and checked
    against its sha256."""
    directory = (directory or cache_dir()) / "wheels"
    directory.mkdir(parents=True, exist_ok=True)
    found = sorted(directory.glob(f"{name}-{version}-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"{name}=={version}", "--no-deps", "--only-binary=:all:",
             "--quiet", "-d", str(directory)],
            check=True,
        )  # fmt: skip
        found = sorted(directory.glob(f"{name}-{version}-*.whl"))
    wheel = found[0]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{wheel}: sha256 {digest} is not the pinned {sha256}")
    return wheel


def load_public_series(wheel: Path) -> dict[str, pd.DataFrame]:
    """name → DataFrame(value, is_anomaly) for :data:`PUBLIC_SERIES`, read from the wheel zip."""
    out = {}
    with zipfile.ZipFile(wheel) as archive:
        for name, (path, _, _) in PUBLIC_SERIES.items():
            raw = pd.read_csv(io.BytesIO(archive.read(path)))
            out[name] = pd.DataFrame({"value": raw.iloc[:, 1].astype(float), "is_anomaly": raw["is_anomaly"] > 0})
    return out


def dominant_period(values: np.ndarray, min_lag: int = 4, max_lag: int = 500) -> int:
    """The lag of the highest autocorrelation peak in [min_lag, max_lag] (estimated on the given prefix)."""
    x = values - values.mean()
    acf = np.correlate(x, x, "full")[x.size - 1 :]
    acf = acf / acf[0]
    lags = np.arange(min_lag, min(max_lag, x.size - 2))
    peaks = [lag for lag in lags if acf[lag] >= acf[lag - 1] and acf[lag] >= acf[lag + 1]]
    return int(max(peaks, key=lambda lag: acf[lag])) if peaks else min_lag


def _runs(mask: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """Maximal runs [start, end) of True, runs separated by at most ``merge_gap`` False merged."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    runs = list(zip(edges[::2].tolist(), edges[1::2].tolist()))
    merged: list[tuple[int, int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] <= merge_gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _prf(hits_precision: int, predicted: int, hits_recall: int, actual: int) -> dict:
    precision = hits_precision / predicted if predicted else 0.0
    recall = hits_recall / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3)}


def score(flags: np.ndarray, labels: np.ndarray, tolerance: int) -> dict:
    """Point and event scores (see the module docstring) of boolean ``flags`` against boolean ``labels``."""
    point = _prf(int((flags & labels).sum()), int(flags.sum()), int((flags & labels).sum()), int(labels.sum()))
    events = [(max(0, s - tolerance), e + tolerance) for s, e in _runs(labels)]
    predicted = _runs(flags, merge_gap=tolerance)
    overlaps = [any(ps < ee and pe > es for es, ee in events) for ps, pe in predicted]
    detected = [any(flags[es:ee]) for es, ee in events]
    event = _prf(sum(overlaps), len(predicted), sum(detected), len(events))
    return {"point": point, "event": event, "flagged_points": int(flags.sum()), "predicted_events": len(predicted)}


def evaluate_public(thresholds: tuple[float, ...] | None = None, zscore_threshold: float = 3.0) -> dict:
    """Scores on :data:`PUBLIC_SERIES` of the detector's baseline model (seasonal median + robust scale, season =
    the series' dominant period estimated on its first 1,000 points or its anomaly-free prefix, history = 8
    seasons; flagged when |z| ≥ threshold, for the detector's default threshold and the segment threshold) and of
    the rolling z-score baseline (mean / std of the previous N = one season of points, |z| > 3). The detector's
    guards (minimum effect, sample size) are specific to product metrics and not applied here."""
    defaults = AnomalyConfig()
    thresholds = thresholds or (defaults.threshold, defaults.segment_threshold)
    wheel = fetch_wheel(*AEON)
    out = {
        "source": f"{AEON[0]}=={AEON[1]} wheel ({wheel.name}, sha256 {AEON[2][:12]}…), files under aeon/datasets/data/",
        "note": "no daily series with weekly seasonality and labels ships in a wheel we found; these are periodic",
        "series": {},
    }
    for name, frame in load_public_series(wheel).items():
        path, first_scored, description = PUBLIC_SERIES[name]
        values, labels = frame["value"].to_numpy(), frame["is_anomaly"].to_numpy()
        season = dominant_period(values[: max(first_scored, 1000)])
        history = 8 * season
        scored = np.arange(values.size) >= max(first_scored, 2 * season)
        tolerance = season  # a flag within one period of a labelled event still points at it
        figures = {}
        started = time.perf_counter()
        base = fit_baseline(values, "seasonal_median", history=history, season=season)
        seconds = round(time.perf_counter() - started, 2)
        z = (values - base.expected[0]) / base.scale[0]
        for threshold in thresholds:
            figures[f"detector_z_{threshold:g}"] = score((np.abs(z) >= threshold) & scored, labels & scored, tolerance)
        roll = fit_baseline(values, "rolling_zscore", history=season)
        z_roll = (values - roll.expected[0]) / roll.scale[0]
        figures[f"rolling_zscore_{zscore_threshold:g}"] = score(
            (np.abs(z_roll) > zscore_threshold) & scored, labels & scored, tolerance
        )
        out["series"][name] = {
            "file": path,
            "description": description,
            "points": int(values.size),
            "scored_points": int(scored.sum()),
            "labelled_points": int((labels & scored).sum()),
            "labelled_events": len(_runs(labels & scored)),
            "season": season,
            "history": history,
            "event_tolerance": tolerance,
            "rolling_zscore_window": season,
            "detector_seconds": seconds,
            "scores": figures,
        }
    return out


# -------------------------------------------------------------------------------------------------------- entry


def run() -> dict:
    """Both parts as a JSON-able dict; the sample part only when $HITCRAFT_ML_DATA names a folder with a dump of the
    marts (`make bench` builds its own sample instead: benchmarks/ml_bench.py)."""
    directory = Path(os.environ.get("HITCRAFT_ML_DATA", ""))
    results: dict = {"public": evaluate_public()}
    if os.environ.get("HITCRAFT_ML_DATA") and (directory / "daily_metrics.csv.gz").exists():
        metrics, segments, incident_day = load_sample(directory)
        results["sample"] = evaluate_on_sample(metrics, segments, incident_day)
    else:
        results["sample"] = {"skipped": f"no sample dump in {directory}"}
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=str))
