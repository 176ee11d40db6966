{#
  Typed, deduplicated, identity-resolved events of what users do, one partition window at a time (the
  billing system's server-side events, var server_events, are in stg_subscription_events instead).
  Dedup on Mixpanel's key (event, distinct_id, time, $insert_id): the copy Mixpanel processed first is
  kept (lowest mp_processing_time; ties broken by the extracted columns, so the output is deterministic: copies
  that tie on all of them are identical in every column kept). user_key: the identified user id, else the user a
  device was merged into (int_identity_map), else 'device:<id>', else the distinct_id.
  Properties are extracted before the dedup so that the sort carries narrow typed rows, not the jsonb.
#}
{#
  The window is widened by one day on each side: downstream sessions need their neighbours' events, and
  rebuilding them from raw makes any order of partition runs give the same tables.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_window('event_date', lookback_days=1, lookahead_days=1) }}",
    tags=['daily'],
    indexes=[{'columns': ['event_date']}, {'columns': ['user_key', 'event_time']}],
) }}

{#- Event properties kept as typed columns: (column, Mixpanel property, numeric?), in output order. -#}
{%- set properties = [
    ('os', '$os', false),
    ('browser', '$browser', false),
    ('country', 'mp_country_code', false),
    ('city', '$city', false),
    ('utm_source', 'utm_source', false),
    ('role', 'role', false),
    ('experience_level', 'experience_level', false),
    ('prompt_id', 'prompt_id', false),
    ('prompt_text', 'prompt_text', false),
    ('prompt_category', 'prompt_category', false),
    ('render_id', 'render_id', false),
    ('duration_s', 'duration_s', true),
    ('error_code', 'error_code', false),
    ('feedback_feature', 'feature', false),
    ('rating', 'rating', true),
    ('plan', 'plan', false),
    ('amount', 'amount', true),
] -%}
{#- every column of `typed` but mp_processing_time: the dedup sort's tie-breakers, and the output columns -#}
{%- set columns = ['event_date', 'event_time', 'event', 'distinct_id', 'insert_id', 'device_id', 'user_id', 'platform']
    + properties | map(attribute=0) | list -%}

with typed as (
    {{ typed_raw_events(properties) }}
    where {{ in_window('partition_date', lookback_days=1, lookahead_days=1) }}
      and not ({{ event_in('server_events') }})  -- billing events are not user activity (stg_subscription_events)
),

ranked as (
    select
        typed.*,
        row_number() over (
            partition by event, distinct_id, event_time, insert_id
            order by mp_processing_time, {{ columns | join(', ') }}
        ) as copy_number
    from typed
)

select
    {%- for column in columns %}
    ranked.{{ column }},
    {%- endfor %}
    ranked.mp_processing_time,
    coalesce(
        ranked.user_id,
        identity.user_id,
        case when ranked.device_id is not null then {{ dbt.concat(["'device:'", 'ranked.device_id']) }} end,
        ranked.distinct_id
    ) as user_key
from ranked
left join {{ ref('int_identity_map') }} as identity
    on identity.device_id = ranked.device_id
where ranked.copy_number = 1
