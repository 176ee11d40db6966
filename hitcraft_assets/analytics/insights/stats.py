"""Statistics shared by the insight generators and the ranking: multiple-testing control, two-proportion
comparisons, A/B test sizing and the confidence score. Thin wrappers over statsmodels so every generator uses the
same methods and the docstrings name them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    test_proportions_2indep,
)

# Confidence score constants (see `confidence_score`).
P_SATURATION_LOG10 = 6.0  # p = 1e-6 gives full evidence
SAMPLE_HALF = 200.0  # sample size at which the sample term is 0.5
EFFECT_HALF = 0.10  # relative effect at which the effect term is 0.5


MIN_P_VALUE = 1e-300  # p-values below this (or underflowed to 0) are reported as this


def clamp_p(p_value: float | None) -> float | None:
    """A p-value clipped to [MIN_P_VALUE, 1] (None and NaN stay): an underflowed 0 cannot be quoted or compared."""
    if p_value is None or not np.isfinite(p_value):
        return p_value
    return float(min(1.0, max(MIN_P_VALUE, p_value)))


def benjamini_hochberg(p_values: Sequence[float | None], alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg false discovery rate control (statsmodels `multipletests(method='fdr_bh')`).

    Input: p-values (None/NaN allowed: those are neither tested nor counted in the number of tests).
    Output: (reject, q_values), arrays aligned with the input: reject is True where the hypothesis is rejected at
    FDR `alpha`; q_values are the BH-adjusted p-values (NaN where the input was missing).
    """
    p = np.array([np.nan if v is None else float(v) for v in p_values], dtype=float)
    reject = np.zeros(p.size, dtype=bool)
    q_values = np.full(p.size, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        rej, q, _, _ = multipletests(np.clip(p[tested], 0.0, 1.0), alpha=alpha, method="fdr_bh")
        reject[tested] = rej
        q_values[tested] = q
    return reject, q_values


@dataclass(frozen=True)
class ProportionComparison:
    """Result of `compare_proportions`: group 1 vs group 2.

    rate1/rate2 = count/n; difference = rate1 - rate2 with its interval (ci_low, ci_high); relative = rate1/rate2 - 1
    (NaN when rate2 is 0); z and p_value of the two-sided test of equal rates; n_effective1/2 are the sample sizes
    after the dispersion adjustment."""

    count1: float
    n1: float
    count2: float
    n2: float
    rate1: float
    rate2: float
    difference: float
    ci_low: float
    ci_high: float
    relative: float
    z: float
    p_value: float
    dispersion: float
    n_effective1: float
    n_effective2: float

    def evidence(self) -> dict[str, float]:
        """The Insight fields this comparison fills: p_value, effect, effect_relative, ci_low, ci_high."""
        return {
            "p_value": self.p_value,
            "effect": self.difference,
            "effect_relative": self.relative,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


def compare_proportions(
    count1: float, n1: float, count2: float, n2: float, level: float = 0.95, dispersion: float = 1.0
) -> ProportionComparison:
    """Two-proportion z-test (score test, no continuity correction) with the Newcombe interval of the difference,
    both from statsmodels (`test_proportions_2indep`, `confint_proportions_2indep`).

    count1 of n1 vs count2 of n2 (floats allowed); `level` of the interval. `dispersion` (>= 1): a quasi-binomial
    overdispersion factor phi; counts and sizes are divided by it before testing, so clustered data (renders of the
    same users, days with extra variance) get wider intervals instead of false significance. Both groups need n > 0.
    """
    if n1 <= 0 or n2 <= 0:
        raise ValueError(f"both groups need a positive size, got n1={n1}, n2={n2}")
    phi = max(1.0, float(dispersion))
    c1, m1, c2, m2 = count1 / phi, n1 / phi, count2 / phi, n2 / phi
    rate1, rate2 = count1 / n1, count2 / n2
    if (rate1 in (0.0, 1.0)) and rate1 == rate2:  # no variance at all: nothing to test
        z, p_value, low, high = 0.0, 1.0, 0.0, 0.0
    else:
        test = test_proportions_2indep(c1, m1, c2, m2, method="score", correction=False)
        low, high = confint_proportions_2indep(c1, m1, c2, m2, method="newcomb", alpha=1 - level)
        z, p_value = float(test.statistic), clamp_p(float(test.pvalue))
    return ProportionComparison(
        count1=float(count1),
        n1=float(n1),
        count2=float(count2),
        n2=float(n2),
        rate1=rate1,
        rate2=rate2,
        difference=rate1 - rate2,
        ci_low=float(low),
        ci_high=float(high),
        relative=rate1 / rate2 - 1 if rate2 > 0 else math.nan,
        z=z,
        p_value=p_value,
        dispersion=phi,
        n_effective1=m1,
        n_effective2=m2,
    )


def binomial_dispersion(counts: Sequence[float], sizes: Sequence[float]) -> float:
    """Quasi-binomial dispersion phi = max(1, Pearson chi2 / (k - 1)) of k daily (or per-cluster) counts around
    their pooled rate: 1 when the days vary no more than binomial noise, larger when they do. Input: counts and
    sizes of the same k groups (groups with size 0 are ignored); fewer than 2 groups give 1."""
    c = np.asarray(counts, dtype=float)
    n = np.asarray(sizes, dtype=float)
    keep = n > 0
    c, n = c[keep], n[keep]
    if c.size < 2 or n.sum() == 0:
        return 1.0
    rate = c.sum() / n.sum()
    if rate <= 0 or rate >= 1:
        return 1.0
    chi2 = np.sum((c - n * rate) ** 2 / (n * rate * (1 - rate)))
    return float(max(1.0, chi2 / (c.size - 1)))


def minimum_detectable_effect(baseline: float, users_per_arm: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest absolute increase of a proportion (e.g. 0.02 = 2 percentage points over `baseline`) that a two-arm
    test with `users_per_arm` users in each arm detects with `power` at two-sided level `alpha`: the experiment
    planner's number (`analytics.experiments.planner.proportion_mde`, Cohen's h with statsmodels), so a recommended
    test and `hitcraft experiments plan` agree. NaN when users_per_arm < 2 or baseline is not in (0, 1); when even
    a rise to 100 % is not detectable, 1 - baseline."""
    from hitcraft_assets.analytics.experiments.planner import proportion_mde

    return proportion_mde(baseline, users_per_arm, alpha, power)


def users_per_arm(baseline: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users needed in each arm of a two-arm test to detect an absolute change `effect` (may be negative) of a
    proportion from `baseline`, with `power` at two-sided level `alpha`: the experiment planner's number
    (`planner.proportion_users_per_arm`). Raises ValueError when baseline + effect is outside (0, 1) or effect is 0."""
    from hitcraft_assets.analytics.experiments.planner import proportion_users_per_arm

    return proportion_users_per_arm(baseline, effect, alpha, power)


def p_value_from_interval(estimate: float, low: float, high: float, level: float = 0.95) -> float:
    """Two-sided p-value of estimate = 0 implied by a symmetric normal interval (low, high) at `level`:
    z = estimate / ((high - low) / (2 z_level)). For evidence given as an interval only (e.g. a forecast band),
    used by the confidence score, not by the multiple-testing correction. NaN when the interval has no width."""
    half = (high - low) / 2
    if not np.isfinite(half) or half <= 0:
        return math.nan
    z = estimate / (half / stats.norm.ppf(0.5 + level / 2))
    return float(2 * stats.norm.sf(abs(z)))


def confidence_score(p_value: float | None, sample_size: float, effect_relative: float | None) -> float:
    """A 0..1 score of how much to trust a finding, from its p-value, sample size and relative effect:

        evidence = min(1, -log10(p) / 6)             (p = 0.05 -> 0.22, 1e-3 -> 0.5, <= 1e-6 -> 1)
        sample   = n / (n + 200)                     (n = 200 -> 0.5, 2,000 -> 0.91)
        effect   = |r| / (|r| + 0.10)                (10 % relative effect -> 0.5, 42 % -> 0.81)
        confidence = evidence^0.5 * sample^0.25 * effect^0.25   (weighted geometric mean)

    The p-value weighs most; small samples and tiny effects (significant only because n is huge) pull the score
    down. A missing p-value counts as p = 0.05 (interval-only evidence at the edge); a missing effect as 10 %.
    Rounded to 3 decimals."""
    p = 0.05 if p_value is None or not np.isfinite(p_value) else float(p_value)
    evidence = min(1.0, -math.log10(max(p, 1e-300)) / P_SATURATION_LOG10)
    n = max(0.0, float(sample_size))
    sample = n / (n + SAMPLE_HALF)
    r = EFFECT_HALF if effect_relative is None or not np.isfinite(effect_relative) else abs(float(effect_relative))
    effect = r / (r + EFFECT_HALF)
    score = (max(evidence, 0.0) ** 0.5) * (sample**0.25) * (effect**0.25)
    return round(float(min(1.0, max(0.0, score))), 3)
