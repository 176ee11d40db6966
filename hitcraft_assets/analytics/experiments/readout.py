"""Readouts of an experiment: per metric and variant against control, the effect with intervals, CUPED, an
always-valid confidence sequence, Benjamini-Hochberg across the experiment's metrics, guardrails, the SRM check,
and a decision (ship / stop / keep running) with the date the needed sample is expected.

Inputs are the marts: `exposures` (marts.experiment_exposures: one row per experiment and user, is_excluded) and
`outcomes` (marts.experiment_user_outcomes: per-user counts after and before exposure, is_window_complete).

- SRM uses every exposed, non-excluded user (the assignment, whatever their window), overall and per platform
  (Bonferroni over platforms): a broken split often hides in one platform.
- Effects use users whose outcome window is complete, so a user's outcome never changes after it was read.
- Significance (a metric "moved") is the always-valid p-value after Benjamini-Hochberg over the experiment's
  metrics for that variant, below alpha; so a daily look does not inflate false positives.
- Decision for each variant against control, then the experiment's: SRM failed -> stop (untrustworthy);
  a guardrail significantly worse -> stop (blocks a ship); a goal metric significantly better and no guardrail
  worse -> ship; a goal metric significantly worse -> stop; the primary metric's sequential sample for the MDE
  reached without a result -> stop (no effect of that size); exposures ended -> stop (inconclusive); else keep
  running until the date that sample is expected at the recent exposure rate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from .metrics import ExperimentMetric, experiment_metrics, user_values
from .planner import sequential_users_per_arm
from .stats import SrmResult, always_valid, arm_stats, cuped_theta, effect, srm_test

__all__ = [
    "DEFAULT_MDE_RELATIVE",
    "ExperimentReadout",
    "MetricReadout",
    "control_variant",
    "read_experiment",
    "read_metric",
]

DEFAULT_MDE_RELATIVE = 0.10  # the effect size a running experiment waits for (relative to control)
TUNING_N = 5000.0  # users at which the confidence sequence is tightest (gbstats' default)
ENDED_AFTER_DAYS = 2  # no exposure for this many days before as_of: the experiment has ended


@dataclass
class MetricReadout:
    experiment: str
    metric: str
    label: str
    kind: str
    guardrail: bool
    higher_is_better: bool
    control: str
    variant: str
    n_control: int
    n_variant: int
    control_mean: float
    variant_mean: float
    abs_effect: float
    rel_effect: float
    ci_low: float
    ci_high: float
    rel_ci_low: float
    rel_ci_high: float
    p_value: float  # fixed horizon (unadjusted), for reference
    cuped_abs_effect: float
    cuped_ci_low: float
    cuped_ci_high: float
    variance_reduction: float  # CUPED: 1 - var(adjusted) / var(raw); NaN for ratio metrics
    seq_ci_low: float  # always-valid interval of the (CUPED-adjusted) absolute effect
    seq_ci_high: float
    seq_p_value: float
    p_adjusted: float = math.nan  # seq_p_value after Benjamini-Hochberg over the experiment's metrics
    significant: bool = False
    direction: str = "none"  # better | worse | none (in the metric's good direction)
    control_sd: float = math.nan


@dataclass
class ExperimentReadout:
    experiment: str
    as_of: date
    control: str
    variants: dict[str, int]  # exposed, non-excluded users per variant
    excluded_users: int
    first_exposure: date | None
    last_exposure: date | None
    status: str  # running | ended
    srm: SrmResult
    srm_segments: list[SrmResult]
    trustworthy: bool
    decision: str  # ship | stop | keep running
    reason: str
    primary_metric: str
    needed_users_per_arm: int | None
    users_per_arm_now: int
    expected_date: date | None
    metrics: list[MetricReadout] = field(default_factory=list)
    winner: str | None = None

    def summary(self) -> str:
        if not self.trustworthy:  # the reason repeats the SRM figures: say them once
            return f"UNTRUSTWORTHY: {self.reason}. {self.decision.upper()}."
        tail = f" Expected sample by {self.expected_date.isoformat()}." if self.expected_date else ""
        return f"{self.decision.upper()}: {self.reason}.{tail}"

    def metric_rows(self) -> list[dict]:
        return [asdict(m) for m in self.metrics]


def _srm_text(srm: SrmResult) -> str:
    counts = " vs ".join(f"{k} {v:,}" for k, v in srm.counts.items())
    undesigned = [k for k, v in srm.counts.items() if v and k not in srm.expected_shares]
    if undesigned:
        return f"{counts}; variant {', '.join(undesigned)} is not in the design"
    designed = " / ".join(f"{round(100 * w):g} %" for w in srm.expected_shares.values())
    text = f"{counts} against a designed {designed}; chi-square p = {srm.p_value:.2g}"
    if srm.segment:
        text += f"; {srm.segment}: p = {srm.segment_p_value:.2g}"
    return text


def control_variant(variants) -> str:
    names = sorted(variants)
    for n in names:
        if n.lower() in ("control", "baseline", "a"):
            return n
    return names[0]


def read_metric(
    frame: pd.DataFrame,
    metric: ExperimentMetric,
    control: str,
    variant: str,
    *,
    experiment: str = "",
    alpha: float = 0.05,
    tuning_n: float = TUNING_N,
) -> MetricReadout:
    """One metric, one variant against control, on the users of `frame` (variant_name + the count columns)."""
    a = frame[frame["variant_name"] == control]
    b = frame[frame["variant_name"] == variant]
    ya, da = user_values(a, metric)
    yb, db = user_values(b, metric)
    ddof = 0 if metric.kind == "proportion" else 1  # proportions: the binomial variance (Wald, as statsmodels)
    sa, sb = arm_stats(ya, da, ddof), arm_stats(yb, db, ddof)
    fx = effect(sa, sb, alpha)
    # CUPED on mean and proportion metrics: the same metric in the pre-exposure window is the covariate
    cuped_abs, cuped_lo, cuped_hi, vr = fx.absolute, fx.ci_low, fx.ci_high, math.nan
    seq_est, seq_se = fx.absolute, fx.se_abs
    if metric.kind != "ratio" and len(a) > 2 and len(b) > 2:
        xa, _ = user_values(a, metric, pre=True)
        xb, _ = user_values(b, metric, pre=True)
        y = np.concatenate([ya, yb])
        x = np.concatenate([xa, xb])
        theta = cuped_theta(y, x)
        xm = x.mean()
        ca, cb = ya - theta * (xa - xm), yb - theta * (xb - xm)
        raw_var = ya.var(ddof=1) * (len(ya) - 1) + yb.var(ddof=1) * (len(yb) - 1)
        adj_var = ca.var(ddof=1) * (len(ca) - 1) + cb.var(ddof=1) * (len(cb) - 1)
        vr = 1 - adj_var / raw_var if raw_var > 0 else 0.0
        one_a, one_b = np.ones(len(ca)), np.ones(len(cb))
        cfx = effect(arm_stats(ca, one_a), arm_stats(cb, one_b), alpha)
        cuped_abs, cuped_lo, cuped_hi = cfx.absolute, cfx.ci_low, cfx.ci_high
        seq_est, seq_se = cfx.absolute, cfx.se_abs
    lo, hi, p_seq = always_valid(seq_est, seq_se, len(a) + len(b), alpha, tuning_n)
    return MetricReadout(
        experiment=experiment,
        metric=metric.metric,
        label=metric.label,
        kind=metric.kind,
        guardrail=metric.guardrail,
        higher_is_better=metric.higher_is_better,
        control=control,
        variant=variant,
        n_control=len(a),
        n_variant=len(b),
        control_mean=sa.mean,
        variant_mean=sb.mean,
        abs_effect=fx.absolute,
        rel_effect=fx.relative,
        ci_low=fx.ci_low,
        ci_high=fx.ci_high,
        rel_ci_low=fx.rel_ci_low,
        rel_ci_high=fx.rel_ci_high,
        p_value=fx.p_value,
        cuped_abs_effect=cuped_abs,
        cuped_ci_low=cuped_lo,
        cuped_ci_high=cuped_hi,
        variance_reduction=float(vr),
        seq_ci_low=lo,
        seq_ci_high=hi,
        seq_p_value=p_seq,
        control_sd=sa.sd_user,
    )


def _srm(exposures: pd.DataFrame, control: str, expected: dict[str, float] | None, srm_alpha: float):
    counts = exposures["variant_name"].value_counts().to_dict()
    overall = srm_test({k: int(v) for k, v in sorted(counts.items())}, expected, srm_alpha)
    segments = []
    if "platform" in exposures.columns:
        groups = [(p, g) for p, g in exposures.groupby("platform") if len(g) >= 100]
        for p, g in groups:
            c = {k: int(g["variant_name"].eq(k).sum()) for k in sorted(counts)}
            r = srm_test(c, expected, srm_alpha / max(len(groups), 1))  # Bonferroni over platforms
            segments.append(SrmResult(r.p_value, r.chi2, r.counts, r.expected_shares, r.failed, f"platform = {p}"))
    failed = [s for s in segments if s.failed]
    if failed or (overall.failed and segments):
        worst = min(failed or segments, key=lambda s: s.p_value)
        overall = SrmResult(
            overall.p_value, overall.chi2, overall.counts, overall.expected_shares, True, worst.segment, worst.p_value
        )
    return overall, segments


def read_experiment(
    experiment: str,
    exposures: pd.DataFrame,
    outcomes: pd.DataFrame,
    as_of: date,
    *,
    metrics: tuple[ExperimentMetric, ...] | None = None,
    primary_metric: str | None = None,
    expected_shares: dict[str, float] | None = None,
    alpha: float = 0.05,
    srm_alpha: float = 0.001,
    mde_relative: float = DEFAULT_MDE_RELATIVE,
) -> ExperimentReadout:
    """The readout of one experiment from its rows of the exposures and outcomes marts."""
    metrics = metrics or experiment_metrics()
    exp = exposures[
        (exposures["experiment_name"] == experiment)
        & (pd.to_datetime(exposures["first_exposure_date"]).dt.date <= as_of)
    ]
    if exp.empty:
        raise ValueError(f"experiment {experiment!r} has no exposures")
    excluded = int(exp["is_excluded"].astype(bool).sum())
    exp = exp[~exp["is_excluded"].astype(bool)]
    out = outcomes[(outcomes["experiment_name"] == experiment) & outcomes["is_window_complete"].astype(bool)]
    if "window_ends_at" in out.columns:  # as of the end of `as_of` (UTC): later windows were not complete then
        ends = pd.to_datetime(out["window_ends_at"], utc=True)
        out = out[ends < pd.Timestamp(as_of + timedelta(days=1), tz="UTC")]
    variants = sorted(exp["variant_name"].unique())
    control = control_variant(variants)
    srm, srm_segments = _srm(exp, control, expected_shares, srm_alpha)
    days = pd.to_datetime(exp["first_exposure_date"]).dt.date
    first, last = days.min(), days.max()
    ended = (as_of - last).days >= ENDED_AFTER_DAYS
    goal = [m for m in metrics if not m.guardrail]
    primary = primary_metric or (goal[0].metric if goal else metrics[0].metric)
    rows: list[MetricReadout] = []
    for v in variants:
        if v == control:
            continue
        vrows = [read_metric(out, m, control, v, experiment=experiment, alpha=alpha) for m in metrics]
        ps = np.array([r.seq_p_value for r in vrows], dtype=float)
        ok = np.isfinite(ps)
        adj = np.full(len(ps), np.nan)
        if ok.any():
            adj[ok] = multipletests(ps[ok], alpha=alpha, method="fdr_bh")[1]
        for r, pa in zip(vrows, adj):
            r.p_adjusted = float(pa)
            r.significant = bool(np.isfinite(pa) and pa < alpha)
            if r.significant:
                up = r.cuped_abs_effect > 0
                r.direction = "better" if up == r.higher_is_better else "worse"
        rows.extend(vrows)
    # the sample the primary metric needs at the MDE, and when it is expected
    prim = [r for r in rows if r.metric == primary]
    needed = None
    if prim and math.isfinite(prim[0].control_mean) and prim[0].control_mean and prim[0].control_sd > 0:
        try:
            needed = sequential_users_per_arm(prim[0].control_sd, prim[0].control_mean * mde_relative, alpha)
        except ValueError:
            needed = None
    n_now = int(min(out["variant_name"].value_counts().reindex(variants, fill_value=0))) if len(out) else 0
    recent = exp[pd.to_datetime(exp["first_exposure_date"]).dt.date > as_of - timedelta(days=7)]
    per_arm_day = len(recent) / 7 / max(len(variants), 1)
    expected = None
    decision, reason, winner = "keep running", "", None
    if srm.failed:
        decision = "stop"
        reason = (
            f"sample-ratio mismatch ({_srm_text(srm)}): assignment or exposure logging "
            "is broken, so no effect can be trusted; fix it and restart"
        )
    else:
        worse_guard = [r for r in rows if r.guardrail and r.direction == "worse"]
        better_goal = [r for r in rows if not r.guardrail and r.direction == "better"]
        worse_goal = [r for r in rows if not r.guardrail and r.direction == "worse"]
        if worse_guard:
            g = worse_guard[0]
            decision = "stop"
            reason = f"guardrail {g.label} got worse in {g.variant} ({g.rel_effect:+.1%}): blocks a ship"
        elif better_goal:
            best = max(better_goal, key=lambda r: r.rel_effect if r.higher_is_better else -r.rel_effect)
            decision, winner = "ship", best.variant
            reason = (
                f"{best.variant} improves {best.label} by {best.rel_effect:+.1%} "
                f"(always-valid interval {best.seq_ci_low:+.3g} .. {best.seq_ci_high:+.3g}) with no guardrail worse"
            )
        elif worse_goal:
            w = worse_goal[0]
            decision = "stop"
            reason = f"{w.variant} makes {w.label} worse ({w.rel_effect:+.1%})"
        elif needed is not None and n_now >= needed:
            decision = "stop"
            reason = (
                f"no effect of {mde_relative:.0%} or more on {primary}: {n_now:,} users per arm reached the "
                f"{needed:,} needed"
            )
        elif ended:
            decision = "stop"
            reason = (
                f"exposures ended on {last.isoformat()} with {n_now:,} of the {needed or 0:,} users per arm "
                "needed: inconclusive"
            )
        else:
            reason = (
                f"no significant change yet; {n_now:,} of {needed or 0:,} users per arm"
                f" for a {mde_relative:.0%} MDE on {primary}"
            )
            if needed is not None and per_arm_day > 0:
                expected = as_of + timedelta(days=math.ceil((needed - n_now) / per_arm_day))
    return ExperimentReadout(
        experiment=experiment,
        as_of=as_of,
        control=control,
        variants={v: int((exp["variant_name"] == v).sum()) for v in variants},
        excluded_users=excluded,
        first_exposure=first,
        last_exposure=last,
        status="ended" if ended else "running",
        srm=srm,
        srm_segments=srm_segments,
        trustworthy=not srm.failed,
        decision=decision,
        reason=reason,
        primary_metric=primary,
        needed_users_per_arm=needed,
        users_per_arm_now=n_now,
        expected_date=expected,
        metrics=rows,
        winner=winner,
    )
