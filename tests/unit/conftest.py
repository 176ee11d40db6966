"""Unit tests need no database: the fixtures that start or reach one refuse here, naming where such a test goes."""

from __future__ import annotations

import pytest


def _refuse(request) -> None:
    pytest.fail(
        f"{request.node.nodeid} asks for {request.fixturename!r}, which needs PostgreSQL: unit tests run without "
        "a database; move the test to tests/integration/",
        pytrace=False,
    )


@pytest.fixture
def hitcraft_home(request):
    _refuse(request)


@pytest.fixture
def warehouse_url(request):
    _refuse(request)


@pytest.fixture
def conn(request):
    _refuse(request)


@pytest.fixture
def dbt(request):
    _refuse(request)
