"""The dbt project, on its own so that `make`, CI and `hitcraft dev` can prepare its manifest before the
code location loads. (Not `prepare_if_dev()`: every process under `dagster dev` inherits its marker, so each
run worker and step would re-parse the project.)"""

from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def manifest_is_stale() -> bool:
    """True when the manifest is missing or older than any model, macro, seed, test or project file."""
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources += [p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > built for p in sources)


def prepare_manifest() -> bool:
    """Parse the dbt project (writes target/manifest.json) when it changed; returns whether it parsed."""
    if not manifest_is_stale():
        return False
    dbt_project.preparer.prepare(dbt_project)
    return True
