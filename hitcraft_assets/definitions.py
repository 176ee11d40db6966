"""The Dagster code location: every domain's definitions, merged."""

import warnings

import dagster as dg

# Single-run backfill policies and partitioned asset checks are beta/preview in Dagster 1.13; both are
# deliberate choices here, so their warnings would only be noise in every process's log.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

from hitcraft_assets.defs import alerts, dbt, ingest, insights, ml  # noqa: E402 (after the warning filters)

defs = dg.Definitions.merge(ingest.defs, dbt.defs, ml.defs, insights.defs, alerts.defs)
