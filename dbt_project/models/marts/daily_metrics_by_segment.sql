{#
  daily_metrics by user segment (dim_users attributes: role, experience_level, channel = acquisition channel,
  platform = first platform, country), for root-cause drill-down. Same long shape plus segment_type / segment_value
  (null attributes become 'unknown'); every day x every segment value seen, zero-filled. The metrics of
  seeds/metric_catalogue.csv with by_segment = true (those that add up per segment: no trailing windows), from
  the same expressions as daily_metrics over this model's per-segment base counts. Rebuilt whole on every run.
#}
-- depends_on: {{ ref('metric_catalogue') }}
{{ config(materialized='table', indexes=[{'columns': ['metric', 'segment_type', 'metric_date']}]) }}

{% set segment_columns = [('role', 'role'), ('experience_level', 'experience_level'),
                          ('channel', 'acquisition_channel'), ('platform', 'platform'),
                          ('country', 'country')] %}

with users as (
    {% for segment_type, column in segment_columns %}
    select user_key, first_seen_date, '{{ segment_type }}' as segment_type,
           coalesce({{ column }}, 'unknown') as segment_value
    from {{ ref('dim_users') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

days as (
    {{ activity_days() }}
),

segments as (
    select distinct segment_type, segment_value from users
),

per_day as (
    select
        a.activity_date as day,
        u.segment_type,
        u.segment_value,
        count(*) as dau,
        sum(a.sessions) as sessions,
        sum(a.events) as events,
        sum(a.minutes) as session_minutes,
        sum(a.renders_started) as renders_started,
        sum(a.renders_completed) as renders_completed,
        sum(a.renders_failed) as renders_failed,
        sum(a.sketches_uploaded) as sketches_uploaded,
        sum(case when a.feedback_submitted > 0 then 1 else 0 end) as feedback_users
    from {{ ref('user_daily_activity') }} as a
    inner join users as u on u.user_key = a.user_key
    group by a.activity_date, u.segment_type, u.segment_value
),

new_users as (
    select first_seen_date as day, segment_type, segment_value, count(*) as new_users
    from users
    group by first_seen_date, segment_type, segment_value
),

wide as (
    select
        d.day,
        g.segment_type,
        g.segment_value,
        coalesce(n.new_users, 0) as new_users,
        coalesce(p.dau, 0) as dau,
        coalesce(p.sessions, 0) as sessions,
        coalesce(p.session_minutes, 0) as session_minutes,
        coalesce(p.renders_started, 0) as renders_started,
        coalesce(p.renders_completed, 0) as renders_completed,
        coalesce(p.renders_failed, 0) as renders_failed,
        coalesce(p.sketches_uploaded, 0) as sketches_uploaded,
        coalesce(p.feedback_users, 0) as feedback_users
    from days as d
    cross join segments as g
    left join per_day as p
        on p.day = d.day and p.segment_type = g.segment_type and p.segment_value = g.segment_value
    left join new_users as n
        on n.day = d.day and n.segment_type = g.segment_type and n.segment_value = g.segment_value
)

{{ metric_rows('wide', key_columns=['segment_type', 'segment_value'], segmented=true) }}
