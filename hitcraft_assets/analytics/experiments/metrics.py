"""Experiment metrics, declared in the dbt seed `seeds/experiment_metrics.csv` as expressions over the per-user
counts of `marts.experiment_user_outcomes` (the `pre_<column>` of the same count is the CUPED covariate)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["METRICS_PATH", "ExperimentMetric", "experiment_metrics", "metric_by_name", "user_values"]

METRICS_PATH = Path(__file__).resolve().parents[3] / "dbt_project" / "seeds" / "experiment_metrics.csv"
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
