"""dbt against the test worker's embedded PostgreSQL: load hand-written raw events, build models, read tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from marts_helpers import load_lines, reset, rows

from hitcraft_assets import warehouse

DBT_PROJECT = Path(__file__).resolve().parents[3] / "dbt_project"
DBT = str(Path(sys.executable).parent / "dbt")


class Dbt:
    """Runs the venv's dbt on the test database with a private target/log folder per test worker."""

    def __init__(self, url: str, work: Path):
        self.url = url
        self.env = {**os.environ, **warehouse.dbt_connection_env(url), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
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
            result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            self._terminate_dbt_queries()  # else the next test waits forever on its locks
            raise
        return self._checked(args, result, check)

    def _terminate_dbt_queries(self) -> None:
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


@pytest.fixture
def raw(conn):
    """Load export lines for reporting days as one window: raw(days, lines)."""
    return lambda days, lines, tz="UTC": load_lines(conn, days, lines, tz)


@pytest.fixture
def fresh_models(conn):
    """Empty raw and drop the dbt schemas so each test starts from a first run."""
    reset(conn)


query = rows  # tests import it from here
