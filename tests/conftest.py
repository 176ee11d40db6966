"""Shared fixtures: an embedded PostgreSQL per test worker (or HITCRAFT_TEST_DATABASE_URL), clean env."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
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
    from hitcraft_assets.store import warehouse

    warehouse.stop_embedded()
    shutil.rmtree(home, ignore_errors=True)  # a worker's database is gigabytes after the sample backfills


@pytest.fixture
def smtp():
    """A local SMTP server (aiosmtpd) that keeps what arrives."""
    from testkit.alert_servers import SmtpInbox

    inbox = SmtpInbox().start()
    yield inbox
    inbox.stop()


@pytest.fixture
def webhook():
    """A local HTTP server standing in for a Slack incoming webhook."""
    from testkit.alert_servers import WebhookServer

    server = WebhookServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def warehouse_url(hitcraft_home: Path) -> str:
    from hitcraft_assets.store import warehouse

    return os.environ.get("HITCRAFT_TEST_DATABASE_URL") or warehouse.warehouse_url()


@pytest.fixture
def conn(warehouse_url: str):
    """A warehouse connection on an empty `raw` schema."""
    from hitcraft_assets.store import warehouse
    from hitcraft_assets.store.raw_events import ensure_schema

    connection = warehouse.connect(warehouse_url)
    with connection.cursor() as cur:
        cur.execute("drop schema if exists raw cascade")
    connection.commit()
    ensure_schema(connection)
    yield connection
    connection.close()


DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
DBT = str(Path(sys.executable).parent / "dbt")


class Dbt:
    """Runs the venv's dbt on the test database with a private target/log folder per test worker."""

    def __init__(self, url: str, work: Path):
        from hitcraft_assets.store import warehouse

        self.url = url
        # tests run only when every model they read is built in the same invocation, as in Dagster's runs
        # (defs/dbt/assets.py): a test that also reads a seed is not picked up by building the seed alone
        self.env = {
            **os.environ,
            **warehouse.dbt_connection_env(url),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_INDIRECT_SELECTION": "cautious",
        }
        self.target = work / "target"
        self.logs = work / "logs"

    def __call__(self, *args: str, vars: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [
            DBT,
            *args,
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(self.target),
            "--log-path",
            str(self.logs),
        ]
        if vars:
            cmd += ["--vars", json.dumps(vars)]
        try:
            # only against a hang (a lock never released): a loaded machine makes dbt slower, not stuck
            result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=3600)
        except subprocess.TimeoutExpired:
            self._terminate_dbt_queries()  # else the next test waits forever on its locks
            raise
        return self._checked(args, result, check)

    def _terminate_dbt_queries(self) -> None:
        from hitcraft_assets.store import warehouse

        conn = warehouse.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where application_name like 'dbt%%' and pid <> pg_backend_pid()"
            )
        conn.close()

    def _checked(self, args, result, check):
        if check and result.returncode != 0:
            raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
        return result

    def build(
        self, select: str, first: date | str | None = None, last: date | str | None = None, *extra: str
    ) -> subprocess.CompletedProcess:
        vars = {"min_date": str(first), "max_date": str(last)} if first else None
        return self("build", "--select", select, *extra, vars=vars)


@pytest.fixture(scope="session")
def dbt(warehouse_url: str, tmp_path_factory) -> Dbt:
    runner = Dbt(warehouse_url, tmp_path_factory.mktemp("dbt"))
    runner("seed")  # seeds are small; every test reads them
    return runner
