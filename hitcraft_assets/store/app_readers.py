"""Readers the analytics app needs beyond the reports' (`insight_inputs.read_table`, `marts`, `ml_tables`): funnel
definitions and exact medians over a range, a user's timeline, the pipeline's loaded days. Every value from a
request is a bound parameter."""

from __future__ import annotations

from datetime import date

import pandas as pd

from hitcraft_assets.store import warehouse


def funnel_definitions(url: str | None) -> pd.DataFrame:
    """seeds.funnels: funnel_name, step, event, property_name, property_value, window_days (empty before dbt seed)."""
    if not warehouse.table_exists("seeds.funnels", url):
        return pd.DataFrame(columns=["funnel_name", "step", "event", "property_name", "property_value", "window_days"])
    return warehouse.read_frame(
        "select funnel_name, step, event, property_name, property_value, window_days from seeds.funnels"
        " order by funnel_name, step",
        url=url,
    )


def funnel_summary(
    url: str | None, funnel: str, start: date, end: date, breakdown: str, complete_only: bool = True
) -> pd.DataFrame:
    """Per step (and breakdown value) over the entry days start..end: users reaching it, conversion from the first
    and the previous step, drop-off, and the exact median seconds from entry (from the users' own step times).
    `breakdown`: 'all' or a breakdown of marts.funnel_conversions (role, experience_level, channel, platform)."""
    if not warehouse.table_exists("marts.funnel_conversions", url):
        return pd.DataFrame()
    complete = " and is_window_complete" if complete_only else ""
    counts = warehouse.read_frame(
        "select breakdown_value, step, min(event) as event, sum(users) as users"
        " from marts.funnel_conversions where funnel_name = %(f)s and breakdown = %(b)s"
        f" and entry_date between %(start)s and %(end)s{complete} group by breakdown_value, step"
        " order by breakdown_value, step",
        {"f": funnel, "b": breakdown, "start": start, "end": end},
        url,
    )
    if counts.empty:
        return counts
    breakdown_column = {"all": "'all'", "channel": "u.acquisition_channel"}.get(breakdown, f"u.{breakdown}")
    if breakdown not in ("all", "role", "experience_level", "channel", "platform"):
        raise ValueError(f"unknown funnel breakdown {breakdown!r}")
    medians = warehouse.read_frame(
        f"select coalesce({breakdown_column}, 'unknown') as breakdown_value, s.step,"
        " percentile_cont(0.5) within group (order by s.seconds_from_entry) as median_seconds_from_entry"
        " from marts.funnel_steps s left join marts.dim_users u using (user_key)"
        " where s.funnel_name = %(f)s and s.entry_date between %(start)s and %(end)s"
        f" and s.reached_at is not null{complete.replace('is_window', 's.is_window')}"
        " group by 1, s.step",
        {"f": funnel, "start": start, "end": end},
        url,
    )
    frame = counts.merge(medians, on=["breakdown_value", "step"], how="left")
    frame["users"] = pd.to_numeric(frame["users"]).astype(float)
    first = frame.groupby("breakdown_value")["users"].transform("first")
    previous = frame.groupby("breakdown_value")["users"].shift(1).fillna(frame["users"])
    return frame.assign(
        conversion_from_first=(frame["users"] / first).where(first > 0),
        conversion_from_previous=(frame["users"] / previous).where(previous > 0),
        drop_off_users=previous - frame["users"],
    )


def funnel_over_time(
    url: str | None, funnel: str, start: date, end: date, breakdown: str = "all", breakdown_value: str = "all"
) -> pd.DataFrame:
    """Per entry day: users entering and completing the funnel, and the overall conversion (complete windows); of
    the users whose `breakdown` (a funnel_conversions breakdown) is `breakdown_value` when given."""
    if not warehouse.table_exists("marts.funnel_conversions", url):
        return pd.DataFrame(columns=["entry_date", "entered", "converted", "conversion"])
    frame = warehouse.read_frame(
        "select entry_date, max(first_step_users) as entered,"
        " min(users) filter (where step = (select max(step) from marts.funnel_conversions c"
        "   where c.funnel_name = %(f)s)) as converted"
        " from marts.funnel_conversions where funnel_name = %(f)s and breakdown = %(b)s and breakdown_value = %(v)s"
        " and entry_date between %(start)s and %(end)s and is_window_complete"
        " group by entry_date order by entry_date",
        {"f": funnel, "start": start, "end": end, "b": breakdown, "v": breakdown_value},
        url,
    )
    entered = pd.to_numeric(frame["entered"]).astype(float)
    return frame.assign(conversion=(pd.to_numeric(frame["converted"]).astype(float) / entered).where(entered > 0))


def user_exists(url: str | None, user_key: str) -> bool:
    if not warehouse.table_exists("marts.dim_users", url):
        return False
    return not warehouse.read_frame("select 1 from marts.dim_users where user_key = %(u)s", {"u": user_key}, url).empty


def user_profile(url: str | None, user_key: str) -> dict | None:
    frame = warehouse.read_frame("select * from marts.dim_users where user_key = %(u)s", {"u": user_key}, url)
    return frame.to_dict("records")[0] if len(frame) else None


def user_events(url: str | None, user_key: str, limit: int, offset: int) -> pd.DataFrame:
    """A user's events, newest first (staging.stg_events: deduplicated, identity-resolved)."""
    return warehouse.read_frame(
        "select event_time, event, platform, prompt_id, prompt_category, render_id, duration_s, error_code, plan"
        " from staging.stg_events where user_key = %(u)s order by event_time desc limit %(n)s offset %(o)s",
        {"u": user_key, "n": limit, "o": offset},
        url,
    )


def user_sessions(url: str | None, user_key: str, limit: int = 50) -> pd.DataFrame:
    return warehouse.read_frame(
        "select session_date, session_start, session_end, duration_seconds, event_count, entry_event, exit_event,"
        " platform, renders_started, renders_completed, renders_failed from marts.sessions"
        " where user_key = %(u)s order by session_start desc limit %(n)s",
        {"u": user_key, "n": limit},
        url,
    )


def user_scores(url: str | None, user_key: str, limit: int = 30) -> pd.DataFrame:
    """The user's churn scores, newest first (empty before the first scored day)."""
    if not warehouse.table_exists("ml.churn_scores", url):
        return pd.DataFrame()
    return warehouse.read_frame(
        "select * from ml.churn_scores where user_key = %(u)s order by score_date desc limit %(n)s",
        {"u": user_key, "n": limit},
        url,
    )


def loaded_days(url: str | None, days: int = 14) -> pd.DataFrame:
    """The newest `days` loaded reporting days: rows, quarantined lines, the load that holds the day."""
    if not warehouse.table_exists("raw.loads", url):
        return pd.DataFrame(columns=["day", "events", "quarantined", "loaded_at", "source"])
    return warehouse.read_frame(
        """
        with days as (select partition_date as day, count(*) as events from raw.events
                      where partition_date > (select max(last_day) from raw.loads where kind = 'events') - %(n)s
                      group by 1),
        quarantined as (select partition_date as day, count(*) as quarantined from raw.events_quarantine
                        where partition_date is not null group by 1)
        select d.day, d.events, coalesce(q.quarantined, 0) as quarantined,
               (select max(loaded_at) from raw.loads l where l.kind = 'events'
                  and d.day between l.first_day and l.last_day) as loaded_at
        from days d left join quarantined q using (day) order by d.day desc
        """,
        {"n": days},
        url,
    )


def data_version(url: str | None) -> str:
    """A fingerprint of the warehouse's data: each table's identity and its insert/update/delete counters from
    PostgreSQL's statistics (a dbt rebuild makes a new table, a load or delete moves a counter). The app's own
    schema (users, tokens, audit) and `public` (where a shared Dagster storage would write) do not count. The
    counters reach the statistics when a writer's transaction ends and it goes idle (about a second later)."""
    frame = warehouse.read_frame(
        "select count(*) as tables,"
        " coalesce(md5(string_agg(relid::text || ':' || n_tup_ins || ':' || n_tup_upd || ':' || n_tup_del, ','"
        " order by relid)), '') as fingerprint"
        " from pg_stat_user_tables where schemaname not in ('app', 'public')",
        url=url,
    )
    row = frame.iloc[0]
    return f"{int(row['tables'])}-{row['fingerprint']}"


#: the segment types users filter by, and their dim_users columns (identifiers chosen here, never from a request)
USER_SEGMENT_COLUMNS = {
    "role": "role",
    "experience_level": "experience_level",
    "channel": "acquisition_channel",
    "platform": "platform",
    "country": "country",
}


def segment_values(url: str | None) -> pd.DataFrame:
    """segment_type, segment_value, users: every value of each segment type among the users (dim_users; a missing
    attribute is 'unknown', as in daily_metrics_by_segment)."""
    if not warehouse.table_exists("marts.dim_users", url):
        return pd.DataFrame(columns=["segment_type", "segment_value", "users"])
    selects = " union all ".join(
        f"select '{segment_type}' as segment_type, coalesce({column}, 'unknown') as segment_value from marts.dim_users"
        for segment_type, column in USER_SEGMENT_COLUMNS.items()
    )
    return warehouse.read_frame(
        f"select segment_type, segment_value, count(*) as users from ({selects}) s group by 1, 2 order by 1, 3 desc, 2",
        url=url,
    )


def churn_scores(
    url: str | None, day: date, tier: str | None = None, segment: tuple[str, str] | None = None
) -> pd.DataFrame:
    """ml.churn_scores of a day, riskiest first; only one risk tier and only the users of a segment when given
    (segment: a USER_SEGMENT_COLUMNS type and a value)."""
    where, params = ["s.score_date = %(day)s"], {"day": day}
    if tier is not None:
        where.append("s.risk_tier = %(tier)s")
        params["tier"] = tier
    join = ""
    if segment is not None:
        column = USER_SEGMENT_COLUMNS[segment[0]]  # KeyError for anything else: never an identifier from outside
        join = " join marts.dim_users u on u.user_key = s.user_key"
        where.append(f"coalesce(u.{column}, 'unknown') = %(value)s")
        params["value"] = segment[1]
    return warehouse.read_frame(
        "select s.score_date, s.user_key, s.churn_probability, s.risk_tier, s.reason_1, s.reason_2, s.reason_3"
        f" from ml.churn_scores s{join} where {' and '.join(where)}"
        " order by s.churn_probability desc, s.user_key",
        params,
        url,
    )
