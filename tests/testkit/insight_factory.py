"""A complete Insight with known numbers for the report and `ask` tests; override any field."""

from __future__ import annotations

from datetime import date, timedelta

from hitcraft_assets.analytics.insights.model import Insight, Recommendation

AS_OF = date(2026, 11, 20)
INCIDENT = date(2026, 11, 9)


def make_insight(**overrides) -> Insight:
    """An opportunity insight about the polish-hit prompt; override any field."""
    fields = dict(
        key="prompt_outlier:prd_polish_hit",
        insight_type="opportunity",
        generator="prompt_outliers",
        as_of=AS_OF,
        title='Prompt "Help me turn my demo into a polished hit" completes 27% more renders',
        statement='The "Help me turn my demo into a polished hit" prompt completed 70.8% of 4,120 renders '
        "vs 55.7% for other production prompts (28 days).",
        metric="production_completion_rate",
        segment_type="prompt",
        segment_value="prd_polish_hit",
        window_start=AS_OF - timedelta(days=27),
        window_end=AS_OF,
        baseline_start=None,
        baseline_end=None,
        sample_size=4120,
        sample_unit="renders",
        test="two-proportion z-test",
        p_value=2e-9,
        effect=0.151,
        effect_relative=0.271,
        ci_low=0.13,
        ci_high=0.172,
        impact=310.0,
        impact_unit="productions",
        confidence=0.95,
        numbers={"prompt_rate": 0.708, "other_rate": 0.557, "renders": 4120.0},
        recommendations=(
            Recommendation("campaign", "Email intermediate users who have not tried the polish prompt."),
            Recommendation(
                "ab_test",
                "Feature the polish prompt first in the prompt list.",
                hypothesis="Featuring the prompt raises completion",
                metric="production_completion_rate",
                minimum_detectable_effect=0.02,
                users_per_arm=3900,
            ),
        ),
    )
    fields.update(overrides)
    return Insight(**fields)


def incident_insight(**overrides) -> Insight:
    """The iOS render-failure anomaly of 2026-11-09 with its root cause; override any field."""
    fields = dict(
        key="anomaly:render_failure_rate:platform=ios",
        insight_type="anomaly",
        generator="anomalies",
        title="Render failures spiked for iOS users",
        statement="On 2026-11-09 61.6% of 703 iOS renders failed against 12.2% expected.",
        metric="render_failure_rate",
        segment_type="platform",
        segment_value="ios",
        window_start=INCIDENT,
        window_end=INCIDENT,
        sample_size=703,
        test="robust z-score vs seasonal baseline",
        p_value=None,
        effect=0.494,
        effect_relative=None,
        ci_low=None,
        ci_high=None,
        impact=433.0,
        impact_unit="renders",
        confidence=0.99,
        numbers={"ios_failure_rate": 0.616, "expected_rate": 0.122, "renders": 703.0},
        recommendations=(Recommendation("investigate", "Check the iOS render service logs for 2026-11-09."),),
    )
    return make_insight(**(fields | overrides))
