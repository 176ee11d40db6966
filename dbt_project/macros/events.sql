{# What the models know about the events and users (names from the event catalogue and dbt_project.yml vars). #}

{# `event in (<var core_events>)` #}
{% macro is_core_event(column='event') -%}
    {{ event_in('core_events', column) }}
{%- endmacro %}

{# `event in (<var names>)`, for a list var of event names (server_events, subscription_events) #}
{% macro event_in(var_name, column='event') -%}
    {%- set names = var(var_name) -%}
    {%- if names | length == 0 -%} 1 = 0
    {%- else -%}
    {{ column }} in ({% for n in names %}'{{ n | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{#
  The stg_events columns that describe a user, kept per day as first_<column> in user_daily_activity (the
  first non-null value of the day) and folded by dim_users into the user's first non-null value overall.
#}
{% macro user_attribute_columns() -%}
    {{ return(['role', 'experience_level', 'utm_source', 'platform', 'country']) }}
{%- endmacro %}


{#
  The select list and FROM of raw events as typed rows, the first step of every staging model over raw events:
  partition day, time, event, distinct_id, $insert_id, the device and user ids Mixpanel's ID merge needs, the
  platform, the `properties` [(column, Mixpanel property, numeric?)] and mp_processing_time (the dedup order).
  The caller adds its WHERE (the partition window, an event filter).
#}
{% macro typed_raw_events(properties) -%}
select
    partition_date as event_date,
    event_time,
    event,
    distinct_id,
    insert_id,
    coalesce(
        {{ prop('$device_id') }},
        case when distinct_id like '$device:%' then substr(distinct_id, 9) end
    ) as device_id,
    coalesce(
        {{ prop('$user_id') }},
        case when distinct_id not like '$device:%' then distinct_id end
    ) as user_id,
    lower(coalesce({{ prop('platform') }},
        case {{ prop('$os') }} when 'iOS' then 'ios' when 'Android' then 'android' else 'web' end)) as platform,
    {%- for column, property, numeric in properties %}
    {{ to_float_or_null(prop(property)) if numeric else prop(property) }} as {{ column }},
    {%- endfor %}
    mp_processing_time
from {{ source('mixpanel', 'raw_events') }}
{%- endmacro %}
