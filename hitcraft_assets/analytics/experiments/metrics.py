"""Experiment metrics, declared in the dbt seed `seeds/experiment_metrics.csv` as expressions over the per-user
counts of `marts.experiment_user_outcomes` (the `pre_<column>` of the same count is the CUPED covariate)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DESIGNS_PATH",
    "METRICS_PATH",
    "ExperimentDesign",
    "ExperimentMetric",
    "experiment_designs",
    "experiment_metrics",
    "metric_by_name",
    "user_values",
]

SEEDS = Path(__file__).resolve().parents[3] / "dbt_project" / "seeds"
METRICS_PATH = SEEDS / "experiment_metrics.csv"
DESIGNS_PATH = SEEDS / "experiment_designs.csv"
KINDS = ("proportion", "mean", "ratio")


@dataclass(frozen=True)
class ExperimentMetric:
    metric: str
    label: str
    kind: str  # proportion | mean | ratio
    numerator: str
    denominator: str | None
    higher_is_better: bool
    guardrail: bool
    description: str = ""
    insight_metrics: tuple[str, ...] = ()  # glob patterns of insight metrics an experiment on it tests


def _bool(text: str, where: str) -> bool:
    if text.strip().lower() in ("true", "1", "yes"):
        return True
    if text.strip().lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"{where}: {text!r} is not true/false")


@lru_cache(maxsize=4)
def experiment_metrics(path: Path = METRICS_PATH) -> tuple[ExperimentMetric, ...]:
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            where = f"{path.name} line {i}"
            if row["kind"] not in KINDS:
                raise ValueError(f"{where}: kind {row['kind']!r} is not one of {KINDS}")
            if row["kind"] == "ratio" and not row.get("denominator"):
                raise ValueError(f"{where}: a ratio metric needs a denominator")
            out.append(
                ExperimentMetric(
                    metric=row["metric"],
                    label=row["label"],
                    kind=row["kind"],
                    numerator=row["numerator"],
                    denominator=row.get("denominator") or None,
                    higher_is_better=_bool(row["higher_is_better"], where),
                    guardrail=_bool(row["guardrail"], where),
                    description=row.get("description", ""),
                    insight_metrics=tuple(p for p in (row.get("insight_metrics") or "").split(";") if p),
                )
            )
    return tuple(out)


@dataclass(frozen=True)
class ExperimentDesign:
    experiment: str
    weights: dict[str, float]  # variant -> share of users, summing to 1
    primary_metric: str


@lru_cache(maxsize=4)
def experiment_designs(path: Path = DESIGNS_PATH, metrics_path: Path = METRICS_PATH) -> dict[str, ExperimentDesign]:
    """experiment -> its designed split and primary metric (seed experiment_designs). Errors name the file, line
    and value: a weight that is not a positive number, a variant listed twice, an unknown or changing primary
    metric."""
    known = {m.metric for m in experiment_metrics(metrics_path)}
    weights: dict[str, dict[str, float]] = {}
    primary: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            where = f"{path.name} line {i}"
            name, variant, metric = (row.get(k, "").strip() for k in ("experiment", "variant", "primary_metric"))
            if not name or not variant:
                raise ValueError(f"{where}: experiment and variant are required")
            try:
                weight = float(row.get("weight", ""))
            except ValueError:
                raise ValueError(f"{where}: weight {row.get('weight')!r} is not a number") from None
            if not weight > 0:
                raise ValueError(f"{where}: weight {weight} must be greater than 0")
            if variant in weights.setdefault(name, {}):
                raise ValueError(f"{where}: variant {variant!r} of {name!r} is listed twice")
            if metric not in known:
                raise ValueError(f"{where}: primary_metric {metric!r} is not in {metrics_path.name}")
            if primary.setdefault(name, metric) != metric:
                raise ValueError(f"{where}: {name!r} already has primary_metric {primary[name]!r}, not {metric!r}")
            weights[name][variant] = weight
    return {
        name: ExperimentDesign(name, {v: w / sum(ws.values()) for v, w in ws.items()}, primary[name])
        for name, ws in weights.items()
    }


def metric_by_name(name: str) -> ExperimentMetric:
    for m in experiment_metrics():
        if m.metric == name:
            return m
    raise KeyError(f"unknown experiment metric {name!r}; known: {[m.metric for m in experiment_metrics()]}")


def user_values(frame: pd.DataFrame, metric: ExperimentMetric, *, pre: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(numerator, denominator) per user: a proportion is (numerator > 0, 1), a mean (numerator, 1), a ratio
    (numerator, denominator). `pre`: the same from the pre-exposure counts."""
    prefix = "pre_" if pre else ""
    for col in (metric.numerator, metric.denominator):
        if col and prefix + col not in frame.columns:
            raise KeyError(f"metric {metric.metric}: column {prefix + col!r} not in the outcomes")
    num = frame[prefix + metric.numerator].to_numpy(dtype=float)
    if metric.kind == "proportion":
        return (num > 0).astype(float), np.ones(len(num))
    if metric.kind == "mean":
        return num, np.ones(len(num))
    return num, frame[prefix + metric.denominator].to_numpy(dtype=float)
