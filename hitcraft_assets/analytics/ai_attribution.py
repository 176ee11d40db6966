"""AI attribution: which render model, prompt version, LLM model, capability and intent changed outcomes.

Input: marts.ai_generations (one row per render or assistant message: model, prompt_version, capability, intent,
latency_ms, is_success, is_failure, downloaded, liked, disliked, user_key, event_date, platform, role, ...).

- `outcomes_by`: completion, failure, latency p50/p95, likes ratio and download rate per group.
- `detect_rollouts`: a version first seen on a day, after which it carries at least `min_share` of a day's
  generations, with the version it replaces (the most used one in the week before).
- `rollout_did`: difference in differences of an outcome around a rollout: users who moved to the new version
  (treated) against users still on the previous one (control), before vs after, by OLS y ~ treated * post with
  standard errors clustered by user (statsmodels), overall and per segment value.
- `daily_model_metrics` + `model_anomalies`: per-model daily failure rate and median latency judged by the
  platform's anomaly detection (analytics/anomaly.py), segment = the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

__all__ = [
    "Rollout",
    "daily_model_metrics",
    "detect_rollouts",
    "model_anomalies",
    "outcomes_by",
    "rollout_did",
]

DIMENSIONS = ("model", "prompt_version", "capability", "intent")
OUTCOMES = {  # generation type -> outcome column judged by the rollout comparison, and whether up is good
    "render": ("is_failure", False),
    "message": ("liked", True),
}


def _require(frame: pd.DataFrame, columns, what: str = "ai_generations") -> None:
    missing = set(columns) - set(frame.columns)
    if missing:
        raise ValueError(f"{what} lacks columns {sorted(missing)}")


def outcomes_by(gen: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
    """Outcome metrics per generation type and `dims` (any of model, prompt_version, capability, intent, platform,
    ...): generations, users, completion_rate and failure_rate (renders), latency_p50_ms / latency_p95_ms,
    likes_ratio = likes / (likes + dislikes) and like_rate = likes / messages (messages), download_rate (renders)."""
    _require(
        gen,
        [
            "generation_type",
            "is_success",
            "is_failure",
            "latency_ms",
            "liked",
            "disliked",
            "downloaded",
            "user_key",
            *dims,
        ],
    )
    keys = ["generation_type", *dims]
    g = gen.groupby(keys, dropna=False)
    out = g.agg(
        generations=("generation_type", "size"),
        users=("user_key", "nunique"),
        successes=("is_success", "sum"),
        failures=("is_failure", "sum"),
        likes=("liked", "sum"),
        dislikes=("disliked", "sum"),
        downloads=("downloaded", "sum"),
        latency_p50_ms=("latency_ms", lambda s: float(np.nanpercentile(s, 50)) if s.notna().any() else math.nan),
        latency_p95_ms=("latency_ms", lambda s: float(np.nanpercentile(s, 95)) if s.notna().any() else math.nan),
    ).reset_index()
    render = out["generation_type"] == "render"
    out["completion_rate"] = np.where(render, out["successes"] / out["generations"], np.nan)
    out["failure_rate"] = np.where(render, out["failures"] / out["generations"], np.nan)
    out["download_rate"] = np.where(render, out["downloads"] / out["generations"], np.nan)
    fb = out["likes"] + out["dislikes"]
    out["likes_ratio"] = np.where(~render & (fb > 0), out["likes"] / fb.where(fb > 0, 1), np.nan)
    out["like_rate"] = np.where(~render, out["likes"] / out["generations"], np.nan)
    return out


@dataclass(frozen=True)
class Rollout:
    generation_type: str
    column: str  # model | prompt_version
    version: str
    previous: str | None
    first_seen: date
    rollout_day: date  # first day with >= min_share of the day's generations


def detect_rollouts(gen: pd.DataFrame, *, min_share: float = 0.05, min_generations: int = 50) -> list[Rollout]:
    """Versions (model and prompt_version, per generation type) that appear after the data starts."""
    _require(gen, ["generation_type", "event_date", "model", "prompt_version"])
    out = []
    frame = gen.assign(event_date=pd.to_datetime(gen["event_date"]).dt.date)
    first_day = frame["event_date"].min()
    for gtype, g in frame.groupby("generation_type"):
        for column in ("model", "prompt_version"):
            daily = g.groupby(["event_date", column]).size().unstack(fill_value=0)
            if daily.shape[1] < 2:
                continue
            share = daily.div(daily.sum(axis=1), axis=0)
            for version in daily.columns:
                seen = daily.index[daily[version] > 0]
                if not len(seen) or seen[0] <= first_day or daily[version].sum() < min_generations:
                    continue
                big = share.index[share[version] >= min_share]
                if not len(big):
                    continue
                start = big[0]
                before = daily[(daily.index < seen[0]) & (daily.index >= seen[0] - timedelta(days=7))]
                prev = before.drop(columns=[version]).sum().idxmax() if len(before) else None
                out.append(
                    Rollout(str(gtype), column, str(version), None if prev is None else str(prev), seen[0], start)
                )
    return sorted(out, key=lambda r: (r.rollout_day, r.generation_type, r.column))


def rollout_did(
    gen: pd.DataFrame,
    rollout: Rollout,
    *,
    outcome: str | None = None,
    segment: str = "platform",
    pre_days: int = 14,
    post_days: int = 28,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Difference in differences of `outcome` (default: failure for renders, like for messages) around a rollout,
    overall (segment_value 'all') and per value of `segment`. Treated: users with a generation on the new version
    after the rollout; control: users whose post-rollout generations are all on the previous version. Rows: the
    four means, did (absolute, in the outcome's unit), its CI and p-value (OLS, SE clustered by user), users."""
    import statsmodels.formula.api as smf

    y, higher_good = OUTCOMES[rollout.generation_type]
    y = outcome or y
    col = rollout.column
    _require(gen, ["generation_type", "event_date", "user_key", col, y, segment])
    g = gen[(gen["generation_type"] == rollout.generation_type) & gen["user_key"].notna()].copy()
    g["event_date"] = pd.to_datetime(g["event_date"]).dt.date
    t0 = rollout.rollout_day
    g = g[(g["event_date"] >= t0 - timedelta(days=pre_days)) & (g["event_date"] < t0 + timedelta(days=post_days))]
    g["post"] = (g["event_date"] >= t0).astype(int)
    post = g[g["post"] == 1]
    on_new = set(post.loc[post[col] == rollout.version, "user_key"])
    others = set(post.loc[post[col] != rollout.version, "user_key"])
    control = (
        (others - on_new)
        if rollout.previous is None
        else (set(post.loc[post[col] == rollout.previous, "user_key"]) - on_new)
    )
    g = g[g["user_key"].isin(on_new | control)]
    g["treated"] = g["user_key"].isin(on_new).astype(int)
    # before the rollout both groups are on the previous version; after it, the treated only on the new one
    g = g[(g["post"] == 0) | ((g["treated"] == 1) & (g[col] == rollout.version)) | (g["treated"] == 0)]
    g["y"] = g[y].astype(float)
    rows = []
    groups = [("all", g)] + [(str(v), s) for v, s in g.groupby(segment)]
    for value, s in groups:
        cells = s.groupby(["treated", "post"])["y"].mean()
        if len(cells) < 4 or s["user_key"].nunique() < 20:
            continue
        fit = smf.ols("y ~ treated * post", data=s).fit(cov_type="cluster", cov_kwds={"groups": s["user_key"]})
        est = float(fit.params["treated:post"])
        lo, hi = (float(v) for v in fit.conf_int(alpha).loc["treated:post"])
        p = float(fit.pvalues["treated:post"])
        good = (est > 0) == higher_good
        rows.append(
            {
                "generation_type": rollout.generation_type,
                "column": col,
                "version": rollout.version,
                "previous": rollout.previous,
                "rollout_day": t0,
                "outcome": y,
                "segment_type": "all" if value == "all" else segment,
                "segment_value": value,
                "treated_pre": float(cells.get((1, 0), math.nan)),
                "treated_post": float(cells.get((1, 1), math.nan)),
                "control_pre": float(cells.get((0, 0), math.nan)),
                "control_post": float(cells.get((0, 1), math.nan)),
                "did": est,
                "ci_low": lo,
                "ci_high": hi,
                "p_value": p,
                "treated_users": int(s.loc[s["treated"] == 1, "user_key"].nunique()),
                "control_users": int(s.loc[s["treated"] == 0, "user_key"].nunique()),
                "significant": bool(p < alpha),
                "effect": "none" if p >= alpha else ("better" if good else "worse"),
            }
        )
    return pd.DataFrame(rows)


def daily_model_metrics(gen: pd.DataFrame) -> pd.DataFrame:
    """Per day and render model: ai_render_failure_rate (failed / renders, proportion) and ai_latency_p50_ms
    (median render latency); per day and LLM model: ai_message_latency_p50_ms. Segment shape for detect_anomalies
    (segment_type = 'model')."""
    _require(gen, ["generation_type", "event_date", "model", "is_failure", "latency_ms"])
    g = gen.dropna(subset=["model"]).assign(metric_date=lambda f: pd.to_datetime(f["event_date"]).dt.date)
    parts = []
    r = g[g["generation_type"] == "render"].groupby(["metric_date", "model"])
    fr = r.agg(numerator=("is_failure", "sum"), denominator=("is_failure", "size")).reset_index()
    fr["metric"], fr["value"] = "ai_render_failure_rate", fr["numerator"] / fr["denominator"]
    parts.append(fr)
    for gtype, name in (("render", "ai_render_latency_p50_ms"), ("message", "ai_message_latency_p50_ms")):
        lat = (
            g[g["generation_type"] == gtype]
            .groupby(["metric_date", "model"])["latency_ms"]
            .agg(value="median", denominator="count")
            .reset_index()
        )
        lat["metric"], lat["numerator"] = name, np.nan
        parts.append(lat)
    out = pd.concat(parts, ignore_index=True).rename(columns={"model": "segment_value"})
    out["segment_type"] = "model"
    return out[["metric_date", "metric", "segment_type", "segment_value", "value", "numerator", "denominator"]]


def model_anomalies(daily: pd.DataFrame, days=None) -> pd.DataFrame:
    """Anomaly flags of `daily_model_metrics` by the platform's detector (a segment series per model)."""
    from hitcraft_assets.analytics.anomaly import AnomalyConfig, detect_anomalies

    config = AnomalyConfig(
        kinds={
            "ai_render_failure_rate": "proportion",
            "ai_render_latency_p50_ms": "median",
            "ai_message_latency_p50_ms": "median",
        },
        warmup_days={},
    )
    return detect_anomalies(daily, days=days, config=config)
