"""The Dagster code location: every domain's definitions, merged."""

import dagster as dg

from hitcraft_assets.defs import ingest

defs = dg.Definitions.merge(ingest.defs)
