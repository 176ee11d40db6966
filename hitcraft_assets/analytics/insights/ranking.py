"""Selecting the day's insights: Benjamini-Hochberg over all candidates with a p-value, interval checks for the
rest, ranking by impact x confidence x novelty, and merging with the previous day's insights (same key on
consecutive days = one running insight, not a repeat)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import pandas as pd

from hitcraft_assets.analytics.insights.model import Insight
from hitcraft_assets.analytics.insights.stats import benjamini_hochberg

NOVELTY_DECAY = 0.15  # novelty lost per earlier consecutive day with a similar effect
NOVELTY_FLOOR = 0.4  # a long-running finding still ranks, below fresh ones of the same weight
SIMILAR_EFFECT = 0.25  # effects within 25 % of yesterday's (same sign) count as "the same news"
T = TypeVar("T")
LOOKBACK_DAYS = 7  # a key last reported longer ago than this is news again
_RANKED_OUT_REASONS = ("ranked below the top", "already ")  # passed the tests, left out by top_n / the cap


@dataclass(frozen=True)
class RankedInsight:
    """A selected insight with its place in the day's ranking.

    rank: 1 = first. score = log10(1 + impact) x confidence x novelty. q_value: Benjamini-Hochberg adjusted p (None
    for interval-only evidence). novelty: 1 for news, lower when the same key ran on the previous days with a
    similar effect. first_seen / days_running: the run of consecutive days this key has been reported (1 = new)."""

    insight: Insight
    rank: int
    score: float
    q_value: float | None
    novelty: float
    first_seen: date
    days_running: int

    def to_record(self) -> dict:
        """Insight.to_record() plus rank, score, q_value, novelty, first_seen, days_running (what `previous` takes)."""
        return self.insight.to_record() | {
            "rank": self.rank,
            "score": self.score,
            "q_value": self.q_value,
            "novelty": self.novelty,
            "first_seen": self.first_seen,
            "days_running": self.days_running,
        }


@dataclass(frozen=True)
class RejectedInsight:
    """A candidate that did not make the day's list, with the reason (for the insight library). A candidate that
    passed the tests and was only left out by `top_n` or the per-generator cap is `ranked_out` and carries its
    novelty and run like a selected one: it still counts as known news the next day."""

    insight: Insight
    reason: str
    q_value: float | None = None
    ranked_out: bool = False
    score: float | None = None
    novelty: float | None = None
    first_seen: date | None = None
    days_running: int | None = None

    def to_record(self) -> dict:
        """Insight.to_record() plus reason and q_value (and score, novelty, first_seen, days_running if ranked out)."""
        extra = {"score": self.score, "novelty": self.novelty, "first_seen": self.first_seen,
                 "days_running": self.days_running} if self.ranked_out else {}  # fmt: skip
        return self.insight.to_record() | {"reason": self.reason, "q_value": self.q_value} | extra


@dataclass(frozen=True)
class Selection:
    """Result of `select_insights`: selected (ranked, best first), rejected (with reasons), tests = number of
    p-values in the Benjamini-Hochberg correction."""

    selected: list[RankedInsight]
    rejected: list[RejectedInsight]
    tests: int


def history_records(selected: Iterable[RankedInsight], rejected: Iterable[RejectedInsight]) -> list[dict]:
    """The records the next days' ranking needs (`previous`): the selected and the ranked-out candidates."""
    return [r.to_record() for r in selected] + [r.to_record() for r in rejected if r.ranked_out]


def is_history_record(record: Mapping) -> bool:
    """True for a stored library row that belongs in `previous`: selected, or ranked out (see RejectedInsight)."""
    reason = str(record.get("reason") or "")
    return record.get("status") == "selected" or reason.startswith(_RANKED_OUT_REASONS)


def select_insights(
    candidates: Sequence[Insight],
    previous: Iterable[Mapping] = (),
    alpha: float = 0.05,
    top_n: int = 10,
    max_per_generator: int | None = 3,
    novelty_decay: float = NOVELTY_DECAY,
    novelty_floor: float = NOVELTY_FLOOR,
    similar_effect: float = SIMILAR_EFFECT,
) -> Selection:
    """Test, rank and merge the day's candidate insights.

    candidates: the generators' Insights of one day (all with the same as_of). previous: records of earlier days
    (`history_records`, or library rows passing `is_history_record`: dicts with at least key, as_of,
    effect, and first_seen / days_running): yesterday's are enough for merging; records of the last 7 days also
    count for novelty after a gap. A finding that passed the tests but was not selected still ages: otherwise the
    per-generator cap would rotate a generator's findings and each would come back as news.

    1. One candidate per key: duplicates keep the smallest p-value (reason 'duplicate key').
    2. Benjamini-Hochberg at FDR `alpha` across ALL candidates that have a p-value (one family per day, whatever
       the generator). Candidates without a p-value pass only when their interval (ci_low, ci_high) excludes 0.
    3. Novelty: 1 for a key not reported in the last 7 days, or when the effect differs from the latest report's by
       more than `similar_effect` (relative) or changed sign; otherwise max(novelty_floor, (1 - novelty_decay) ** k),
       k = days it was reported in the last 7 (at least the run length carried by yesterday's record, capped at 7).
       A key reported yesterday is merged: first_seen and days_running carry over (days_running + 1); after a gap
       the run restarts.
    4. score = log10(1 + impact) x confidence x novelty (log: impacts come in different units and span orders of
       magnitude; a big count should not drown every user-level finding). Ties keep the smaller p-value first.
    5. `top_n` are selected: first the best candidate of each generator, then the next best of any, with at most
       `max_per_generator` per generator (None = no cap), so one generator's many segments do not crowd out the
       other analyses; ranks follow that order. The others are rejected with the reason.
    """
    survivors, rejected = _dedupe(candidates)
    p_values = [c.p_value if c.p_value is not None and math.isfinite(c.p_value) else None for c in survivors]
    reject, q_values = benjamini_hochberg(p_values, alpha=alpha)
    tests = sum(p is not None for p in p_values)
    passed: list[tuple[Insight, float | None]] = []
    for candidate, p, rej, q in zip(survivors, p_values, reject, q_values, strict=True):
        if p is not None:
            if rej:
                passed.append((candidate, float(q)))
            else:
                reason = f"not significant after Benjamini-Hochberg: q = {q:.3g} > {alpha} ({tests} tests)"
                rejected.append(RejectedInsight(candidate, reason, float(q)))
        elif candidate.ci_low is None or candidate.ci_high is None:
            rejected.append(RejectedInsight(candidate, "no p-value and no interval"))
        elif candidate.ci_low <= 0 <= candidate.ci_high:
            rejected.append(RejectedInsight(candidate, "interval includes 0"))
        else:
            passed.append((candidate, None))
    history = _history(previous, candidates[0].as_of if candidates else None)
    scored = []
    for candidate, q in passed:
        novelty, first_seen, days_running = _novelty(candidate, history.get(candidate.key, []), novelty_decay,
                                                     novelty_floor, similar_effect)  # fmt: skip
        score = math.log10(1 + max(candidate.impact, 0.0)) * candidate.confidence * novelty
        scored.append((score, candidate, q, novelty, first_seen, days_running))
    scored.sort(key=lambda s: (-s[0], s[1].p_value if s[1].p_value is not None else 1.0, s[1].key))
    scored = each_generator_first(scored, lambda entry: entry[1].generator)
    selected: list[RankedInsight] = []
    per_generator: dict[str, int] = {}
    for score, candidate, q, novelty, first_seen, days_running in scored:
        reason = None
        if len(selected) >= top_n:
            reason = f"{_RANKED_OUT_REASONS[0]} {top_n}"
        elif max_per_generator is not None and per_generator.get(candidate.generator, 0) >= max_per_generator:
            reason = f"{_RANKED_OUT_REASONS[1]}{max_per_generator} from {candidate.generator}"
        if reason is not None:
            rejected.append(RejectedInsight(candidate, reason, q, ranked_out=True, score=round(score, 4),
                                            novelty=round(novelty, 3), first_seen=first_seen,
                                            days_running=days_running))  # fmt: skip
            continue
        per_generator[candidate.generator] = per_generator.get(candidate.generator, 0) + 1
        selected.append(
            RankedInsight(candidate, len(selected) + 1, round(score, 4), q, round(novelty, 3), first_seen, days_running)
        )
    return Selection(selected=selected, rejected=rejected, tests=tests)


def each_generator_first(items: Sequence[T], generator: Callable[[T], str]) -> list[T]:
    """`items` (best first) reordered: the first item of each generator, then the others, both in their order."""
    leaders, followers, seen = [], [], set()
    for item in items:
        (followers if generator(item) in seen else leaders).append(item)
        seen.add(generator(item))
    return leaders + followers


def _dedupe(candidates: Sequence[Insight]) -> tuple[list[Insight], list[RejectedInsight]]:
    best: dict[str, Insight] = {}
    rejected = []
    for candidate in candidates:
        other = best.get(candidate.key)
        if other is None:
            best[candidate.key] = candidate
            continue
        keep, drop = (candidate, other) if _p(candidate) < _p(other) else (other, candidate)
        best[candidate.key] = keep
        rejected.append(RejectedInsight(drop, "duplicate key"))
    return list(best.values()), rejected


def _p(insight: Insight) -> float:
    return insight.p_value if insight.p_value is not None and math.isfinite(insight.p_value) else 1.0


def _history(previous: Iterable[Mapping], as_of: date | None) -> dict[str, list[Mapping]]:
    """Earlier records per key (as_of before the candidates' day), latest first."""
    by_key: dict[str, list[Mapping]] = {}
    for record in previous:
        if as_of is not None and pd.Timestamp(record["as_of"]).date() >= as_of:
            continue
        by_key.setdefault(record["key"], []).append(record)
    for records in by_key.values():
        records.sort(key=lambda r: pd.Timestamp(r["as_of"]), reverse=True)
    return by_key


def _novelty(candidate: Insight, records: list[Mapping], decay: float, floor: float, similar: float):
    """(novelty, first_seen, days_running) of a candidate given its key's earlier records, latest first."""
    recent = [r for r in records if (candidate.as_of - pd.Timestamp(r["as_of"]).date()).days <= LOOKBACK_DAYS]
    if not recent:
        return 1.0, candidate.as_of, 1
    latest = recent[0]
    latest_day = pd.Timestamp(latest["as_of"]).date()
    consecutive = latest_day == candidate.as_of - timedelta(days=1)
    if consecutive:
        first_seen = pd.Timestamp(latest.get("first_seen") or latest_day).date()
        days_running = int(latest.get("days_running") or (latest_day - first_seen).days + 1) + 1
    else:
        first_seen, days_running = candidate.as_of, 1
    if not _similar(candidate.effect, latest.get("effect"), similar):
        return 1.0, first_seen, days_running
    # earlier days reported: the distinct days in the lookback, or the run carried by yesterday's record
    days_reported = len({pd.Timestamp(r["as_of"]).date() for r in recent})
    if consecutive:
        days_reported = max(days_reported, min(days_running - 1, LOOKBACK_DAYS))
    return max(floor, (1 - decay) ** days_reported), first_seen, days_running


def _similar(effect: float | None, previous_effect, tolerance: float) -> bool:
    if effect is None or previous_effect is None or pd.isna(previous_effect):
        return True  # nothing to compare: treat as the same news
    previous_effect = float(previous_effect)
    if previous_effect == 0:
        return effect == 0
    if (effect > 0) != (previous_effect > 0):
        return False
    return abs(effect - previous_effect) <= tolerance * abs(previous_effect)
