"""The daily report's Experiments section: each experiment's verdict (an SRM warning first) and, for experiments
that test a recommended A/B test, the hypothesis and its predicted effect next to the result."""

from __future__ import annotations

from datetime import date

import pandas as pd

from hitcraft_assets.reports.daily import ReportTable

__all__ = ["experiment_section"]


def experiment_section(
    summaries: pd.DataFrame | None, hypotheses: pd.DataFrame | None, as_of: date
) -> ReportTable | None:
    """The newest readout of each experiment on or before `as_of`; None without experiments."""
    if summaries is None or summaries.empty:
        return None
    days = pd.to_datetime(summaries["as_of"]).dt.date
    s = summaries[days <= as_of]
    if s.empty:
        return None
    s = s.sort_values("as_of").drop_duplicates("experiment", keep="last")
    s = s.sort_values(["trustworthy", "experiment"])  # untrustworthy first
    links = {}
    if hypotheses is not None and len(hypotheses):
        for h in hypotheses.dropna(subset=["experiment"]).itertuples(index=False):
            pred = (
                f"; predicted {100 * float(h.predicted_effect):+.1f} pp ({int(h.users_per_arm):,}/arm)"
                if pd.notna(h.predicted_effect) and pd.notna(h.users_per_arm)
                else ""
            )
            links.setdefault(h.experiment, []).append(f'"{h.hypothesis}" ({h.created_on}{pred})')
    rows = []
    for r in s.itertuples(index=False):
        verdict = r.decision if r.trustworthy else "UNTRUSTWORTHY (sample-ratio mismatch): " + r.decision
        expected = f"; sample expected {r.expected_date}" if pd.notna(r.expected_date) and r.expected_date else ""
        rows.append(
            (
                str(r.experiment),
                str(r.status),
                verdict,
                f"{r.reason}{expected}",
                "; ".join(links.get(r.experiment, [])) or "-",
            )
        )
    return ReportTable(
        title="Experiments",
        columns=("experiment", "status", "decision", "why", "hypothesis tested (recommended on; predicted effect)"),
        rows=tuple(rows),
        note="Decisions use always-valid intervals (daily looks do not inflate false positives); a sample-ratio "
        "mismatch makes a readout untrustworthy. `hitcraft experiments show NAME` has every metric.",
    )
