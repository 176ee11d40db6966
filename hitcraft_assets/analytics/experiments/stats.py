"""The statistics of an experiment readout.

- Sample-ratio mismatch: Pearson chi-square of users per variant against the designed split (scipy), overall and
  per segment (Bonferroni over the segments), flagged below `srm_alpha` (0.001 by default, as GrowthBook and
  Microsoft's ExP use: SRM checks run on every look, so the threshold is strict).
- Arm means with the delta method: a ratio metric sum(num)/sum(den) over users has variance
  (var(num) - 2 R cov(num, den) + R² var(den)) / (n mean(den)²) (Deng et al. 2018); a mean or proportion is the
  same with den = 1. The relative effect's variance is the delta method of (b - a) / a.
- CUPED (Deng et al. 2013): each user's value minus θ (x - mean x), x the same metric in the pre-exposure window,
  θ pooled over both arms; the variance reduction achieved is 1 - var(adjusted) / var(raw), pooled.
- Always-valid inference: the asymptotic confidence sequence of Waudby-Smith et al. (2023, eq. 9, the form
  GrowthBook's gbstats uses), tuned to be tightest at `tuning_n` users, with its always-valid p-value
  (1 / e-value, eq. 155): looking every day does not inflate the false-positive rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "ArmStats",
    "SrmResult",
    "always_valid",
    "arm_stats",
    "cuped_theta",
    "effect",
    "srm_test",
]


@dataclass(frozen=True)
class SrmResult:
    p_value: float
    chi2: float
    counts: dict[str, int]
    expected_shares: dict[str, float]
    failed: bool
    segment: str | None = None  # "platform = web": the segment with the worst split, when one is flagged
    segment_p_value: float | None = None  # its p-value (compared with srm_alpha / number of segments)


def srm_test(counts: dict[str, int], expected: dict[str, float] | None = None, alpha: float = 0.001) -> SrmResult:
    """Pearson chi-square of users per variant against `expected` shares (equal when None). Users in a variant
    that `expected` lacks fail the test outright (p = 0)."""
    names = list(counts)
    if expected is None:
        expected = {n: 1 / len(names) for n in names}
    names += [n for n in expected if n not in counts]  # a designed variant nobody was exposed to counts 0
    obs = np.array([counts.get(n, 0) for n in names], dtype=float)
    undesigned = [n for n in names if n not in expected]
    if undesigned and obs.sum():  # users in a variant the design does not have: assignment is broken
        return SrmResult(0.0, math.inf, {n: int(c) for n, c in zip(names, obs)}, dict(expected), True)
    share = np.array([expected[n] for n in names], dtype=float)
    share = share / share.sum()
    if obs.sum() == 0 or len(names) < 2:
        return SrmResult(1.0, 0.0, dict(counts), dict(zip(names, share.tolist())), False)
    chi2, p = stats.chisquare(obs, obs.sum() * share)
    return SrmResult(
        float(p),
        float(chi2),
        {n: int(c) for n, c in zip(names, obs)},
        dict(zip(names, share.tolist())),
        bool(p < alpha),
    )


@dataclass(frozen=True)
class ArmStats:
    n: int
    mean: float  # sum(num) / sum(den)
    var_mean: float  # variance of `mean` (delta method for ratios)
    sd_user: float  # per-user standard deviation of the linearised value (for planning)


def arm_stats(num: np.ndarray, den: np.ndarray, ddof: int = 1) -> ArmStats:
    """Mean sum(num)/sum(den) and its variance (delta method). ddof=0 for a proportion gives the binomial
    p(1-p)/n of the Wald test."""
    n = len(num)
    if n < 2 or den.sum() <= 0:
        return ArmStats(n, math.nan, math.nan, math.nan)
    mx, my = num.mean(), den.mean()
    r = mx / my
    vx, vy = num.var(ddof=ddof), den.var(ddof=ddof)
    cxy = np.cov(num, den, ddof=ddof)[0, 1] if vy > 0 else 0.0
    lin_var = max(vx - 2 * r * cxy + r * r * vy, 0.0) / (my * my)
    return ArmStats(n, float(r), float(lin_var / n), float(math.sqrt(lin_var)))


def cuped_theta(y: np.ndarray, x: np.ndarray) -> float:
    vx = x.var(ddof=1) if len(x) > 1 else 0.0
    if not vx > 0:
        return 0.0
    return float(np.cov(y, x, ddof=1)[0, 1] / vx)


@dataclass(frozen=True)
class Effect:
    absolute: float
    relative: float
    se_abs: float
    se_rel: float
    ci_low: float
    ci_high: float
    rel_ci_low: float
    rel_ci_high: float
    p_value: float


def effect(a: ArmStats, b: ArmStats, alpha: float = 0.05) -> Effect:
    """Fixed-horizon (Welch-normal) effect of b over a: absolute and relative with CIs (delta method for the
    relative one)."""
    diff = b.mean - a.mean
    se = math.sqrt(a.var_mean + b.var_mean)
    rel = diff / a.mean if a.mean else math.nan
    # var(b/a - 1) ≈ var_b / a² + b² var_a / a⁴
    se_rel = math.sqrt(b.var_mean / a.mean**2 + b.mean**2 * a.var_mean / a.mean**4) if a.mean else math.nan
    z = stats.norm.ppf(1 - alpha / 2)
    p = float(2 * stats.norm.sf(abs(diff / se))) if se > 0 else (0.0 if diff else 1.0)
    return Effect(diff, rel, se, se_rel, diff - z * se, diff + z * se, rel - z * se_rel, rel + z * se_rel, p)


def always_valid(estimate, se, n_total, alpha: float = 0.05, tuning_n: float = 5000.0):
    """(low, high, p) of the asymptotic confidence sequence for an estimate with standard error `se` from
    `n_total` users: valid at every look simultaneously (Waudby-Smith et al. 2023, eq. 9 and 155). Scalars or
    numpy arrays (broadcast); NaN where se is not positive."""
    est = np.asarray(estimate, dtype=float)
    se_ = np.asarray(se, dtype=float)
    n = np.asarray(n_total, dtype=float)
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning_n
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (se_ > 0) & (n > 1)
        s2 = np.where(ok, se_ * se_ * n, np.nan)  # per-user variance of the estimate
        tr2p1 = n * rho2 + 1
        width = np.sqrt(s2) * np.sqrt(2 * tr2p1 * np.log(np.sqrt(tr2p1) / alpha) / (n * n * rho2))
        st2 = est * est * n / (se_ * se_)  # z² n, as gbstats' reparameterisation
        log_e = rho2 * st2 / (2 * tr2p1) - 0.5 * np.log(tr2p1)
        p = np.minimum(1.0, np.exp(-log_e))
    low, high = est - width, est + width
    if np.ndim(low) == 0:
        return float(low), float(high), float(p)
    return low, high, p
