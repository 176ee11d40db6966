"""Shared fixtures: an embedded PostgreSQL per test worker (or HITCRAFT_TEST_DATABASE_URL), clean env."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_ENV_TO_CLEAR = [
    "MIXPANEL_PROJECT_ID",
    "MIXPANEL_SERVICE_ACCOUNT_USERNAME",
    "MIXPANEL_SERVICE_ACCOUNT_SECRET",
    "MIXPANEL_REGION",
    "MIXPANEL_PROJECT_TIMEZONE",
    "MIXPANEL_LEGACY_LOCAL_TIME",
    "MIXPANEL_API_BASE_URL",
    "HITCRAFT_DATABASE_URL",
    "DAGSTER_PG_URL",
    "HITCRAFT_REPORTING_TIMEZONE",
    "HITCRAFT_SAMPLE_SCENARIO",
]


@pytest.fixture(scope="session")
def hitcraft_home() -> Path:
    """A short HITCRAFT_HOME for this worker (Unix-socket paths must stay under ~100 bytes)."""
    for name in _ENV_TO_CLEAR:
        os.environ.pop(name, None)
    home = Path(tempfile.mkdtemp(prefix="hct-", dir="/tmp"))
    os.environ["HITCRAFT_HOME"] = str(home)
    yield home
    from hitcraft_assets import warehouse

    warehouse.stop_embedded()


@pytest.fixture(scope="session")
def warehouse_url(hitcraft_home: Path) -> str:
    from hitcraft_assets import warehouse

    return os.environ.get("HITCRAFT_TEST_DATABASE_URL") or warehouse.warehouse_url()


@pytest.fixture
def conn(warehouse_url: str):
    """A warehouse connection on an empty `raw` schema."""
    from hitcraft_assets import warehouse
    from hitcraft_assets.mixpanel.raw_store import ensure_schema

    connection = warehouse.connect(warehouse_url)
    with connection.cursor() as cur:
        cur.execute("drop schema if exists raw cascade")
    connection.commit()
    ensure_schema(connection)
    yield connection
    connection.close()
