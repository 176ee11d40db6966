"""dbt tests: load hand-written raw events, build models (the `dbt` fixture is in tests/conftest.py), read tables."""

from __future__ import annotations

import pytest
from marts_helpers import load_lines, reset, rows


@pytest.fixture
def raw(conn):
    """Load export lines for reporting days as one window: raw(days, lines)."""
    return lambda days, lines, tz="UTC": load_lines(conn, days, lines, tz)


@pytest.fixture
def fresh_models(conn):
    """Empty raw and drop the dbt schemas so each test starts from a first run."""
    reset(conn)


query = rows  # tests import it from here
