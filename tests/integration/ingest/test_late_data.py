"""Late-arriving events: a re-load of the lookback window picks them up and reports how many."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from testkit.sample_client import sample_client

from hitcraft_assets.mixpanel.ingest import load_days


def test_lookback_reload_adds_late_events(conn):
    days = [date(2026, 4, 20) + timedelta(days=i) for i in range(6)]
    early = datetime(2026, 4, 26, 4, tzinfo=UTC)  # the 04:00 run right after the last day
    later = early + timedelta(days=6)  # every late event (≤ 5 days) has arrived by now
    kwargs = dict(reporting_tz="UTC", source="sample", client_version="test")
    with sample_client(anchor=date(2026, 5, 1), now=early) as client:
        first = load_days(conn, client, days, project_today=early.date(), **kwargs)
    with sample_client(anchor=date(2026, 5, 1), now=later) as client:
        second = load_days(conn, client, days, project_today=later.date(), **kwargs)
    (w1,), (w2,) = first, second
    added = {d: w2.rows_by_day[d] - w2.previous_rows_by_day[d] for d in days}
    assert all(w2.previous_rows_by_day[d] == w1.rows_by_day[d] for d in days)
    assert all(n >= 0 for n in added.values())
    assert added[days[-1]] > 0, "yesterday's late events must appear on the re-load"
    assert added[days[-1]] > added[days[0]]  # the oldest day had the most time to complete
    with conn.cursor() as cur:
        cur.execute("select count(*) from raw.events where mp_processing_time > %s", (early,))
        assert cur.fetchone()[0] == sum(added.values())
