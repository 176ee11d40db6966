"""Number grounding: formats that quote an evidence value are accepted, anything else is reported."""

from __future__ import annotations

from datetime import date

import pytest

from hitcraft_assets.reports.grounding import check_numbers, evidence_from, evidence_from_text, extract_numbers

EVIDENCE = evidence_from(
    [0.1249, 1234.4, 0.273, 1.271, 4120, -0.0218, 7, 15.1, 692.57],
    dates=[date(2026, 11, 9), date(2026, 11, 20)],
    p_values=[2e-9, 0.19],
)


@pytest.mark.parametrize(
    "text",
    [
        "12.5 %",
        "12.5%",
        "12 %",
        "0.125",
        "0.12",
        "12.5 percent",
        "1,234",
        "1.2k",
        "1.23 thousand",
        "27 %",
        "27.3%",
        "1.27x",
        "−2.2 pp",
        "a drop of 2.2 percentage points",
        "-2.18 pp",
        "4,120 renders",
        "15.1 minutes",
        "693 users",
        "over the last 7 days",
        "p < 0.001",
        "p = 0.19",
        "about 30 %",
        "under 14 %",
        "on 2026-11-09",
        "on Nov 9",
        "on 20 November 2026",
        "in 2026",
        "1. First\n2. Second",
        "D30 retention, the 2nd time",
    ],
)
def test_accepted(text):
    assert check_numbers(text, EVIDENCE) == []


@pytest.mark.parametrize(
    ("text", "reported"),
    [
        ("14 %", "14 %"),
        ("0.14", "0.14"),
        ("1.3k renders", "1.3k"),
        ("1,240 users", "1,240"),
        ("2.5 pp", "2.5 pp"),
        ("1.35x", "1.35x"),
        ("p = 0.05", "0.05"),
        ("about 40 %", "about 40 %"),
        ("more than 5,000 users", "more than 5,000"),
        ("on 2026-11-10", "2026-11-10"),
        ("on November 31", "November 31"),
        ("in 2025", "2025"),
        ("8 new users", "8"),
    ],
)
def test_rejected(text, reported):
    mismatches = check_numbers(text, EVIDENCE)
    assert [m.text for m in mismatches] == [reported]
    assert mismatches[0].context  # the words around it, for the log


def test_p_value_bound_needs_a_small_enough_p_value():
    assert check_numbers("p < 0.001", evidence_from([], p_values=[0.03])) != []
    assert check_numbers("p < 0.05", evidence_from([], p_values=[0.03])) == []


def test_a_whole_paragraph_reports_only_the_wrong_number():
    text = (
        "Render failures rose to 12.5 % on Nov 9 (4,120 renders), 27 % above the baseline; daily active users "
        "averaged 693, and sessions lasted 15.1 minutes, 42 % longer than before."
    )
    assert [m.text for m in check_numbers(text, EVIDENCE)] == ["42 %"]


def test_extraction_scales_and_tolerances():
    numbers = {n.text: n for n in extract_numbers("1.2k, 12.5 %, 1,234 and 3x")}
    assert (numbers["1.2k"].value, numbers["1.2k"].tolerance) == (1200.0, 50.0)
    assert numbers["12.5 %"].percent and numbers["12.5 %"].tolerance == pytest.approx(0.05)
    assert numbers["1,234"].value == 1234.0 and not numbers["3x"].percent


def test_evidence_from_machine_text():
    evidence = evidence_from_text('metric_date,value\n2026-11-09,0.2799\n{"p": 2e-09, "n": 703}')
    assert evidence.values == (0.2799, 2e-09, 703.0) and evidence.dates == {date(2026, 11, 9)}
    assert check_numbers("28.0 % of 703 renders on 2026-11-09", evidence) == []
