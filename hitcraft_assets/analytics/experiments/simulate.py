"""Monte Carlo checks of the readout statistics (used by the tests and `benchmarks/` part `experiments`).

- `aa_false_positive_rates`: A/A experiments (no effect) looked at every day; the share that ever looks
  significant with the always-valid confidence sequence vs. a naive fixed-horizon z-test repeated daily.
- `planted_effect_coverage`: experiments with a known effect on a proportion metric and a pre-period covariate;
  the share whose reported intervals (CUPED fixed-horizon and always-valid) cover the true effect, and the
  variance reduction CUPED achieves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .metrics import ExperimentMetric
from .readout import read_metric
from .stats import always_valid

__all__ = ["aa_false_positive_rates", "planted_effect_coverage"]


@dataclass(frozen=True)
class AaResult:
    simulations: int
    days: int
    sequential_rate: float
    naive_rate: float


def aa_false_positive_rates(
    simulations: int = 2000,
    days: int = 28,
    users_per_day: int = 200,
    base_rate: float = 0.3,
    alpha: float = 0.05,
    seed: int = 0,
) -> AaResult:
    """Proportion metric, 50/50 split, both arms at `base_rate`, a look at the end of each day."""
    rng = np.random.default_rng(seed)
    per_arm = users_per_day // 2
    conv = rng.binomial(per_arm, base_rate, size=(simulations, days, 2)).cumsum(axis=1).astype(float)
    n = per_arm * np.arange(1, days + 1, dtype=float)[None, :]
    pa, pb = conv[..., 0] / n, conv[..., 1] / n
    diff = pb - pa
    se = np.sqrt(pa * (1 - pa) / n + pb * (1 - pb) / n)
    z = np.where(se > 0, diff / np.where(se > 0, se, 1), 0.0)
    naive = (2 * stats.norm.sf(np.abs(z)) < alpha).any(axis=1)
    _, _, p = always_valid(diff, se, 2 * n, alpha)
    seq = (np.nan_to_num(p, nan=1.0) < alpha).any(axis=1)
    return AaResult(simulations, days, float(seq.mean()), float(naive.mean()))


@dataclass(frozen=True)
class CoverageResult:
    simulations: int
    true_effect: float
    fixed_coverage: float  # CUPED fixed-horizon 95 % interval
    sequential_coverage: float  # always-valid interval
    mean_variance_reduction: float
    detected_share: float  # seq interval excludes 0


METRIC = ExperimentMetric("events_per_user", "Events per user", "mean", "y", None, True, False)


def planted_effect_coverage(
    simulations: int = 300,
    users_per_arm: int = 3000,
    mean_rate: float = 3.0,
    lift: float = 0.05,
    alpha: float = 0.05,
    seed: int = 1,
) -> CoverageResult:
    """A count metric per user (e.g. downloads in the window) with a per-user rate λ ~ Gamma(1, mean_rate) that
    also drives the pre-period count (so CUPED has a correlated covariate); the variant multiplies the rate by
    1 + lift, a true absolute effect of mean_rate x lift."""
    rng = np.random.default_rng(seed)
    true_effect = mean_rate * lift
    fixed = seq = detected = 0
    vrs = []
    for _ in range(simulations):
        n = 2 * users_per_arm
        arm = np.repeat(["control", "variant"], users_per_arm)
        lam = rng.gamma(1.0, mean_rate, n)
        pre = rng.poisson(lam)
        y = rng.poisson(lam * np.where(arm == "variant", 1 + lift, 1.0))
        frame = pd.DataFrame({"variant_name": arm, "y": y, "pre_y": pre})
        r = read_metric(frame, METRIC, "control", "variant", alpha=alpha)
        fixed += r.cuped_ci_low <= true_effect <= r.cuped_ci_high
        seq += r.seq_ci_low <= true_effect <= r.seq_ci_high
        detected += r.seq_ci_low > 0
        vrs.append(r.variance_reduction)
    k = float(simulations)
    return CoverageResult(
        simulations, true_effect, float(fixed / k), float(seq / k), float(np.mean(vrs)), float(detected / k)
    )
