{#
  Deduplicated, identity-resolved raw events with extra properties, for the experiment and AI staging models:
  the same rules as stg_events (Mixpanel's dedup key, the copy processed first kept; user_key through
  int_identity_map), for the events `event_filter` selects and the property columns `properties`
  [(column, Mixpanel property, numeric?)]. Reads only the run's partition window.
#}
{% macro resolved_raw_events(event_filter, properties) -%}
with typed as (
    {{ typed_raw_events(properties) }}
    where {{ in_window('partition_date') }}
      and ({{ event_filter }})
),

ranked as (
    select
        typed.*,
        row_number() over (
            partition by event, distinct_id, event_time, insert_id
            order by mp_processing_time, device_id, user_id
            {%- for column, property, numeric in properties %}, {{ column }}{% endfor %}
        ) as copy_number
    from typed
)

select
    ranked.event_date,
    ranked.event_time,
    ranked.event,
    ranked.insert_id,
    coalesce(
        ranked.user_id,
        identity.user_id,
        case when ranked.device_id is not null then {{ dbt.concat(["'device:'", 'ranked.device_id']) }} end,
        ranked.distinct_id
    ) as user_key,
    ranked.platform,
    {%- for column, property, numeric in properties %}
    ranked.{{ column }}{{ "," if not loop.last }}
    {%- endfor %}
from ranked
left join {{ ref('int_identity_map') }} as identity
    on identity.device_id = ranked.device_id
where ranked.copy_number = 1
{%- endmacro %}
