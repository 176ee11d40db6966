"""Marketing budget: per-channel response curves, ROI and marginal ROI with bootstrap intervals, a constrained
reallocation and a what-if simulation.

Assumptions, stated wherever the numbers are shown:
- A channel's daily signups respond to its daily spend as signups = a * spend^b (a power curve, b < 1 means
  diminishing returns), fitted by least squares on log-log days with spend and signups > 0 (statsmodels OLS).
- A signup of a channel is worth that channel's revenue so far per signup (paid subscriptions of its users): the
  value of a channel's users does not change with its spend.
- Days are independent; the intervals are a bootstrap over days (refit on resampled days).
So revenue(spend) = value_per_signup * a * spend^b, ROI = revenue / spend, marginal ROI = b * ROI at the current
spend. The reallocation maximises the predicted revenue of a daily budget under per-channel minimum and maximum
spend (scipy SLSQP); it is a proposal to test, not a causal guarantee: the curves are observational.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ChannelCurve", "fit_curves", "optimise", "parse_bounds", "what_if"]

BOOTSTRAP = 300
MIN_DAYS = 10


@dataclass(frozen=True)
class ChannelCurve:
    channel: str
    a: float
    b: float  # elasticity: 1 = constant returns, < 1 diminishing
    b_low: float
    b_high: float
    value_per_signup: float
    days: int
    mean_spend: float  # per day, over the fitted days
    roi: float  # predicted revenue / spend at the mean spend
    roi_low: float
    roi_high: float
    marginal_roi: float  # revenue of the next unit of spend at the mean spend
    marginal_roi_low: float
    marginal_roi_high: float
    boot: np.ndarray  # (BOOTSTRAP, 2): bootstrap draws of (log a, b)

    def signups(self, spend: float) -> float:
        return self.a * spend**self.b if spend > 0 else 0.0

    def revenue(self, spend: float) -> float:
        return self.value_per_signup * self.signups(spend)


def parse_bounds(values: list[str]) -> dict[str, float]:
    """CHANNEL=AMOUNT (or CHANNEL:AMOUNT) strings as {channel: amount}; ValueError naming the bad one."""
    out = {}
    for v in values:
        sep = "=" if "=" in v else ":"
        channel, _, amount = v.partition(sep)
        try:
            out[channel.strip()] = float(amount)
        except ValueError:
            raise ValueError(f"{v!r} is not CHANNEL=AMOUNT (e.g. google_ads=100)") from None
    return out


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    import statsmodels.api as sm

    fit = sm.OLS(y, sm.add_constant(x)).fit()
    return float(fit.params[0]), float(fit.params[1])


def fit_curves(daily: pd.DataFrame, value_per_signup: dict[str, float], seed: int = 0) -> list[ChannelCurve]:
    """Curves per channel from `daily` rows (channel, spend, signups); channels with fewer than MIN_DAYS usable days
    are left out (said by their absence)."""
    rng = np.random.default_rng(seed)
    out = []
    for channel, rows in daily.groupby("channel", sort=True):
        rows = rows[(rows["spend"] > 0) & (rows["signups"] > 0)]
        if len(rows) < MIN_DAYS or channel not in value_per_signup:
            continue
        x, y = np.log(rows["spend"].to_numpy(float)), np.log(rows["signups"].to_numpy(float))
        log_a, b = _fit(x, y)
        boot = np.array([_fit(x[i], y[i]) for i in (rng.integers(0, len(x), len(x)) for _ in range(BOOTSTRAP))])
        mean_spend = float(rows["spend"].mean())
        v = value_per_signup[channel]
        roi = v * np.exp(log_a) * mean_spend ** (b - 1)
        rois = v * np.exp(boot[:, 0]) * mean_spend ** (boot[:, 1] - 1)
        marginal = b * roi
        marginals = boot[:, 1] * rois
        out.append(
            ChannelCurve(
                channel=str(channel),
                a=float(np.exp(log_a)),
                b=b,
                b_low=float(np.quantile(boot[:, 1], 0.025)),
                b_high=float(np.quantile(boot[:, 1], 0.975)),
                value_per_signup=v,
                days=len(rows),
                mean_spend=mean_spend,
                roi=float(roi),
                roi_low=float(np.quantile(rois, 0.025)),
                roi_high=float(np.quantile(rois, 0.975)),
                marginal_roi=float(marginal),
                marginal_roi_low=float(np.quantile(marginals, 0.025)),
                marginal_roi_high=float(np.quantile(marginals, 0.975)),
                boot=boot,
            )
        )
    return out


def what_if(curves: list[ChannelCurve], allocation: dict[str, float]) -> pd.DataFrame:
    """Predicted daily signups and revenue of a daily allocation per channel, with 95 % bootstrap intervals."""
    unknown = set(allocation) - {c.channel for c in curves}
    if unknown:
        raise ValueError(f"no response curve for {', '.join(sorted(unknown))}")
    rows = []
    for c in curves:
        spend = float(allocation.get(c.channel, 0.0))
        draws = c.value_per_signup * np.exp(c.boot[:, 0]) * spend ** c.boot[:, 1] if spend > 0 else np.zeros(1)
        rows.append(
            {
                "channel": c.channel,
                "spend": spend,
                "signups": c.signups(spend),
                "revenue": c.revenue(spend),
                "revenue_low": float(np.quantile(draws, 0.025)),
                "revenue_high": float(np.quantile(draws, 0.975)),
            }
        )
    return pd.DataFrame(rows)


def optimise(
    curves: list[ChannelCurve],
    total: float,
    minimum: dict[str, float] | None = None,
    maximum: dict[str, float] | None = None,
) -> pd.DataFrame:
    """The daily allocation of `total` that maximises predicted revenue under per-channel bounds (default: 0 to
    3x the channel's mean spend, no extrapolation far beyond what was observed), next to the current (mean) one."""
    from scipy.optimize import minimize

    if not curves:
        raise ValueError("no channel has a response curve (spend and signups on at least 10 days)")
    minimum, maximum = minimum or {}, maximum or {}
    unknown = (set(minimum) | set(maximum)) - {c.channel for c in curves}
    if unknown:
        raise ValueError(f"no response curve for {', '.join(sorted(unknown))}")
    bounds = [(float(minimum.get(c.channel, 0.0)), float(maximum.get(c.channel, 3 * c.mean_spend))) for c in curves]
    for c, (lo, hi) in zip(curves, bounds):
        if lo > hi:
            raise ValueError(f"{c.channel}: minimum {lo} is above maximum {hi}")
    if sum(lo for lo, _ in bounds) > total or sum(hi for _, hi in bounds) < total:
        raise ValueError(
            f"a total of {total} cannot meet the bounds (minimums {sum(lo for lo, _ in bounds):.2f}, "
            f"maximums {sum(hi for _, hi in bounds):.2f})"
        )

    def negative_revenue(s: np.ndarray) -> float:
        return -sum(c.revenue(max(v, 0.0)) for c, v in zip(curves, s))

    current = np.array([c.mean_spend for c in curves])
    start = np.clip(current * total / current.sum(), [lo for lo, _ in bounds], [hi for _, hi in bounds])
    result = minimize(
        negative_revenue,
        start,
        method="SLSQP",
        bounds=bounds,
        constraints=[{"type": "eq", "fun": lambda s: s.sum() - total}],
        options={"maxiter": 500, "ftol": 1e-10},
    )
    if not result.success:
        raise RuntimeError(f"the optimiser did not converge: {result.message}")
    proposed = what_if(curves, {c.channel: float(v) for c, v in zip(curves, result.x)})
    now = what_if(curves, {c.channel: float(v) for c, v in zip(curves, current * total / current.sum())})
    return pd.DataFrame(
        {
            "channel": proposed["channel"],
            "current_spend": now["spend"],
            "current_revenue": now["revenue"],
            "proposed_spend": proposed["spend"],
            "proposed_revenue": proposed["revenue"],
            "proposed_revenue_low": proposed["revenue_low"],
            "proposed_revenue_high": proposed["revenue_high"],
            "min_spend": [lo for lo, _ in bounds],
            "max_spend": [hi for _, hi in bounds],
        }
    )
