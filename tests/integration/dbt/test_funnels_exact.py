"""Product marts on a hand-written event set: exact funnel, retention, prompt and adoption rows.

One dataset and one dbt build per module (module-scoped); each test reads the built tables.

Users (role on their first event):
  u1 songwriter: signs up day 1, production funnel in order, lyrics funnel (a production prompt first, then a
     lyrics prompt), two likes, stems; active again on day 15.
  u2 producer:   production events all present but Prompt Selected BEFORE Sketch Uploaded (out of order).
  u3 producer:   production funnel whose download falls exactly at entered_at + 7 days (outside: half-open).
  u4 songwriter: production funnel whose download falls 1 s before entered_at + 7 days (inside).
  u5 artist:     two sketches on day 2 (the attempt starts at the first), then a prompt.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import query
from events_helpers import ev, ts
from marts_helpers import load_lines, reset

from hitcraft_assets.store import warehouse

D = {n: date(2026, 3, 1) + timedelta(days=n) for n in range(1, 20)}  # D[1] = Monday 2026-03-02
D1, D2 = D[1], D[2]


def _t(day: int, hh: int, mm: int = 0, ss: int = 0) -> int:
    return ts(D[day], hh, mm, ss)


def _events() -> list[bytes]:
    hit = dict(prompt_id="p_hit", prompt_text="Polish my hit", prompt_category="production")
    other = dict(prompt_id="p_other", prompt_text="Other prompt", prompt_category="production")
    chorus = dict(prompt_id="lyr_chorus", prompt_text="A chorus", prompt_category="lyrics")
    return [
        # u1: onboarding + production in order + lyrics funnel
        ev("Sign Up", _t(1, 9), user="u1", role="songwriter", experience_level="beginner", platform="web"),
        ev("Sketch Uploaded", _t(1, 10), user="u1"),
        ev("Prompt Selected", _t(1, 10, 1), user="u1", **hit),
        ev("Render Started", _t(1, 10, 2), user="u1", render_id="r1", **hit),
        ev("Render Completed", _t(1, 10, 4), user="u1", render_id="r1", **hit),
        ev("Production Downloaded", _t(1, 10, 5), user="u1", render_id="r1"),
        ev("Prompt Selected", _t(1, 13), user="u1", **hit),  # production prompt: not a lyrics entry
        ev("Prompt Selected", _t(1, 13, 5), user="u1", **chorus),
        ev("Lyrics Generated", _t(1, 13, 6), user="u1", prompt_id="lyr_chorus", prompt_category="lyrics"),
        ev("Lyrics Completed", _t(1, 13, 10), user="u1", prompt_id="lyr_chorus", prompt_category="lyrics"),
        ev("Message Liked", _t(1, 14), user="u1"),
        ev("Message Liked", _t(1, 14, 1), user="u1"),
        ev("Stem Separation Used", _t(1, 14, 2), user="u1"),
        ev("Message Sent", _t(15, 9), user="u1"),
        # u2: out of order (prompt before sketch); lyrics generated without a lyrics prompt
        ev("Sign Up", _t(1, 10, 30), user="u2", role="producer", experience_level="pro", platform="ios"),
        ev("Prompt Selected", _t(1, 11), user="u2", **hit),
        ev("Sketch Uploaded", _t(1, 11, 1), user="u2"),
        ev("Render Started", _t(1, 11, 2), user="u2", render_id="r2", **hit),
        ev("Render Completed", _t(1, 11, 5), user="u2", render_id="r2", **hit),
        ev("Production Downloaded", _t(1, 11, 6), user="u2", render_id="r2"),
        ev("Lyrics Generated", _t(1, 11, 10), user="u2", prompt_id="lyr_chorus", prompt_category="lyrics"),
        ev("Message Disliked", _t(1, 11, 20), user="u2"),
        # u3: download exactly at the window end (outside); a second render fails
        ev("Sign Up", _t(1, 11, 30), user="u3", role="producer", experience_level="beginner", platform="web"),
        ev("Sketch Uploaded", _t(1, 12), user="u3"),
        ev("Prompt Selected", _t(1, 12, 1), user="u3", **hit),
        ev("Render Started", _t(1, 12, 2), user="u3", render_id="r3", **hit),
        ev("Render Completed", _t(1, 12, 10), user="u3", render_id="r3", **hit),
        ev("Render Started", _t(1, 12, 20), user="u3", render_id="r3b", **hit),
        ev("Render Failed", _t(1, 12, 25), user="u3", render_id="r3b", **hit),
        ev("Production Downloaded", _t(8, 12), user="u3", render_id="r3"),
        # u4: download 1 s before the window end (inside); a second render never completes
        ev("Sign Up", _t(2, 8), user="u4", role="songwriter", experience_level="pro", platform="android"),
        ev("Sketch Uploaded", _t(2, 9), user="u4"),
        ev("Prompt Selected", _t(2, 9, 1), user="u4", **other),
        ev("Render Started", _t(2, 9, 2), user="u4", render_id="r4", **other),
        ev("Render Completed", _t(2, 9, 30), user="u4", render_id="r4", **other),
        ev("Render Started", _t(2, 10), user="u4", render_id="r6", **other),
        ev("Production Downloaded", _t(9, 8, 59, 59), user="u4", render_id="r4"),
        # u5: two sketches, the attempt starts at the first
        ev("Sketch Uploaded", _t(2, 8), user="u5", role="artist", platform="web"),
        ev("Sketch Uploaded", _t(2, 8, 30), user="u5"),
        ev("Prompt Selected", _t(2, 8, 31), user="u5", **other),
    ]


@pytest.fixture(scope="module")
def built(warehouse_url, dbt):
    conn = warehouse.connect(warehouse_url)
    reset(conn)
    days = [D[n] for n in range(1, 16)]
    load_lines(conn, days, _events())
    dbt.build("+funnel_conversions +retention_cohorts +prompt_performance +feature_adoption", days[0], days[-1])
    yield conn
    conn.close()


def test_production_funnel_steps_exact(built):
    rows = query(
        built,
        "select user_key, entry_date::text, step, seconds_from_entry::int, max_step_reached, is_converted "
        "from marts.funnel_steps where funnel_name = 'production' order by user_key, entry_date, step",
    )
    assert rows == [
        ("u1", "2026-03-02", 1, 0, 5, True),
        ("u1", "2026-03-02", 2, 60, 5, True),
        ("u1", "2026-03-02", 3, 120, 5, True),
        ("u1", "2026-03-02", 4, 240, 5, True),
        ("u1", "2026-03-02", 5, 300, 5, True),
        # out of order: the prompt came before the sketch, so nothing after step 1 counts
        ("u2", "2026-03-02", 1, 0, 1, False),
        # the download at exactly entered_at + 7 d is outside the window
        ("u3", "2026-03-02", 1, 0, 4, False),
        ("u3", "2026-03-02", 2, 60, 4, False),
        ("u3", "2026-03-02", 3, 120, 4, False),
        ("u3", "2026-03-02", 4, 600, 4, False),
        # 1 s before the window end is inside
        ("u4", "2026-03-03", 1, 0, 5, True),
        ("u4", "2026-03-03", 2, 60, 5, True),
        ("u4", "2026-03-03", 3, 120, 5, True),
        ("u4", "2026-03-03", 4, 1800, 5, True),
        ("u4", "2026-03-03", 5, 7 * 86400 - 1, 5, True),
        # entry at the first of two sketches
        ("u5", "2026-03-03", 1, 0, 2, False),
        ("u5", "2026-03-03", 2, 1860, 2, False),
    ]


def test_lyrics_property_filter_and_onboarding_window_override(built):
    rows = query(
        built,
        "select funnel_name, user_key, entered_at = to_timestamp(%s), step, seconds_from_entry::int, window_days "
        "from marts.funnel_steps where funnel_name in ('lyrics', 'onboarding') order by 1, 2, step",
        (_t(1, 13, 5),),
    )
    assert rows == [
        # only the lyrics-category prompt enters; u2's Lyrics Generated without one is no attempt
        ("lyrics", "u1", True, 1, 0, 7),
        ("lyrics", "u1", True, 2, 60, 7),
        ("lyrics", "u1", True, 3, 300, 7),
        ("onboarding", "u1", False, 1, 0, 14),
        ("onboarding", "u1", False, 2, 3600, 14),
        ("onboarding", "u1", False, 3, 3840, 14),
        ("onboarding", "u2", False, 1, 0, 14),
        ("onboarding", "u2", False, 2, 1860, 14),
        ("onboarding", "u2", False, 3, 2100, 14),
        ("onboarding", "u3", False, 1, 0, 14),
        ("onboarding", "u3", False, 2, 1800, 14),
        ("onboarding", "u3", False, 3, 2400, 14),
        ("onboarding", "u4", False, 1, 0, 14),
        ("onboarding", "u4", False, 2, 3600, 14),
        ("onboarding", "u4", False, 3, 5400, 14),
    ]


def test_production_conversions_all_and_by_role(built):
    rows = query(
        built,
        "select breakdown, breakdown_value, step, users, round(conversion_from_first::numeric, 4)::float, "
        "round(conversion_from_previous::numeric, 4)::float, drop_off_users, median_seconds_from_entry "
        "from marts.funnel_conversions where funnel_name = 'production' and entry_date = '2026-03-02' "
        "and breakdown in ('all', 'role') order by breakdown, breakdown_value, step",
    )
    assert rows == [
        ("all", "all", 1, 3, 1.0, 1.0, 0, 0.0),
        ("all", "all", 2, 2, 0.6667, 0.6667, 1, 60.0),
        ("all", "all", 3, 2, 0.6667, 1.0, 0, 120.0),
        ("all", "all", 4, 2, 0.6667, 1.0, 0, 420.0),
        ("all", "all", 5, 1, 0.3333, 0.5, 1, 300.0),
        ("role", "producer", 1, 2, 1.0, 1.0, 0, 0.0),
        ("role", "producer", 2, 1, 0.5, 0.5, 1, 60.0),
        ("role", "producer", 3, 1, 0.5, 1.0, 0, 120.0),
        ("role", "producer", 4, 1, 0.5, 1.0, 0, 600.0),
        ("role", "producer", 5, 0, 0.0, 0.0, 1, None),
        ("role", "songwriter", 1, 1, 1.0, 1.0, 0, 0.0),
        ("role", "songwriter", 2, 1, 1.0, 1.0, 0, 60.0),
        ("role", "songwriter", 3, 1, 1.0, 1.0, 0, 120.0),
        ("role", "songwriter", 4, 1, 1.0, 1.0, 0, 240.0),
        ("role", "songwriter", 5, 1, 1.0, 1.0, 0, 300.0),
    ]
    day2 = query(
        built,
        "select breakdown_value, step, users from marts.funnel_conversions where funnel_name = 'production' "
        "and entry_date = '2026-03-03' and breakdown in ('all', 'platform') order by breakdown_value, step",
    )
    assert day2 == [
        ("all", 1, 2), ("all", 2, 2), ("all", 3, 1), ("all", 4, 1), ("all", 5, 1),
        ("android", 1, 1), ("android", 2, 1), ("android", 3, 1), ("android", 4, 1), ("android", 5, 1),
        ("web", 1, 1), ("web", 2, 1), ("web", 3, 0), ("web", 4, 0), ("web", 5, 0),
    ]  # fmt: skip


def test_retention_exact_for_a_tiny_cohort(built):
    weekly = query(
        built,
        "select cohort_start::text, period_number, cohort_users, retained_users, retained_users_unbounded "
        "from marts.retention_cohorts where cohort_grain = 'week' order by 1, 2",
    )
    # last activity day is day 15 (Mon 2026-03-16): week 1 (03-09..03-15) has elapsed, week 2 has not
    assert weekly == [("2026-03-02", 0, 5, 5, 5), ("2026-03-02", 1, 5, 2, 3)]
    daily = query(
        built,
        "select cohort_start::text, period_number, cohort_users, retained_users, retained_users_unbounded "
        "from marts.retention_cohorts where cohort_grain = 'day' and (period_number in (0, 1, 7, 13, 14)) "
        "order by 1, 2",
    )
    assert daily == [
        ("2026-03-02", 0, 3, 3, 3),
        ("2026-03-02", 1, 3, 0, 2),  # u3 returns on day 7, u1 on day 14
        ("2026-03-02", 7, 3, 1, 2),
        ("2026-03-02", 13, 3, 0, 1),
        ("2026-03-02", 14, 3, 1, 1),
        ("2026-03-03", 0, 2, 2, 2),
        ("2026-03-03", 1, 2, 0, 1),  # u4 returns on day 7 (the download)
        ("2026-03-03", 7, 2, 1, 1),
        ("2026-03-03", 13, 2, 0, 0),
    ]
    (n_day1, n_day2) = query(
        built,
        "select count(*) filter (where cohort_start = '2026-03-02'), count(*) filter (where cohort_start = "
        "'2026-03-03') from marts.retention_cohorts where cohort_grain = 'day'",
    )[0]
    assert (n_day1, n_day2) == (15, 14)  # days 0..14 and 0..13 have elapsed by day 15


def test_prompt_performance_exact(built):
    rows = query(
        built,
        "select prompt_id, metric_date::text, window_days, selections, renders_started, renders_completed, "
        "completion_rate, median_seconds_to_complete, downloads, likes, dislikes, "
        "round(likes_ratio::numeric, 4)::float from marts.prompt_performance "
        "where (prompt_id, metric_date, window_days) in "
        "(('p_hit', '2026-03-02', 1), ('p_hit', '2026-03-03', 1), ('p_hit', '2026-03-03', 7), "
        " ('p_other', '2026-03-03', 1), ('lyr_chorus', '2026-03-02', 28)) order by 1, 2, 3",
    )
    assert rows == [
        ("lyr_chorus", "2026-03-02", 28, 1, 0, 0, None, None, 0, 2, 0, 1.0),
        # r1, r2, r3 completed (120 s, 180 s, 480 s), r3b failed; all three downloads counted on the start day
        ("p_hit", "2026-03-02", 1, 4, 4, 3, 0.75, 180.0, 3, 2, 1, 0.6667),
        ("p_hit", "2026-03-03", 1, 0, 0, 0, None, None, 0, 0, 0, None),
        ("p_hit", "2026-03-03", 7, 4, 4, 3, 0.75, 180.0, 3, 2, 1, 0.6667),
        # r4 completed after 1680 s, r6 never
        ("p_other", "2026-03-03", 1, 2, 2, 1, 0.5, 1680.0, 1, 0, 0, None),
    ]
    (text, category, first_day, n) = query(
        built,
        "select max(prompt_text), max(prompt_category), min(metric_date)::text, count(*) "
        "from marts.prompt_performance where prompt_id = 'p_hit'",
    )[0]
    # days with any event: 1, 2, 3..., i.e. 1, 2, 8, 9, 15 -> 5 days x 3 windows
    assert (text, category, first_day, n) == ("Polish my hit", "production", "2026-03-02", 15)


def test_feature_adoption_weekly(built):
    rows = query(
        built,
        "select feature, week_start::text, adopters, active_users, adoption_rate, adoption_rate_wow_change, "
        "d30_cohort_users from marts.feature_adoption order by 1, 2",
    )
    assert rows == [
        ("feedback", "2026-03-02", 0, 5, 0.0, None, 0),
        ("feedback", "2026-03-09", 0, 2, 0.0, 0.0, 0),
        ("feedback", "2026-03-16", 0, 1, 0.0, 0.0, 0),
        ("lyrics", "2026-03-02", 2, 5, 0.4, None, 0),
        ("lyrics", "2026-03-09", 0, 2, 0.0, -0.4, 0),
        ("lyrics", "2026-03-16", 0, 1, 0.0, 0.0, 0),
        ("stem_separation", "2026-03-02", 1, 5, 0.2, None, 0),
        ("stem_separation", "2026-03-09", 0, 2, 0.0, -0.2, 0),
        ("stem_separation", "2026-03-16", 0, 1, 0.0, 0.0, 0),
    ]
