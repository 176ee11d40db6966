"""Experiments and AI performance: the newest readout of each experiment (decision, SRM, effects per metric and
variant) and AI outcomes by model / prompt version / capability / intent with the detected rollouts. Aggregates
only: no user keys (prompt engineers hold these permissions, and no per-user data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from hitcraft_assets.app.api.common import FormatQuery, invalid, records, table
from hitcraft_assets.app.auth import allow
from hitcraft_assets.app.permissions import Permission
from hitcraft_assets.store import experiments as store
from hitcraft_assets.store import warehouse

router = APIRouter()
EXPERIMENTS = [Depends(allow(Permission.EXPERIMENTS))]
AI = [Depends(allow(Permission.AI_PERFORMANCE))]
SUMMARY_COLUMNS = (
    "experiment",
    "as_of",
    "status",
    "decision",
    "trustworthy",
    "summary",
    "srm_p_value",
    "srm_segment",
    "users_per_arm_now",
    "needed_users_per_arm",
    "expected_date",
    "winner",
)
READOUT_COLUMNS = (
    "variant",
    "metric",
    "label",
    "guardrail",
    "n_control",
    "n_variant",
    "control_mean",
    "variant_mean",
    "abs_effect",
    "rel_effect",
    "ci_low",
    "ci_high",
    "seq_ci_low",
    "seq_ci_high",
    "p_adjusted",
    "direction",
    "variance_reduction",
)
AI_COLUMNS = (
    "dimension",
    "generation_type",
    "value",
    "generations",
    "users",
    "completion_rate",
    "failure_rate",
    "download_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "likes_ratio",
    "like_rate",
)
ROLLOUT_COLUMNS = (
    "generation_type",
    "column_name",
    "version",
    "previous",
    "rollout_day",
    "outcome",
    "segment_type",
    "segment_value",
    "treated_pre",
    "treated_post",
    "control_pre",
    "control_post",
    "did",
    "ci_low",
    "ci_high",
    "p_value",
    "effect",
)
FILTERS = ("model", "prompt_version", "capability", "intent")


def _summaries(url: str):
    return store.latest_summaries(url=url) if store.has_readouts(url) else None


@router.get("/experiments", dependencies=EXPERIMENTS, tags=["experiments"], summary="Every experiment's verdict")
def experiments(request: Request, format: FormatQuery = None):
    """The newest readout of each experiment: status, decision (ship / stop / keep running), the SRM verdict
    (untrustworthy first), users per arm now and needed, the date the needed sample is expected."""
    frame = _summaries(request.app.state.url)
    if frame is not None and len(frame):
        frame = frame.sort_values(["trustworthy", "experiment"])
    return table(request, records(frame, SUMMARY_COLUMNS), SUMMARY_COLUMNS, name="experiments", format=format)


@router.get("/experiments/{name}", dependencies=EXPERIMENTS, tags=["experiments"], summary="One experiment's readout")
def experiment(request: Request, name: str, format: FormatQuery = None):
    """The verdict (`summary` starts with the SRM warning when assignment is broken) and each metric's effect per
    variant against control: absolute and relative, fixed-horizon and always-valid intervals, BH-adjusted p-value,
    CUPED variance reduction."""
    url = request.app.state.url
    frame = _summaries(url)
    rows = frame[frame["experiment"] == name] if frame is not None else None
    if rows is None or rows.empty:
        raise HTTPException(404, f"no experiment {name!r}")
    s = rows.iloc[0]
    readout = store.readout_rows(name, s["as_of"], url)
    return table(
        request,
        records(readout, READOUT_COLUMNS),
        READOUT_COLUMNS,
        name=f"experiment-{name}",
        format=format,
        **{c: s[c] for c in SUMMARY_COLUMNS},
        variants=s["variants"],
    )


def _ai_filters(model, prompt_version, capability, intent) -> dict[str, str]:
    return {k: v for k, v in zip(FILTERS, (model, prompt_version, capability, intent)) if v}


@router.get("/ai/outcomes", dependencies=AI, tags=["ai"], summary="AI outcomes by model, prompt version, ...")
def ai_outcomes(
    request: Request,
    dimension: Annotated[str | None, Query(description=f"One of {', '.join(FILTERS)}; default all.")] = None,
    model: str | None = None,
    prompt_version: str | None = None,
    capability: str | None = None,
    intent: str | None = None,
    format: FormatQuery = None,
):
    """Completion, failure and download rates, latency p50/p95 and likes per model, prompt version, capability and
    intent over the trailing 28 days (ai/generation_attribution). A filter (model=..., intent=...) keeps that
    dimension's rows with that value."""
    if dimension is not None and dimension not in FILTERS:
        raise invalid("dimension", f"dimension must be one of {', '.join(FILTERS)}")
    url = request.app.state.url
    frame = store.ai_outcomes(url=url) if warehouse.table_exists(store.AI_OUTCOMES.qualified, url) else None
    if frame is not None and len(frame):
        if dimension:
            frame = frame[frame["dimension"] == dimension]
        for dim, value in _ai_filters(model, prompt_version, capability, intent).items():
            frame = frame[(frame["dimension"] != dim) | (frame["value"] == value)]
    as_of = frame["as_of"].max() if frame is not None and len(frame) else None
    return table(request, records(frame, AI_COLUMNS), AI_COLUMNS, name="ai-outcomes", format=format, as_of=as_of)


@router.get("/ai/rollouts", dependencies=AI, tags=["ai"], summary="Model and prompt version rollouts")
def ai_rollouts(request: Request, version: str | None = None, format: FormatQuery = None):
    """Each detected rollout (a version first seen on a day) with its difference in differences against users
    still on the previous version, overall and per platform (effect: better / worse / none)."""
    url = request.app.state.url
    frame = store.ai_rollouts(url=url) if warehouse.table_exists(store.AI_ROLLOUTS.qualified, url) else None
    if frame is not None and len(frame) and version:
        frame = frame[frame["version"] == version]
    return table(request, records(frame, ROLLOUT_COLUMNS), ROLLOUT_COLUMNS, name="ai-rollouts", format=format)
