{#
  Product KPIs in long format: one row per reporting day (every day from the first to the last day with
  activity) and metric. value is the metric; for ratios numerator / denominator hold its parts, for medians
  denominator holds the sample size, for counts numerator = value. A ratio with a zero denominator is null.
  Rebuilt whole on every run from user_daily_activity, sessions and dim_users, so trailing windows are right
  for any order of partition runs. Definitions: see _marts_core.yml.
#}
{{ config(materialized='table', indexes=[{'columns': ['metric', 'metric_date']}]) }}

with activity as (
    select
        *,
        lag(activity_date) over (partition by user_key order by activity_date) as previous_active_date
    from {{ ref('user_daily_activity') }}
),

days as (
    {{ day_series(
        '(select min(activity_date) from ' ~ ref('user_daily_activity') ~ ')',
        '(select max(activity_date) from ' ~ ref('user_daily_activity') ~ ')'
    ) }}
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

{%- set metrics = [
    ('new_users', 'new_users', 'new_users', none),
    ('dau', 'dau', 'dau', none),
    ('wau', 'wau', 'wau', none),
    ('mau', 'mau', 'mau', none),
    ('stickiness', none, 'dau', 'mau'),
    ('sessions', 'sessions', 'sessions', none),
    ('sessions_per_user', none, 'sessions', 'dau'),
    ('median_session_minutes', 'median_session_minutes', none, 'sessions'),
    ('mean_session_minutes', none, 'session_minutes', 'sessions'),
    ('events_per_session', none, 'session_events', 'sessions'),
    ('median_days_between_sessions', 'median_days_between', none, 'users_with_previous_day'),
    ('productions_completed', 'renders_completed', 'renders_completed', none),
    ('production_completion_rate', none, 'renders_completed', 'renders_started'),
    ('render_failure_rate', none, 'renders_failed', '(renders_completed + renders_failed)'),
    ('sketch_uploads', 'sketches_uploaded', 'sketches_uploaded', none),
    ('likes_dislikes_ratio', none, 'messages_liked', 'messages_disliked'),
    ('feedback_rate', none, 'feedback_users', 'dau'),
    ('return_user_rate', none, 'returning_users', 'dau'),
    ('stems_adoption_rate', none, 'stems_users', 'dau'),
    ('lyrics_adoption_rate', none, 'lyrics_users', 'dau'),
] %}

{% for name, value, numerator, denominator in metrics %}
select
    day as metric_date,
    '{{ name }}' as metric,
    cast({{ value if value else safe_ratio(numerator, denominator) }} as {{ dbt.type_float() }}) as value,
    cast({{ numerator if numerator else 'null' }} as {{ dbt.type_float() }}) as numerator,
    cast({{ denominator if denominator else 'null' }} as {{ dbt.type_float() }}) as denominator
from wide
{% if not loop.last %}union all{% endif %}
{% endfor %}
