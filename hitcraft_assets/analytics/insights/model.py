"""The insight record shared by the generators, the ranking, the insight library and the reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

INSIGHT_TYPES = ("opportunity", "risk", "success", "anomaly", "trend")
ACTION_KINDS = ("campaign", "product_change", "onboarding", "ab_test", "investigate")


@dataclass(frozen=True)
class Recommendation:
    """A concrete recommended action. For kind 'ab_test': hypothesis, metric and minimum_detectable_effect (an
    absolute difference in the metric's unit, e.g. 0.02 = 2 percentage points) with the users per arm it needs."""

    kind: str  # one of ACTION_KINDS
    action: str  # one imperative sentence
    hypothesis: str | None = None
    metric: str | None = None
    minimum_detectable_effect: float | None = None
    users_per_arm: int | None = None


@dataclass(frozen=True)
class Insight:
    """One evidence-backed finding of a day.

    key: stable identity across days (generator + subject, e.g. "prompt_outlier:prd_polish_hit"): the same key
        on consecutive days is the same insight, merged rather than repeated.
    insight_type: one of INSIGHT_TYPES. generator: the function that produced it.
    title: one line. statement: one paragraph with its numbers, comparison window and sample size.
    metric / segment_type / segment_value: what it is about (None when not applicable).
    window_start / window_end: the comparison window the numbers come from; baseline_start / baseline_end: what
        it is compared with (None when not a comparison).
    sample_size: users (or renders, sessions …; `sample_unit` says which) behind the numbers.
    test: the statistical test; p_value (None when the evidence is an interval, not a test); ci_low / ci_high:
        the interval of `effect`; effect: the estimated difference in the metric's unit; effect_relative.
    impact: estimated users (or productions) affected per week (`impact_unit`); confidence: 0..1.
    numbers: every number the statement quotes, by name (the report and Claude's grounding check use them).
    recommendations: 1–2 actions.
    """

    key: str
    insight_type: str
    generator: str
    as_of: date
    title: str
    statement: str
    metric: str | None
    segment_type: str | None
    segment_value: str | None
    window_start: date | None
    window_end: date | None
    baseline_start: date | None
    baseline_end: date | None
    sample_size: int
    sample_unit: str
    test: str
    p_value: float | None
    effect: float | None
    effect_relative: float | None
    ci_low: float | None
    ci_high: float | None
    impact: float
    impact_unit: str
    confidence: float
    numbers: dict[str, float] = field(default_factory=dict)
    recommendations: tuple[Recommendation, ...] = ()

    def __post_init__(self) -> None:
        if self.insight_type not in INSIGHT_TYPES:
            raise ValueError(f"insight {self.key}: type {self.insight_type!r} is not one of {INSIGHT_TYPES}")
        if not 0 <= self.confidence <= 1:
            raise ValueError(f"insight {self.key}: confidence {self.confidence} outside [0, 1]")
        for rec in self.recommendations:
            if rec.kind not in ACTION_KINDS:
                raise ValueError(f"insight {self.key}: action kind {rec.kind!r} is not one of {ACTION_KINDS}")

    def to_record(self) -> dict:
        """A flat dict for a DataFrame / the warehouse (recommendations and numbers as JSON-able lists/dicts)."""
        record = asdict(self)
        record["recommendations"] = [asdict(r) for r in self.recommendations]
        return record
