"""Great Expectations 1.x validations of SQL query results, summarised for Dagster asset checks.

GX runs in an ephemeral context against the warehouse through SQLAlchemy, so expectations are computed
in PostgreSQL, not in Python memory. (dagster-ge does not support GX 1.x; this is the small bridge.)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str  # GX expectation type, e.g. expect_column_values_to_not_be_null
    column: str | None
    success: bool
    observed: str  # what GX saw, in words (counts, percentages, unexpected values)


def _describe(result: dict[str, Any]) -> str:
    parts = []
    if "element_count" in result:
        parts.append(f"{result['element_count']:,} rows")
    if result.get("unexpected_count"):
        parts.append(f"{result['unexpected_count']:,} unexpected ({result.get('unexpected_percent', 0):.3f}%)")
        sample = result.get("partial_unexpected_list") or []
        if sample:
            parts.append("e.g. " + ", ".join(repr(v) for v in sample[:5]))
    if "observed_value" in result:
        observed = result["observed_value"]
        if isinstance(observed, (list, set, tuple)):
            observed = ", ".join(map(str, sorted(observed, key=str)))
        parts.append(f"observed {observed}")
    if result.get("details", {}).get("mismatched"):
        parts.append(f"mismatched {result['details']['mismatched']}")
    return "; ".join(parts) or "no rows"


def validate_query(sqlalchemy_url: str, query: str, expectations: list, *, name: str) -> list[ExpectationOutcome]:
    """Run GX expectations (instances from `great_expectations.expectations`) on a query's rows."""
    import warnings

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    query = query.strip()
    if not query.lower().startswith("select"):  # GX query assets must start with SELECT (CTEs don't)
        query = f"select * from ({query}) as q"
    # GX's PostgresDatasource rejects Unix-socket URLs (the embedded server's); the generic SQL one works.
    warnings.filterwarnings("ignore", message=".*generic SQLDatasource.*")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_sql(name="warehouse", connection_string=sqlalchemy_url)
    batch = source.add_query_asset(name=name, query=query).add_batch_definition_whole_table("all")
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    validation = context.validation_definitions.add(gx.ValidationDefinition(data=batch, suite=suite, name=name))
    result = validation.run(result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
    outcomes = []
    for r in result.results:
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"GX could not evaluate {r.expectation_config.type} in {name}: "
                f"{r.exception_info.get('exception_message')}"
            )
        outcomes.append(
            ExpectationOutcome(
                expectation=r.expectation_config.type,
                column=r.expectation_config.kwargs.get("column") or r.expectation_config.kwargs.get("column_A"),
                success=bool(r.success),
                observed=_describe(r.result or {}),
            )
        )
    return outcomes


def outcomes_markdown(outcomes: list[ExpectationOutcome]) -> str:
    lines = ["| expectation | column | result | observed |", "|---|---|---|---|"]
    for o in outcomes:
        observed = o.observed.replace("|", "\\|")
        lines.append(f"| {o.expectation} | {o.column or ''} | {'pass' if o.success else 'FAIL'} | {observed} |")
    return "\n".join(lines)
