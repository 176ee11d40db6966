"""sessions, user_daily_activity, dim_users, user_lifecycle_daily, daily_metrics: exact rows on hand data.

One dataset, two builds (midnight split on, then off for the sessions), snapshotted into Python by a
module fixture; the tests compare the snapshot with rows worked out by hand.
"""

from __future__ import annotations

from datetime import date, timedelta

import orjson
import pytest
from events_helpers import ev, ts
from marts_helpers import connect, load_lines, reset, rows

D1 = date(2026, 3, 2)
D2, D3, D4, D9 = (D1 + timedelta(days=n) for n in (1, 2, 3, 8))
DAYS = [D1 + timedelta(days=n) for n in range(9)]

U3_TIMES = [ts(D3, 12) + 25 * 60 * k for k in range(61)]  # every 25 min for 25 h: D3 12:00 .. D4 13:00


def _lines() -> list[bytes]:
    lines = [
        # u1: anonymous device dev-1, then identified at Sign Up (identity merge); a run across midnight D1/D2
        ev("Prompt Selected", ts(D1, 22), device="dev-1"),
        ev(
            "Sign Up",
            ts(D1, 22, 10),
            user="u1",
            device="dev-1",
            role="songwriter",
            experience_level="beginner",
            utm_source="tiktok",
            platform="web",
            mp_country_code="US",
        ),
        ev("Render Started", ts(D1, 23, 40), user="u1"),
        ev("Render Completed", ts(D2, 0, 5), user="u1"),
        ev("Render Completed", ts(D2, 0, 5), user="u1"),  # exact duplicate
        ev("Production Downloaded", ts(D2, 0, 20), user="u1"),
        # u2: a 30-minute gap (same session) then a 31-minute gap (new session); back on D9
        ev("Sketch Uploaded", ts(D1, 10), user="u2", platform="ios"),
        ev("Render Started", ts(D1, 10, 30), user="u2", platform="ios"),
        ev("Render Failed", ts(D1, 11, 1), user="u2", platform="ios"),
        ev("Render Started", ts(D9, 9), user="u2", platform="ios"),
        ev("Render Completed", ts(D9, 9, 1), user="u2", platform="ios"),
        ev("Render Started", ts(D9, 9, 2), user="u2", platform="ios", insert_id="rs2"),
        ev("Render Failed", ts(D9, 9, 3), user="u2", platform="ios"),
        ev("Message Liked", ts(D9, 9, 4), user="u2", platform="ios"),
        ev("Feedback Submitted", ts(D9, 9, 5), user="u2", platform="ios"),
        # an anonymous-only device, and an event without any id (not a user)
        ev("Message Sent", ts(D1, 15), device="dev-9", utm_source="google"),
        b'{"event": "Message Sent", "properties": {"time": %d, "$insert_id": "no-id"}}' % ts(D1, 16),
    ]
    # u3: continuous activity for 25 h (the 24 h cap when not splitting at midnight)
    lines += [ev("Message Sent", t, user="u3", utm_source="youtube") for t in U3_TIMES]
    return lines


MODELS = "+sessions +user_daily_activity +dim_users +user_lifecycle_daily +daily_metrics +daily_metrics_by_segment"


@pytest.fixture(scope="module")
def snap(warehouse_url, dbt):
    conn = connect(warehouse_url)
    try:
        reset(conn)
        load_lines(conn, DAYS, _lines())
        with conn.cursor() as cur:  # an Engage profile: fallback for attributes the events lack
            cur.execute(
                "insert into raw.profiles values ('u2', %s, 'test', gen_random_uuid(), now())",
                (
                    orjson.dumps(
                        {
                            "role": "producer",
                            "experience_level": "pro",
                            "acquisition_channel": "newsletter",
                            "$created": "2026-02-20T08:00:00",
                            "$country_code": "DE",
                        }
                    ).decode(),
                ),
            )
        conn.commit()
        dbt.build(MODELS, D1, D9)
        out = {
            "sessions": rows(
                conn,
                """
                select user_key, session_date::text, to_char(session_start at time zone 'UTC', 'DD HH24:MI'),
                       to_char(session_end at time zone 'UTC', 'DD HH24:MI'), duration_seconds, event_count,
                       entry_event, exit_event, platform, channel
                from marts.sessions order by user_key, session_start""",
            ),
            "session_ids": rows(conn, "select session_id from marts.sessions"),
            "activity": rows(
                conn,
                """
                select activity_date::text, user_key, sessions, events, minutes, renders_started, renders_completed,
                       renders_failed, sketches_uploaded, productions_downloaded, messages_liked, feedback_submitted,
                       is_core_active
                from marts.user_daily_activity order by activity_date, user_key""",
            ),
            "users": rows(
                conn,
                """
                select user_key, to_char(first_seen_at at time zone 'UTC', 'DD HH24:MI'), first_seen_date::text,
                       to_char(signup_at at time zone 'UTC', 'MM-DD HH24:MI'), signup_date::text, role,
                       experience_level, acquisition_channel, platform, country, last_seen_date::text,
                       lifecycle_state_today
                from marts.dim_users order by user_key""",
            ),
            "lifecycle": rows(
                conn,
                """
                select user_key, lifecycle_date::text, lifecycle_state, is_newly_dormant
                from marts.user_lifecycle_daily order by user_key, lifecycle_date""",
            ),
            "metrics": rows(
                conn, "select metric_date::text, metric, value, numerator, denominator from marts.daily_metrics"
            ),
            "segments": rows(
                conn,
                "select metric_date::text, segment_type, segment_value, metric, value "
                "from marts.daily_metrics_by_segment",
            ),
        }
        dbt(
            "build",
            "--select",
            "sessions",
            vars={"min_date": str(D1), "max_date": str(D9), "session_split_at_midnight": False},
        )
        out["sessions_no_split"] = rows(
            conn,
            """
            select user_key, session_date::text, to_char(session_start at time zone 'UTC', 'DD HH24:MI'),
                   to_char(session_end at time zone 'UTC', 'DD HH24:MI'), duration_seconds, event_count
            from marts.sessions order by user_key, session_start""",
        )
        return out
    finally:
        conn.close()


def _u3_split():
    return [
        ("u3", "2026-03-04", "04 12:00", "04 23:40", 700 * 60.0, 29, "Message Sent", "Message Sent", "web", "youtube"),
        ("u3", "2026-03-05", "05 00:05", "05 13:00", 775 * 60.0, 32, "Message Sent", "Message Sent", "web", "youtube"),
    ]


def test_sessions_split_at_midnight_gaps_identity_and_duplicates(snap):
    assert snap["sessions"] == [
        ("device:dev-9", "2026-03-02", "02 15:00", "02 15:00", 0.0, 1, "Message Sent", "Message Sent", "web", "google"),
        # anonymous Prompt Selected merged into u1's first session
        ("u1", "2026-03-02", "02 22:00", "02 22:10", 600.0, 2, "Prompt Selected", "Sign Up", "web", "tiktok"),
        ("u1", "2026-03-02", "02 23:40", "02 23:40", 0.0, 1, "Render Started", "Render Started", "web", None),
        # split at midnight; the duplicate Render Completed counts once
        (
            "u1",
            "2026-03-03",
            "03 00:05",
            "03 00:20",
            900.0,
            2,
            "Render Completed",
            "Production Downloaded",
            "web",
            None,
        ),
        # 30-minute gap: same session; 31-minute gap: a new one
        ("u2", "2026-03-02", "02 10:00", "02 10:30", 1800.0, 2, "Sketch Uploaded", "Render Started", "ios", None),
        ("u2", "2026-03-02", "02 11:01", "02 11:01", 0.0, 1, "Render Failed", "Render Failed", "ios", None),
        ("u2", "2026-03-10", "10 09:00", "10 09:05", 300.0, 6, "Render Started", "Feedback Submitted", "ios", None),
        *_u3_split(),
    ]
    ids = [r[0] for r in snap["session_ids"]]
    assert len(ids) == len(set(ids)) == 9


EXPECTED_NO_SPLIT = [
    ("device:dev-9", "2026-03-02", "02 15:00", "02 15:00", 0.0, 1),
    ("u1", "2026-03-02", "02 22:00", "02 22:10", 600.0, 2),
    # one session across midnight, on its start day
    ("u1", "2026-03-02", "02 23:40", "03 00:20", 2400.0, 3),
    ("u2", "2026-03-02", "02 10:00", "02 10:30", 1800.0, 2),
    ("u2", "2026-03-02", "02 11:01", "02 11:01", 0.0, 1),
    ("u2", "2026-03-10", "10 09:00", "10 09:05", 300.0, 6),
    # 25 h of 25-minute gaps: cut at 24 h from the first event (58 events up to 11:45, then 3)
    ("u3", "2026-03-04", "04 12:00", "05 11:45", 1425 * 60.0, 58),
    ("u3", "2026-03-05", "05 12:10", "05 13:00", 50 * 60.0, 3),
]


def test_sessions_without_midnight_split_and_the_24h_cap(snap):
    assert snap["sessions_no_split"] == EXPECTED_NO_SPLIT


def test_user_daily_activity_exact(snap):
    # activity_date, user, sessions, events, minutes, r_started, r_completed, r_failed, sketches, downloads,
    # likes, feedback, core
    assert snap["activity"] == [
        ("2026-03-02", "device:dev-9", 1, 1, 0.0, 0, 0, 0, 0, 0, 0, 0, True),
        ("2026-03-02", "u1", 2, 3, 10.0, 1, 0, 0, 0, 0, 0, 0, True),
        ("2026-03-02", "u2", 2, 3, 30.0, 1, 0, 1, 1, 0, 0, 0, True),
        ("2026-03-03", "u1", 1, 2, 15.0, 0, 1, 0, 0, 1, 0, 0, True),
        ("2026-03-04", "u3", 1, 29, 700.0, 0, 0, 0, 0, 0, 0, 0, True),
        ("2026-03-05", "u3", 1, 32, 775.0, 0, 0, 0, 0, 0, 0, 0, True),
        ("2026-03-10", "u2", 1, 6, 5.0, 2, 1, 1, 0, 0, 1, 1, True),
    ]


def test_dim_users_exact(snap):
    assert snap["users"] == [
        (
            "device:dev-9",
            "02 15:00",
            "2026-03-02",
            None,
            None,
            None,
            None,
            "google",
            "web",
            None,
            "2026-03-02",
            "dormant",
        ),
        (
            "u1",
            "02 22:00",
            "2026-03-02",
            "03-02 22:10",
            "2026-03-02",
            "songwriter",
            "beginner",
            "tiktok",
            "web",
            "US",
            "2026-03-03",
            "dormant",
        ),
        # attributes missing on u2's events come from the Engage profile
        (
            "u2",
            "02 10:00",
            "2026-03-02",
            "02-20 08:00",
            "2026-02-20",
            "producer",
            "pro",
            "newsletter",
            "ios",
            "DE",
            "2026-03-10",
            "resurrecting",
        ),
        ("u3", "04 12:00", "2026-03-04", None, None, None, None, "youtube", "web", None, "2026-03-05", "dormant"),
    ]


def test_lifecycle_exact(snap):
    by_user: dict[str, list] = {}
    for user, day, state, newly in snap["lifecycle"]:
        by_user.setdefault(user, []).append((day[-2:], state, newly))
    d = "dormant"
    assert [s for _, s, _ in by_user["u2"]] == ["new"] + [d] * 7 + ["resurrecting"]
    assert [s for _, s, _ in by_user["u1"]] == ["new", "returning"] + [d] * 7
    assert [s for _, s, _ in by_user["u3"]] == ["new", "returning"] + [d] * 5
    assert [n for _, _, n in by_user["u1"]] == [False, False, True] + [False] * 6
    assert by_user["u3"][0][0] == "04" and by_user["u2"][-1][0] == "10"


def test_daily_metrics_exact(snap):
    m = {(d, name): (v, n, den) for d, name, v, n, den in snap["metrics"]}
    assert sorted({d for d, _ in m}) == [str(d) for d in DAYS]

    def series(name):
        return [m[(str(d), name)][0] for d in DAYS]

    assert series("dau") == [3, 1, 1, 1, 0, 0, 0, 0, 1]
    assert series("wau") == [3, 3, 4, 4, 4, 4, 4, 2, 2]
    assert series("mau") == [3, 3, 4, 4, 4, 4, 4, 4, 4]
    assert series("stickiness") == [1.0, 1 / 3, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0, 0.25]
    assert m[("2026-03-02", "stickiness")] == (1.0, 3, 3)
    assert series("new_users") == [3, 0, 1, 0, 0, 0, 0, 0, 0]
    assert series("sessions") == [5, 1, 1, 1, 0, 0, 0, 0, 1]
    assert series("production_completion_rate") == [0.0, None, None, None, None, None, None, None, 0.5]
    assert m[("2026-03-10", "production_completion_rate")] == (0.5, 1, 2)
    assert series("render_failure_rate") == [1.0, 0.0, None, None, None, None, None, None, 0.5]
    assert series("productions_completed") == [0, 1, 0, 0, 0, 0, 0, 0, 1]
    assert m[("2026-03-02", "median_session_minutes")] == (0.0, None, 5)  # 0, 0, 0, 10, 30
    assert m[("2026-03-02", "mean_session_minutes")] == (8.0, 40, 5)
    assert m[("2026-03-02", "events_per_session")] == (1.4, 7, 5)
    assert series("median_days_between_sessions") == [None, 1, None, 1, None, None, None, None, 8]
    assert series("return_user_rate") == [0.0, 1.0, 0.0, 1.0, None, None, None, None, 1.0]
    assert series("feedback_rate")[-1] == 1.0 and series("likes_dislikes_ratio")[-1] is None
    assert series("sketch_uploads") == [1, 0, 0, 0, 0, 0, 0, 0, 0]


def test_daily_metrics_by_segment_exact(snap):
    s = {(d, t, v, name): value for d, t, v, name, value in snap["segments"]}
    assert {(t, v) for _, t, v, _ in s} == {
        ("role", "songwriter"),
        ("role", "producer"),
        ("role", "unknown"),
        ("experience_level", "beginner"),
        ("experience_level", "pro"),
        ("experience_level", "unknown"),
        ("channel", "tiktok"),
        ("channel", "newsletter"),
        ("channel", "google"),
        ("channel", "youtube"),
        ("platform", "web"),
        ("platform", "ios"),
        ("country", "US"),
        ("country", "DE"),  # from the Engage profile of a user whose events carry no country
        ("country", "unknown"),
    }
    assert s[("2026-03-02", "platform", "web", "dau")] == 2
    assert s[("2026-03-02", "platform", "ios", "render_failure_rate")] == 1.0
    assert s[("2026-03-10", "role", "producer", "production_completion_rate")] == 0.5
    assert s[("2026-03-04", "channel", "youtube", "new_users")] == 1
    assert s[("2026-03-05", "channel", "youtube", "sessions")] == 1
    assert s[("2026-03-05", "channel", "tiktok", "dau")] == 0
