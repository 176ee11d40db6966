"""The API's answers are computed once per data version: a repeated question is answered from memory, a change in
the warehouse is seen on the next question, and CSV exports are computed (and audited) every time."""

from __future__ import annotations

import time

import pytest
from testkit.app_warehouse import bearer

from hitcraft_assets.store import warehouse

pytestmark = pytest.mark.slow

CHANGE_SEEN_WITHIN_S = 120  # PostgreSQL publishes a writer's counters about a second after it goes idle


def _dau(client, accounts, filled, **params):
    response = client.get(
        "/api/v1/metrics/dau",
        params={"start": str(filled.days[-7]), "end": str(filled.last), **params},
        headers=bearer(accounts, "product_manager"),
    )
    assert response.status_code == 200, response.text
    return response


def _set_last_dau(url, filled, delta: float) -> None:
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(
            "update marts.daily_metrics set value = value + %(d)s where metric = 'dau' and metric_date = %(day)s",
            {"d": delta, "day": filled.last},
        )
        assert cur.rowcount == 1
        conn.commit()


def _wait_for_last_value(client, accounts, filled, expected: float) -> float:
    deadline = time.monotonic() + CHANGE_SEEN_WITHIN_S
    while True:
        value = _dau(client, accounts, filled).json()["items"][-1]["value"]
        if value == pytest.approx(expected) or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_a_repeated_question_is_answered_from_memory_until_the_data_changes(app, client, accounts, filled):
    cache = app.state.response_cache
    first = _dau(client, accounts, filled).json()
    misses = cache.misses
    again = _dau(client, accounts, filled).json()
    assert again == first and cache.misses == misses  # answered from memory
    original = first["items"][-1]["value"]
    _set_last_dau(filled.url, filled, 1000)
    try:
        assert _wait_for_last_value(client, accounts, filled, original + 1000) == pytest.approx(original + 1000)
        assert cache.misses > misses
    finally:
        _set_last_dau(filled.url, filled, -1000)
    assert _wait_for_last_value(client, accounts, filled, original) == pytest.approx(original)


def test_csv_exports_are_computed_and_audited_every_time(app, client, accounts, filled):
    def exports() -> int:
        frame = warehouse.read_frame(
            "select count(*) as n from app.audit_log where action = 'export_csv'", url=filled.url
        )
        return int(frame["n"].iloc[0])

    before, misses = exports(), app.state.response_cache.misses
    bodies = [_dau(client, accounts, filled, format="csv").text for _ in range(2)]
    assert bodies[0] == bodies[1] and bodies[0].startswith("period_start")
    assert exports() == before + 2
    assert app.state.response_cache.misses == misses  # CSV answers bypass the cache
