"""Closing the loop from a recommended A/B test to its result.

Every `ab_test` recommendation of a stored insight becomes a hypothesis (id = the insight's key and the
recommendation's metric, first day recommended, predicted effect = its minimum detectable effect, users per
arm). An experiment tests a hypothesis when it started on or after the day the hypothesis was first recommended
and one of its goal metrics declares the hypothesis' insight metric in `insight_metrics` of
seeds/experiment_metrics.csv (glob patterns, e.g. `*funnel_conversion`). Links are kept once made (there is no
manual link yet)."""

from __future__ import annotations

import fnmatch
import json
from datetime import date

import pandas as pd

from .metrics import experiment_metrics

__all__ = ["COLUMNS", "hypotheses_from_insights", "link_hypotheses"]

COLUMNS = [
    "hypothesis_id",
    "created_on",
    "metric",
    "hypothesis",
    "action",
    "predicted_effect",
    "users_per_arm",
    "experiment",
    "linked_on",
]


def hypotheses_from_insights(library: pd.DataFrame | None, known: pd.DataFrame | None = None) -> pd.DataFrame:
    """Hypotheses of the insight library's rows (key, as_of, metric, recommendations), merged with `known`
    (their experiment links and first days kept)."""
    rows = {}
    if known is not None and len(known):
        for r in known.to_dict("records"):
            rows[r["hypothesis_id"]] = r
    if library is not None and len(library):
        for r in library.sort_values("as_of").to_dict("records"):
            recs = r.get("recommendations")
            recs = json.loads(recs) if isinstance(recs, str) else (recs or [])
            for rec in recs:
                if rec.get("kind") != "ab_test" or not rec.get("hypothesis"):
                    continue
                hid = f"{r['key']}|{rec.get('metric') or ''}"
                if hid in rows:
                    continue
                rows[hid] = {
                    "hypothesis_id": hid,
                    "created_on": pd.Timestamp(r["as_of"]).date(),
                    "metric": r.get("metric") or "",
                    "hypothesis": rec["hypothesis"],
                    "action": rec.get("action"),
                    "predicted_effect": rec.get("minimum_detectable_effect"),
                    "users_per_arm": rec.get("users_per_arm"),
                    "experiment": None,
                    "linked_on": None,
                }
    return pd.DataFrame(list(rows.values()), columns=COLUMNS)


def link_hypotheses(hypotheses: pd.DataFrame, summaries: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Link unlinked hypotheses to the first experiment (by first exposure) that tests their metric."""
    if hypotheses.empty or summaries is None or summaries.empty:
        return hypotheses
    patterns = {m.metric: m.insight_metrics for m in experiment_metrics() if not m.guardrail}
    out = hypotheses.copy()
    exps = summaries.sort_values("first_exposure").drop_duplicates("experiment")
    for i, h in out.iterrows():
        if isinstance(h["experiment"], str) and h["experiment"]:
            continue
        for e in exps.itertuples(index=False):
            if e.first_exposure is None or pd.Timestamp(e.first_exposure).date() < pd.Timestamp(h["created_on"]).date():
                continue
            if any(fnmatch.fnmatch(str(h["metric"]), p) for p in patterns.get(e.primary_metric, ())):
                out.at[i, "experiment"] = e.experiment
                out.at[i, "linked_on"] = as_of
                break
    return out
