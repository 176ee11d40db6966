{#
  The events that match a funnel step (seed `funnels`: event name and optional property filter), one row per
  funnel, step and event. A table of its own so the step-by-step matching in funnel_steps is planned from
  real statistics.
#}
{{ config(
    materialized='table',
    indexes=[{'columns': ['funnel_name', 'step', 'user_key', 'event_time']}],
    post_hook=["{{ analyze_table(this) }}"],
) }}

with definitions as (
    {{ funnel_definitions(ref('funnels')) }}
)

select
    d.funnel_name,
    d.step,
    e.user_key,
    e.event_date,
    e.event_time
from {{ ref('stg_events') }} as e
inner join definitions as d on d.event = e.event
where e.user_key is not null
  and (d.property_name is null
       or {{ funnel_property_value('e', 'd.property_name', ref('stg_events')) }} = d.property_value)
