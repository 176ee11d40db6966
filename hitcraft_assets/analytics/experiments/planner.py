"""Sample size, minimum detectable effect and duration of a two-arm test, from current traffic and variance.

Proportions are sized with Cohen's h (statsmodels `NormalIndPower` on the arcsine effect size; the daily report's
recommended A/B tests use these same functions, so their numbers are the planner's); means and ratios with the
normal approximation on the per-user standard deviation (delta method for ratios). `sequential=True` sizes for
the always-valid confidence sequence the readouts use (the n at which its half-width plus z_power standard
errors reaches the MDE), which needs more users than a fixed-horizon test."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from .stats import always_valid

__all__ = ["Plan", "plan_test", "proportion_mde", "proportion_users_per_arm", "users_per_arm_for_sd"]


def proportion_mde(baseline: float, users_per_arm: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest absolute rise of a proportion from `baseline` that `users_per_arm` users per arm detect (Cohen's
    h); NaN when users_per_arm < 2 or baseline is not in (0, 1); 1 - baseline when not even 100 % is detectable."""
    if users_per_arm < 2 or not 0 < baseline < 1:
        return math.nan
    h = NormalIndPower().solve_power(effect_size=None, nobs1=users_per_arm, alpha=alpha, power=power, ratio=1.0)
    angle = math.asin(math.sqrt(baseline)) + float(h) / 2
    if angle >= math.pi / 2:
        return 1 - baseline
    return math.sin(angle) ** 2 - baseline


def proportion_users_per_arm(baseline: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per arm to detect an absolute change `effect` of a proportion from `baseline` (Cohen's h)."""
    target = baseline + effect
    if effect == 0 or not 0 < baseline < 1 or not 0 < target < 1:
        raise ValueError(f"cannot size a test from {baseline} to {target}")
    h = abs(proportion_effectsize(target, baseline))
    n = NormalIndPower().solve_power(effect_size=h, nobs1=None, alpha=alpha, power=power, ratio=1.0)
    return int(math.ceil(float(n)))


def users_per_arm_for_sd(sd: float, mde_abs: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per arm to detect an absolute change `mde_abs` of a mean with per-user standard deviation `sd`."""
    if not (sd > 0 and mde_abs != 0):
        raise ValueError(f"cannot size a test with sd={sd} and mde={mde_abs}")
    n = NormalIndPower().solve_power(effect_size=abs(mde_abs) / sd, nobs1=None, alpha=alpha, power=power, ratio=1.0)
    return int(math.ceil(float(n)))


def sequential_users_per_arm(
    sd: float, mde_abs: float, alpha: float = 0.05, power: float = 0.8, tuning_n: float = 5000.0
) -> int:
    """Users per arm at which the confidence sequence's half-width + z_power x se reaches |mde_abs|."""
    z_pow = stats.norm.ppf(power)

    def short(n: int) -> bool:
        se = sd * math.sqrt(2 / n)
        low, high, _ = always_valid(0.0, se, 2 * n, alpha, tuning_n)
        return (high - low) / 2 + z_pow * se > abs(mde_abs)

    lo, hi = 2, 4
    while short(hi):
        lo, hi = hi, hi * 2
        if hi > 10**9:
            raise ValueError("the MDE is too small to be reached")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if short(mid) else (lo, mid)
    return hi


@dataclass(frozen=True)
class Plan:
    metric: str
    kind: str
    baseline: float
    sd: float
    mde_abs: float
    mde_rel: float
    alpha: float
    power: float
    users_per_arm: int  # fixed horizon
    sequential_users_per_arm: int  # always-valid readouts (what the experiments' decisions wait for)
    arms: int
    daily_users: float  # eligible users entering per day, all arms
    days: int | None  # to reach the sequential sample; None without traffic
    fixed_days: int | None
    expected_end: date | None


def plan_test(
    *,
    metric: str,
    kind: str,
    baseline: float,
    sd: float | None,
    daily_users: float,
    mde_rel: float | None = None,
    mde_abs: float | None = None,
    arms: int = 2,
    alpha: float = 0.05,
    power: float = 0.8,
    start: date | None = None,
) -> Plan:
    """Size a test of `metric` (current `baseline` and per-user `sd`; for a proportion sd is sqrt(p(1-p))) for an
    MDE given absolute or relative to the baseline, with `daily_users` eligible users a day split over `arms`."""
    if (mde_rel is None) == (mde_abs is None):
        raise ValueError("give exactly one of mde_rel and mde_abs")
    if not math.isfinite(baseline):
        raise ValueError(f"{metric}: no baseline (no data)")
    mde = mde_abs if mde_abs is not None else baseline * mde_rel
    if kind == "proportion":
        if not 0 < baseline < 1:
            raise ValueError(f"{metric}: baseline {baseline} is not a proportion in (0, 1)")
        sd = math.sqrt(baseline * (1 - baseline))
        fixed = proportion_users_per_arm(baseline, mde, alpha, power)
    else:
        if sd is None or not sd > 0:
            raise ValueError(f"{metric}: needs a positive per-user standard deviation")
        fixed = users_per_arm_for_sd(sd, mde, alpha, power)
    seq = sequential_users_per_arm(sd, mde, alpha, power)
    per_arm_day = daily_users / arms if daily_users > 0 else 0.0
    days = math.ceil(seq / per_arm_day) if per_arm_day > 0 else None
    fixed_days = math.ceil(fixed / per_arm_day) if per_arm_day > 0 else None
    return Plan(
        metric=metric,
        kind=kind,
        baseline=float(baseline),
        sd=float(sd),
        mde_abs=float(mde),
        mde_rel=float(mde / baseline) if baseline else math.nan,
        alpha=alpha,
        power=power,
        users_per_arm=fixed,
        sequential_users_per_arm=seq,
        arms=arms,
        daily_users=float(daily_users),
        days=days,
        fixed_days=fixed_days,
        expected_end=(start + timedelta(days=days)) if (start and days is not None) else None,
    )
