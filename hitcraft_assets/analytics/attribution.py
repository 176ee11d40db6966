"""Multi-touch attribution of paid conversions and their revenue to marketing channels or campaigns, under six
models side by side (the customer's "attribution model comparator").

A path is a user's touches (marts.marketing_touchpoints) in time order: for a converting user, the touches up to
the conversion and within `lookback_days` of it; for the others, their touches in the same lookback before the
newest touch. Each converting path hands out one conversion and the user's revenue:

- first touch, last touch: all of it to the first / last touch;
- linear: equal shares;
- time decay: weights 2^(-days before conversion / half_life_days);
- position based (U-shaped): 40 % first, 40 % last, 20 % shared by the middle (a path of two: 50/50);
- data-driven, Markov chain removal effect (Anderl et al. 2016): a first-order chain over start -> touches ->
  conversion / null fitted on converting and non-converting paths; a channel's removal effect is the share of
  conversions lost when its state leads to null; conversions and revenue are split in proportion to the removal
  effects.

Credits of every model sum to the number of converting paths (and their revenue): the asset checks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["MODELS", "Path", "attribute", "build_paths", "compare", "markov_removal_effects"]

MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov")


@dataclass(frozen=True)
class Path:
    user_key: str
    touches: tuple[str, ...]
    days_before: tuple[float, ...]  # of each touch before the conversion (converting paths)
    converted: bool
    revenue: float


def build_paths(touchpoints: pd.DataFrame, level: str = "source", lookback_days: float = 30.0) -> list[Path]:
    """Paths from marketing_touchpoints rows (user_key, touch_time, `level`, converted_at, days_before_conversion,
    revenue)."""
    if level not in ("source", "campaign"):
        raise ValueError(f"level must be source or campaign, not {level!r}")
    if touchpoints.empty:
        return []
    frame = touchpoints.sort_values(["user_key", "touch_time"])
    out = []
    for user, rows in frame.groupby("user_key", sort=True):
        converted = rows["converted_at"].notna().iloc[0]
        if converted:
            days = rows["days_before_conversion"].astype(float)
            rows = rows[(days >= 0) & (days <= lookback_days)]
            if rows.empty:  # converted without a touch in the lookback: not attributable to a campaign
                continue
            days_before = tuple(rows["days_before_conversion"].astype(float))
        else:
            last = pd.to_datetime(rows["touch_time"]).max()
            rows = rows[pd.to_datetime(rows["touch_time"]) >= last - pd.Timedelta(days=lookback_days)]
            days_before = tuple(0.0 for _ in range(len(rows)))
        out.append(
            Path(
                str(user), tuple(rows[level].astype(str)), days_before, bool(converted), float(rows["revenue"].iloc[0])
            )
        )
    return out


def _weights(path: Path, model: str, half_life_days: float) -> np.ndarray:
    n = len(path.touches)
    if model == "first_touch":
        w = np.zeros(n)
        w[0] = 1.0
    elif model == "last_touch":
        w = np.zeros(n)
        w[-1] = 1.0
    elif model == "linear":
        w = np.full(n, 1.0 / n)
    elif model == "time_decay":
        w = np.power(2.0, -np.asarray(path.days_before) / half_life_days)
        w = w / w.sum()
    elif model == "position_based":
        if n == 1:
            w = np.ones(1)
        elif n == 2:
            w = np.array([0.5, 0.5])
        else:
            w = np.full(n, 0.2 / (n - 2))
            w[0] = w[-1] = 0.4
    else:
        raise ValueError(f"unknown rule-based model {model!r}")
    return w


def markov_removal_effects(paths: list[Path]) -> dict[str, float]:
    """Removal effect of each channel: 1 - P(conversion without it) / P(conversion), first-order chain."""
    channels = sorted({t for p in paths for t in p.touches})
    states = ["(start)", *channels, "(conversion)", "(null)"]
    index = {s: i for i, s in enumerate(states)}
    counts = np.zeros((len(states), len(states)))
    for p in paths:
        seq = ["(start)", *p.touches, "(conversion)" if p.converted else "(null)"]
        for a, b in zip(seq, seq[1:]):
            counts[index[a], index[b]] += 1
    rows = counts.sum(axis=1, keepdims=True)
    transition = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)

    def p_conversion(removed: str | None) -> float:
        t = transition.copy()
        if removed is not None:  # every transition into the removed channel goes to null instead
            r = index[removed]
            t[:, index["(null)"]] += t[:, r]
            t[:, r] = 0.0
            t[r, :] = 0.0
        transient = list(range(len(channels) + 1))  # start and the channels
        q = t[np.ix_(transient, transient)]
        to_conversion = t[transient, index["(conversion)"]]
        absorbed = np.linalg.solve(np.eye(len(transient)) - q, to_conversion)
        return float(absorbed[0])

    base = p_conversion(None)
    if base <= 0:
        return {c: 0.0 for c in channels}
    return {c: 1.0 - p_conversion(c) / base for c in channels}


def attribute(paths: list[Path], model: str, half_life_days: float = 7.0) -> pd.DataFrame:
    """Credits per channel under `model`: conversions and revenue (columns key, conversions, revenue)."""
    converting = [p for p in paths if p.converted]
    conversions: dict[str, float] = {}
    revenue: dict[str, float] = {}
    if model == "markov":
        effects = markov_removal_effects(paths)
        total = sum(effects.values())
        if total > 0:
            n, money = len(converting), sum(p.revenue for p in converting)
            for c, e in effects.items():
                conversions[c] = n * e / total
                revenue[c] = money * e / total
    else:
        for p in converting:
            for touch, w in zip(p.touches, _weights(p, model, half_life_days)):
                conversions[touch] = conversions.get(touch, 0.0) + w
                revenue[touch] = revenue.get(touch, 0.0) + w * p.revenue
    keys = sorted(set(conversions) | {t for p in paths for t in p.touches})
    return pd.DataFrame(
        {
            "key": keys,
            "conversions": [conversions.get(k, 0.0) for k in keys],
            "revenue": [revenue.get(k, 0.0) for k in keys],
        }
    )


def compare(paths: list[Path], half_life_days: float = 7.0) -> pd.DataFrame:
    """Every model's credits per channel side by side (rows: key x model), with each model's share of the
    conversions and, per key, the disagreement: the spread (max - min) of its share across the models."""
    frames = []
    for model in MODELS:
        f = attribute(paths, model, half_life_days).assign(model=model)
        total = f["conversions"].sum()
        frames.append(f.assign(share=f["conversions"] / total if total else 0.0))
    out = pd.concat(frames, ignore_index=True)
    spread = out.groupby("key")["share"].agg(lambda s: float(s.max() - s.min()))
    return out.assign(disagreement=out["key"].map(spread))[
        ["model", "key", "conversions", "revenue", "share", "disagreement"]
    ]
