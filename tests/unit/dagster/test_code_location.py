"""Loading the code location stays light, and the wiring lives where the README says: every definition comes from
the `defs/` folder, the shared resources from `defs/resources.py`, the automation sensor from `defs/automation.py`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import dagster as dg

HEAVY = ("pandas", "xgboost", "matplotlib", "great_expectations", "sklearn", "scipy", "statsmodels")


def _fresh(code: str) -> dict:
    """Run `code` in a fresh interpreter (it prints one JSON value) and return what it printed."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_loading_the_code_location_imports_no_heavy_library():
    loaded = _fresh(f"""
        import json, sys
        import hitcraft_assets.definitions as location
        location.defs.resolve_asset_graph()  # build every definition, as a code server does
        print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
    """)
    assert loaded == []


def test_importing_a_domain_constant_does_not_build_the_domain():
    loaded = _fresh("""
        import json, sys
        from hitcraft_assets.defs.ml.common import DAILY_METRICS
        assert DAILY_METRICS.to_user_string() == "marts/daily_metrics"
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("hitcraft_assets.defs."))))
    """)
    assert not [m for m in loaded if m.startswith(("hitcraft_assets.defs.ml.", "hitcraft_assets.defs.insights."))
                and m != "hitcraft_assets.defs.ml.common"]  # fmt: skip
    assert "hitcraft_assets.defs.ingest.assets" not in loaded


def test_definitions_come_from_their_own_modules():
    from hitcraft_assets.definitions import defs
    from hitcraft_assets.defs.automation import automation_sensor

    repository = defs.get_repository_def()
    assert set(repository.get_top_level_resources()) == {"warehouse", "mixpanel", "dbt"}
    sensor = repository.get_sensor_def("hitcraft_automation")
    assert sensor is automation_sensor and sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_resources_declare_their_secrets_as_env_vars(monkeypatch):
    from hitcraft_assets.defs.resources import MixpanelResource, mixpanel_resource, warehouse_resource

    for name in ("MIXPANEL_PROJECT_ID", "MIXPANEL_SERVICE_ACCOUNT_USERNAME", "MIXPANEL_SERVICE_ACCOUNT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HITCRAFT_DATABASE_URL", raising=False)
    assert mixpanel_resource().service_account_secret is None  # the sample Mixpanel
    assert warehouse_resource().database_url is None  # the embedded database

    monkeypatch.setenv("MIXPANEL_PROJECT_ID", "42")
    monkeypatch.setenv("MIXPANEL_SERVICE_ACCOUNT_USERNAME", "sa.user")
    monkeypatch.setenv("MIXPANEL_SERVICE_ACCOUNT_SECRET", "s3cret")
    monkeypatch.setenv("HITCRAFT_DATABASE_URL", "postgresql://u:pw@db.example.com/hitcraft")
    resource = mixpanel_resource()
    assert resource.service_account_secret == dg.EnvVar("MIXPANEL_SERVICE_ACCOUNT_SECRET")
    assert resource.project_id == dg.EnvVar("MIXPANEL_PROJECT_ID")
    assert warehouse_resource().database_url == dg.EnvVar("HITCRAFT_DATABASE_URL")
    # incomplete credentials do not break the code location; a run that opens Mixpanel names what is missing
    monkeypatch.delenv("MIXPANEL_SERVICE_ACCOUNT_SECRET")
    assert mixpanel_resource() == MixpanelResource()
