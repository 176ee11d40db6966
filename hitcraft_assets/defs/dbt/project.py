"""The dbt project, on its own so that `make` / CI can prepare its manifest before definitions load."""

from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` the manifest is re-parsed at load so model edits show up without a make step.
dbt_project.prepare_if_dev()
