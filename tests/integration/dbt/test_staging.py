"""stg_events: exact rows for identity merge, duplicates, and events without distinct_id."""

from __future__ import annotations

from datetime import date

from conftest import query
from events_helpers import ev, ts

D1, D2 = date(2026, 3, 2), date(2026, 3, 3)


def test_dedup_identity_merge_and_kept_anonymous_rows(conn, raw, dbt, fresh_models):
    lines = [
        # anonymous browsing on day 1, identified on day 2 (Sign Up carries both ids)
        ev("Prompt Selected", ts(D1, 10), device="dev-a", prompt_id="p1", prompt_category="production"),
        ev("Sign Up", ts(D2, 9), user="u1", device="dev-a", role="songwriter"),
        ev("Sketch Uploaded", ts(D2, 9, 5), user="u1", device="dev-a"),
        # an exact duplicate (same key), a later-processed copy with different content, and an anonymous-only device
        ev("Render Started", ts(D2, 9, 10), user="u1", insert_id="r1", processed_ms=ts(D2, 9, 11) * 1000),
        ev("Render Started", ts(D2, 9, 10), user="u1", insert_id="r1", processed_ms=ts(D2, 9, 11) * 1000),
        ev("Render Started", ts(D2, 9, 10), user="u1", insert_id="r1", processed_ms=ts(D2, 12) * 1000, late=True),
        ev("Message Sent", ts(D2, 11), device="dev-b"),
        b'{"event": "Message Sent", "properties": {"time": %d, "$insert_id": "no-id"}}' % ts(D2, 12),
    ]
    raw([D1, D2], lines)
    dbt.build("+stg_events", D1, D2)
    rows = query(
        conn, "select event_date::text, event, user_key, insert_id from staging.stg_events order by event_time, event"
    )
    assert rows == [
        ("2026-03-02", "Prompt Selected", "u1", f"Prompt Selected-dev-a-{ts(D1, 10)}"),
        ("2026-03-03", "Sign Up", "u1", f"Sign Up-u1-{ts(D2, 9)}"),
        ("2026-03-03", "Sketch Uploaded", "u1", f"Sketch Uploaded-u1-{ts(D2, 9, 5)}"),
        ("2026-03-03", "Render Started", "u1", "r1"),
        ("2026-03-03", "Message Sent", "device:dev-b", f"Message Sent-dev-b-{ts(D2, 11)}"),
        ("2026-03-03", "Message Sent", None, "no-id"),
    ]
    # of the render copies the first processed is kept
    (late,) = query(
        conn,
        "select mp_processing_time = to_timestamp(%s) from staging.stg_events where insert_id = 'r1'",
        (ts(D2, 9, 11),),
    )[0]
    assert late
    assert query(conn, "select device_id, user_id from intermediate.int_identity_map") == [("dev-a", "u1")]


def test_rebuilding_a_window_replaces_it_and_clears_an_emptied_day(conn, raw, dbt, fresh_models):
    raw([D1, D2], [ev("Sign Up", ts(D1, 9), user="u1"), ev("Sign Up", ts(D2, 9), user="u2")])
    dbt.build("+stg_events", D1, D2)
    raw([D2], [])  # day 2 became empty upstream
    dbt.build("stg_events", D2, D2)
    assert query(conn, "select event_date::text, user_key from staging.stg_events") == [("2026-03-02", "u1")]
    dbt.build("stg_events", D1, D2)  # a re-run gives the same
    assert query(conn, "select event_date::text, user_key from staging.stg_events") == [("2026-03-02", "u1")]
