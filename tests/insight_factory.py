"""A complete Insight with known numbers for the report and `ask` tests; override any field."""

from __future__ import annotations

from datetime import date, timedelta

from hitcraft_assets.analytics.insights.model import Insight, Recommendation

AS_OF = date(2026, 11, 20)


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
