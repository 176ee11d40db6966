"""The code location: every definition under `hitcraft_assets/defs/`, loaded by Dagster from the folder."""

import warnings
from pathlib import Path

import dagster as dg

# Single-run backfill policies and partitioned asset checks are beta/preview in Dagster 1.13; both are
# deliberate choices here, so their warnings would only be noise in every process's log.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
