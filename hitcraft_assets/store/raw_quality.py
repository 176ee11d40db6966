"""The queries behind the raw-event data-quality checks (`defs/ingest/checks.py` runs them through Great
Expectations). GX query assets take no bind parameters, so each query is built here from dates (never from
user strings)."""

from __future__ import annotations

from datetime import date, timedelta

from hitcraft_assets.store import warehouse

#: `column:type` of each column of raw.events, to compare with the contract.
COLUMN_TYPES = (
    "select column_name || ':' || data_type as column_type from information_schema.columns "
    "where table_schema = 'raw' and table_name = 'events'"
)


def latest_load_days(url: str | None = None) -> tuple[date, date] | None:
    """First and last day of the newest events load, or None before the first."""
    if not warehouse.table_exists("raw.loads", url):
        return None
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute("select first_day, last_day from raw.loads where kind = 'events' order by loaded_at desc limit 1")
        return cur.fetchone()


def _day_bounds(first: date, last: date, timezone: str) -> str:
    """VALUES of (day, UTC start, UTC end) for each reporting day, computed by Python's zoneinfo (the
    loader's own rules), so the check does not depend on PostgreSQL's time-zone data."""
    from hitcraft_assets.mixpanel.lines import utc_bounds_of_dates

    rows = []
    day = first
    while day <= last:
        start, end = utc_bounds_of_dates(day, day, timezone)
        rows.append(f"(date '{day}', to_timestamp({start}), to_timestamp({end}))")
        day += timedelta(days=1)
    return "select * from (values " + ", ".join(rows) + ") as b(day, day_start, day_end)"


def rows_with_partition_fit(first: date, last: date, timezone: str) -> str:
    """Each event of the days with whether its event_time lies inside its partition's reporting day."""
    return (
        "select e.event, e.insert_id, e.event_time, "
        "(e.event_time >= b.day_start and e.event_time < b.day_end) as time_in_partition "
        f"from raw.events e join ({_day_bounds(first, last, timezone)}) b on b.day = e.partition_date "
        f"where e.partition_date between '{first}' and '{last}'"
    )


def rows_on_days_with_history(first: date, last: date, timezone: str) -> str:
    """Each day's row count when the 28 days before it had events (else null): an empty day after days with
    events is an outage or a broken load, not a quiet day."""
    return (
        "select b.day, case when exists (select 1 from raw.events h where h.partition_date between b.day - 28 "
        "and b.day - 1) then (select count(*) from raw.events e where e.partition_date = b.day) end "
        f"as rows_on_day_with_history from ({_day_bounds(first, last, timezone)}) b"
    )


def _current_loads(first: date, last: date) -> str:
    """The load that currently holds each day (newest load covering it)."""
    return f"""
        select distinct on (d.day) l.load_id, l.lines
        from generate_series('{first}'::date, '{last}'::date, interval '1 day') as d(day)
        join raw.loads l on l.kind = 'events' and d.day::date between l.first_day and l.last_day
        order by d.day, l.loaded_at desc"""


def quarantine_shares(first: date, last: date) -> str:
    """Quarantined share per day, and per load for undated (unparseable) lines of the loads that hold the days."""
    return f"""
        with stored as (select partition_date as day, count(*) as n from raw.events
                        where partition_date between '{first}' and '{last}' group by 1),
        dated as (select partition_date as day, count(*) as n from raw.events_quarantine
                  where partition_date between '{first}' and '{last}' group by 1),
        loads as (select distinct load_id, lines from ({_current_loads(first, last)}) c),
        undated as (select q.load_id, count(*) as n from raw.events_quarantine q
                    join loads using (load_id) where q.partition_date is null group by 1)
        select 'day ' || d.day as scope, coalesce(q.n, 0) as quarantined,
               coalesce(q.n, 0)::float / greatest(coalesce(s.n, 0) + coalesce(q.n, 0), 1) as quarantine_share
        from generate_series('{first}'::date, '{last}'::date, interval '1 day') as d(day)
        left join stored s on s.day = d.day::date left join dated q on q.day = d.day::date
        union all
        select 'load ' || u.load_id, u.n, u.n::float / greatest(l.lines, 1)
        from undated u join loads l using (load_id)
    """


def quarantine_reasons(first: date, last: date, url: str | None = None) -> dict[str, int]:
    """Quarantined lines of the days (and undated lines of the loads holding them) by reason, most first."""
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        current_loads = _current_loads(first, last)
        cur.execute(
            "select reason, count(*) from raw.events_quarantine q where q.partition_date between %(first)s and "
            f"%(last)s or (q.partition_date is null and q.load_id in (select load_id from ({current_loads}) c)) "
            "group by 1 order by 2 desc",
            {"first": first, "last": last},
        )
        return dict(cur.fetchall())


def distinct_events(first: date, last: date) -> str:
    return f"select distinct event from raw.events where partition_date between '{first}' and '{last}'"


def daily_volume_ratios(first: date, last: date) -> str:
    """Each day's rows against the median of the same weekday over the previous 28 days (days before the first
    loaded day are not history)."""
    history_start = first - timedelta(days=28)
    return f"""
        with loaded as (select partition_date as day, count(*)::float as n from raw.events
                        where partition_date between '{history_start}' and '{last}' group by 1),
        counts as (select d.day::date as day, coalesce(l.n, 0) as n
                   from generate_series('{history_start}'::date, '{last}'::date, interval '1 day') as d(day)
                   left join loaded l on l.day = d.day::date
                   where d.day::date >= (select min(day) from loaded)),
        ratios as (
        select t.day, t.n as events,
               (select percentile_cont(0.5) within group (order by h.n) from counts h
                where h.day < t.day and h.day >= t.day - 28 and extract(isodow from h.day) = extract(isodow from t.day)
               ) as weekday_median
        from counts t where t.day between '{first}' and '{last}')
        select day, events, weekday_median, events / nullif(weekday_median, 0) as ratio_to_median from ratios
    """
