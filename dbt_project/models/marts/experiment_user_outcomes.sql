{#
  Per experiment and exposed user (users exposed to two variants excluded): outcome counts in the window of
  var experiment_window_days after the first exposure [exposed_at, exposed_at + N days), and the same counts
  in the pre-exposure window of the same length [exposed_at - N days, exposed_at) for CUPED.
  is_window_complete: the post window ended at or before the last event in stg_events; readouts use complete
  windows only, so a user's outcome never grows after it was read.
#}
{{ config(materialized='table', indexes=[{'columns': ['experiment_name', 'variant_name']}]) }}

{%- set n = var('experiment_window_days') | int %}
{%- set counts = [
    ('active_days', "count(distinct case when " ~ is_core_event('e.event') ~ " then e.event_date end)"),
    ('events', "count(*)"),
    ('renders_started', "sum(case when e.event = 'Render Started' then 1 else 0 end)"),
    ('renders_completed', "sum(case when e.event = 'Render Completed' then 1 else 0 end)"),
    ('renders_failed', "sum(case when e.event = 'Render Failed' then 1 else 0 end)"),
    ('downloads', "sum(case when e.event = 'Production Downloaded' then 1 else 0 end)"),
    ('messages', "sum(case when e.event = 'Message Sent' then 1 else 0 end)"),
    ('likes', "sum(case when e.event = 'Message Liked' then 1 else 0 end)"),
    ('dislikes', "sum(case when e.event = 'Message Disliked' then 1 else 0 end)"),
    ('subscriptions', "sum(case when e.event = 'Subscription Started' then 1 else 0 end)"),
] %}

with exposed as (
    select
        experiment_name,
        user_key,
        variant_name,
        first_exposed_at,
        first_exposure_date,
        platform,
        role,
        experience_level,
        utm_source,
        {{ dbt.dateadd('day', n, 'first_exposed_at') }} as window_ends_at,
        {{ dbt.dateadd('day', -n, 'first_exposed_at') }} as pre_window_starts_at
    from {{ ref('experiment_exposures') }}
    where not is_excluded
),

last_event as (
    select max(event_time) as last_event_at from {{ ref('stg_events') }}
),

{#- the same counts after the first exposure and, for CUPED, in the window of the same length before it #}
{%- for window, starts, ends in [('post', 'x.first_exposed_at', 'x.window_ends_at'),
                                 ('pre', 'x.pre_window_starts_at', 'x.first_exposed_at')] %}
{{ window }} as (
    select
        x.experiment_name,
        x.user_key,
        {%- for name, expr in counts %}
        {{ expr }} as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    from exposed as x
    inner join {{ ref('stg_events') }} as e
        on e.user_key = x.user_key
        and e.event_time >= {{ starts }}
        and e.event_time < {{ ends }}
    where e.event <> '{{ var("experiment_event") | replace("'", "''") }}'
    group by x.experiment_name, x.user_key
){{ "," if not loop.last }}
{%- endfor %}

select
    x.experiment_name,
    x.user_key,
    x.variant_name,
    x.first_exposed_at,
    x.first_exposure_date,
    x.window_ends_at,
    x.window_ends_at <= (select last_event_at from last_event) as is_window_complete,
    {{ n }} as window_days,
    x.platform,
    x.role,
    x.experience_level,
    x.utm_source,
    {%- for name, expr in counts %}
    coalesce(post.{{ name }}, 0) as {{ name }},
    coalesce(pre.{{ name }}, 0) as pre_{{ name }}{{ "," if not loop.last }}
    {%- endfor %}
from exposed as x
left join post on post.experiment_name = x.experiment_name and post.user_key = x.user_key
left join pre on pre.experiment_name = x.experiment_name and pre.user_key = x.user_key
