{#
  Retention by first-seen cohort (dim_users.first_seen_date), daily and weekly.
  - cohort_grain 'day': cohort = first-seen day; period N (0..30) = the Nth day after it.
  - cohort_grain 'week': cohort = first-seen calendar week (Monday start); period N (0..12) = the Nth calendar
    week after the cohort week (so period 0 of a user first seen on a Sunday is one day long).
  Active = any event of the resolved user on that reporting day (stg_events).
  retained_users (bounded): cohort members active in period N; retained_users_unbounded: active in period N or
  any later period (up to the last activity date). A (cohort, N) row exists only when period N has fully
  elapsed by the last activity date in stg_events.
#}
{{ config(materialized='table') }}

{%- set grains = [('day', 1, 30), ('week', 7, 12)] %}

with users as (
    select
        user_key,
        first_seen_date,
        {{ iso_week_start('first_seen_date') }} as first_seen_week
    from {{ ref('dim_users') }}
    where first_seen_date is not null
),

activity as (
    select distinct user_key, event_date as activity_date
    from {{ ref('stg_events') }}
    where user_key is not null
),

user_periods as (
    select
        cast('day' as {{ dbt.type_string() }}) as cohort_grain,
        u.user_key,
        u.first_seen_date as cohort_start,
        {{ dbt.datediff('u.first_seen_date', 'a.activity_date', 'day') }} as period_number
    from users as u
    inner join activity as a on a.user_key = u.user_key and a.activity_date >= u.first_seen_date
    union all
    select
        cast('week' as {{ dbt.type_string() }}) as cohort_grain,
        u.user_key,
        u.first_seen_week as cohort_start,
        cast(floor({{ dbt.datediff('u.first_seen_week', 'a.activity_date', 'day') }} / 7.0) as {{ dbt.type_int() }})
            as period_number
    from users as u
    inner join activity as a on a.user_key = u.user_key and a.activity_date >= u.first_seen_date
),

active as (
    select distinct cohort_grain, user_key, cohort_start, period_number from user_periods
),

last_period as (
    select cohort_grain, user_key, cohort_start, max(period_number) as last_active_period
    from active
    group by cohort_grain, user_key, cohort_start
),

cohorts as (
    select cast('day' as {{ dbt.type_string() }}) as cohort_grain, first_seen_date as cohort_start, count(*) as cohort_users
    from users group by first_seen_date
    union all
    select cast('week' as {{ dbt.type_string() }}), first_seen_week, count(*)
    from users group by first_seen_week
),

periods as (
    {%- for grain, days, last_n in grains %}
    select cast('{{ grain }}' as {{ dbt.type_string() }}) as cohort_grain, n as period_number, {{ days }} as period_days
    from ({{ integer_series(last_n) }}) as numbers_{{ grain }}
    {{- " union all" if not loop.last }}
    {%- endfor %}
),

grid as (
    select
        c.cohort_grain,
        c.cohort_start,
        p.period_number,
        {{ add_days('c.cohort_start', 'p.period_number * p.period_days') }} as period_start,
        {{ add_days('c.cohort_start', 'p.period_number * p.period_days + p.period_days - 1') }} as period_end,
        c.cohort_users
    from cohorts as c
    inner join periods as p on p.cohort_grain = c.cohort_grain
),

bounded as (
    select cohort_grain, cohort_start, period_number, count(*) as retained_users
    from active
    group by cohort_grain, cohort_start, period_number
),

unbounded as (
    select g.cohort_grain, g.cohort_start, g.period_number, count(*) as retained_users_unbounded
    from grid as g
    inner join last_period as l
        on l.cohort_grain = g.cohort_grain
       and l.cohort_start = g.cohort_start
       and l.last_active_period >= g.period_number
    group by g.cohort_grain, g.cohort_start, g.period_number
)

select
    g.cohort_grain,
    g.cohort_start,
    g.period_number,
    g.period_start,
    g.period_end,
    g.cohort_users,
    coalesce(b.retained_users, 0) as retained_users,
    {{ safe_ratio('coalesce(b.retained_users, 0)', 'g.cohort_users') }} as retention_rate,
    coalesce(u.retained_users_unbounded, 0) as retained_users_unbounded,
    {{ safe_ratio('coalesce(u.retained_users_unbounded, 0)', 'g.cohort_users') }} as retention_rate_unbounded
from grid as g
left join bounded as b
    on b.cohort_grain = g.cohort_grain and b.cohort_start = g.cohort_start and b.period_number = g.period_number
left join unbounded as u
    on u.cohort_grain = g.cohort_grain and u.cohort_start = g.cohort_start and u.period_number = g.period_number
where g.period_end <= (select max(activity_date) from activity)
