{#
  Funnel attempts, one row per attempt and step reached (funnels defined in seed `funnels`).

  Attempt: one per user, funnel and entry day (reporting zone). It starts at the user's FIRST step-1 event of
  that day (entered_at); a user with step-1 events on several days has one attempt per such day (attempts
  may overlap: each is evaluated on its own). Conversion window: [entered_at, entered_at + window_days),
  window_days per funnel from the seed, else var funnel_default_window_days.
  Sequential matching: step k is reached at the earliest step-k event strictly after the time step k-1 was
  reached and before the window ends; other events may occur in between. Earliest matching is optimal, so
  an attempt reaches the deepest step any ordering of its events allows; a step that happened only before
  the previous step (out of order) does not count.
  Unpartitioned: rebuilt whole from stg_events, so windows that cross partition boundaries are exact for any
  order of partition runs.
#}
{{ config(materialized='table', indexes=[{'columns': ['funnel_name', 'entry_date']}, {'columns': ['user_key']}]) }}

{%- set max_steps = funnel_max_steps(ref('funnels')) %}

with definitions as (
    {{ funnel_definitions(ref('funnels')) }}
),

funnel_settings as (
    select
        funnel_name,
        coalesce(max(window_days), {{ var('funnel_default_window_days') }}) as window_days,
        max(cast(step as {{ dbt.type_int() }})) as steps_in_funnel
    from {{ ref('funnels') }}
    group by funnel_name
),

entries as (
    select
        s.funnel_name,
        s.user_key,
        s.event_date as entry_date,
        min(s.event_time) as entered_at
    from {{ ref('int_funnel_events') }} as s
    where s.step = 1
    group by s.funnel_name, s.user_key, s.event_date
),

attempts as (
    select
        r.funnel_name,
        r.user_key,
        r.entry_date,
        r.entered_at,
        f.window_days,
        f.steps_in_funnel,
        {{ dbt.dateadd('day', 'f.window_days', 'r.entered_at') }} as window_ends_at
    from entries as r
    inner join funnel_settings as f on f.funnel_name = r.funnel_name
),

reached_1 as (
    select funnel_name, user_key, entry_date, window_ends_at, entered_at as reached_at
    from attempts
)

{%- for k in range(2, max_steps + 1) %},

reached_{{ k }} as (
    select
        p.funnel_name,
        p.user_key,
        p.entry_date,
        p.window_ends_at,
        min(s.event_time) as reached_at
    from reached_{{ k - 1 }} as p
    inner join {{ ref('int_funnel_events') }} as s
        on s.funnel_name = p.funnel_name
       and s.user_key = p.user_key
       and s.step = {{ k }}
       and s.event_time > p.reached_at
       and s.event_time < p.window_ends_at
    group by p.funnel_name, p.user_key, p.entry_date, p.window_ends_at
)
{%- endfor %},

reached as (
    {%- for k in range(1, max_steps + 1) %}
    select {{ k }} as step, funnel_name, user_key, entry_date, reached_at from reached_{{ k }}
    {{- " union all" if not loop.last }}
    {%- endfor %}
),

steps as (
    select
        a.funnel_name,
        a.user_key,
        a.entry_date,
        a.entered_at,
        a.window_days,
        a.window_ends_at,
        a.steps_in_funnel,
        r.step,
        d.event,
        d.property_name,
        d.property_value,
        r.reached_at,
        lag(r.reached_at) over (
            partition by a.funnel_name, a.user_key, a.entry_date order by r.step
        ) as previous_step_at,
        max(r.step) over (partition by a.funnel_name, a.user_key, a.entry_date) as max_step_reached
    from attempts as a
    inner join reached as r
        on r.funnel_name = a.funnel_name and r.user_key = a.user_key and r.entry_date = a.entry_date
    inner join definitions as d
        on d.funnel_name = r.funnel_name and d.step = r.step
)

select
    steps.funnel_name,
    steps.user_key,
    steps.entry_date,
    steps.entered_at,
    steps.window_days,
    steps.window_ends_at,
    steps.window_ends_at <= (select max(event_time) from {{ ref('stg_events') }}) as is_window_complete,
    steps.steps_in_funnel,
    steps.max_step_reached,
    steps.max_step_reached = steps.steps_in_funnel as is_converted,
    steps.step,
    steps.event,
    steps.property_name,
    steps.property_value,
    steps.reached_at,
    {{ seconds_between('steps.entered_at', 'steps.reached_at') }} as seconds_from_entry,
    {{ seconds_between('steps.previous_step_at', 'steps.reached_at') }} as seconds_from_previous_step
from steps
