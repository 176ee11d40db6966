"""dbt domain: the dbt project's models, seeds and tests as assets and asset checks."""

import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from hitcraft_assets.defs.dbt.assets import dbt_daily_models, dbt_models
from hitcraft_assets.defs.dbt.project import dbt_project

defs = dg.Definitions(
    assets=[dbt_daily_models, dbt_models],
    # The dbt next to this interpreter (the venv's), whatever PATH the Dagster process was started with.
    resources={"dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=str(Path(sys.executable).parent / "dbt"))},
)
