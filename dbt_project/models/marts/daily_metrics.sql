{#
  Product KPIs in long format: one row per reporting day (every day from the first to the last day with
  activity) and metric of seeds/metric_catalogue.csv. This model computes the base counts per day (`wide`);
  each metric's value, numerator and denominator are the catalogue's SQL expressions over them (macro
  metric_rows). For ratios numerator / denominator hold its parts, for medians denominator holds the sample
  size, for counts numerator = value; a ratio with a zero denominator is null. Rebuilt whole on every run from
  user_daily_activity, sessions and dim_users, so trailing windows are right for any order of partition runs.
#}
-- depends_on: {{ ref('metric_catalogue') }}
{{ config(materialized='table', indexes=[{'columns': ['metric', 'metric_date']}]) }}

with activity as (
    select
        *,
        lag(activity_date) over (partition by user_key order by activity_date) as previous_active_date
    from {{ ref('user_daily_activity') }}
),

days as (
    {{ activity_days() }}
),

per_day as (
    select
        activity_date as day,
        count(*) as dau,
        sum(events) as events,
        sum(renders_started) as renders_started,
        sum(renders_completed) as renders_completed,
        sum(renders_failed) as renders_failed,
        sum(sketches_uploaded) as sketches_uploaded,
        sum(messages_liked) as messages_liked,
        sum(messages_disliked) as messages_disliked,
        sum(case when feedback_submitted > 0 then 1 else 0 end) as feedback_users,
        sum(case when stems_used > 0 then 1 else 0 end) as stems_users,
        sum(case when lyrics_generated > 0 then 1 else 0 end) as lyrics_users,
        sum(case when previous_active_date is not null
                  and {{ dbt.datediff('previous_active_date', 'activity_date', 'day') }} <= 28
                 then 1 else 0 end) as returning_users,
        sum(case when previous_active_date is not null then 1 else 0 end) as users_with_previous_day,
        {{ median(dbt.datediff('previous_active_date', 'activity_date', 'day')) }} as median_days_between
    from activity
    group by activity_date
),

trailing_users as (
    select
        d.day,
        count(distinct case when a.activity_date > {{ dbt.dateadd('day', -7, 'd.day') }} then a.user_key end) as wau,
        count(distinct a.user_key) as mau
    from days as d
    inner join activity as a
        on a.activity_date > {{ dbt.dateadd('day', -28, 'd.day') }}
       and a.activity_date <= d.day
    group by d.day
),

session_stats as (
    select
        session_date as day,
        count(*) as sessions,
        sum(event_count) as session_events,
        sum(duration_seconds) / 60.0 as session_minutes,
        {{ median('duration_seconds / 60.0') }} as median_session_minutes
    from {{ ref('sessions') }}
    group by session_date
),

new_users as (
    select first_seen_date as day, count(*) as new_users
    from {{ ref('dim_users') }}
    group by first_seen_date
),

wide as (
    select
        d.day,
        coalesce(n.new_users, 0) as new_users,
        coalesce(p.dau, 0) as dau,
        coalesce(t.wau, 0) as wau,
        coalesce(t.mau, 0) as mau,
        coalesce(s.sessions, 0) as sessions,
        coalesce(s.session_events, 0) as session_events,
        coalesce(s.session_minutes, 0) as session_minutes,
        s.median_session_minutes,
        p.median_days_between,
        coalesce(p.users_with_previous_day, 0) as users_with_previous_day,
        coalesce(p.renders_started, 0) as renders_started,
        coalesce(p.renders_completed, 0) as renders_completed,
        coalesce(p.renders_failed, 0) as renders_failed,
        coalesce(p.sketches_uploaded, 0) as sketches_uploaded,
        coalesce(p.messages_liked, 0) as messages_liked,
        coalesce(p.messages_disliked, 0) as messages_disliked,
        coalesce(p.feedback_users, 0) as feedback_users,
        coalesce(p.returning_users, 0) as returning_users,
        coalesce(p.stems_users, 0) as stems_users,
        coalesce(p.lyrics_users, 0) as lyrics_users
    from days as d
    left join per_day as p on p.day = d.day
    left join trailing_users as t on t.day = d.day
    left join session_stats as s on s.day = d.day
    left join new_users as n on n.day = d.day
)

{{ metric_rows('wide') }}
