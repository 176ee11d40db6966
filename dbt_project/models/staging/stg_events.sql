{#
  Typed, deduplicated, identity-resolved events, one partition window at a time.
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

with typed as (
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
        {{ prop('$os') }} as os,
        {{ prop('$browser') }} as browser,
        {{ prop('mp_country_code') }} as country,
        {{ prop('$city') }} as city,
        {{ prop('utm_source') }} as utm_source,
        {{ prop('role') }} as role,
        {{ prop('experience_level') }} as experience_level,
        {{ prop('prompt_id') }} as prompt_id,
        {{ prop('prompt_text') }} as prompt_text,
        {{ prop('prompt_category') }} as prompt_category,
        {{ prop('render_id') }} as render_id,
        {{ to_float_or_null(prop('duration_s')) }} as duration_s,
        {{ prop('error_code') }} as error_code,
        {{ prop('feature') }} as feedback_feature,
        {{ to_float_or_null(prop('rating')) }} as rating,
        {{ prop('plan') }} as plan,
        {{ to_float_or_null(prop('amount')) }} as amount,
        mp_processing_time
    from {{ source('mixpanel', 'raw_events') }}
    where {{ in_window('partition_date', lookback_days=1, lookahead_days=1) }}
),

ranked as (
    select
        typed.*,
        row_number() over (
            partition by event, distinct_id, event_time, insert_id
            order by mp_processing_time, event_date, event_time, event, distinct_id, insert_id, device_id, user_id, platform, os, browser, country,
                city, utm_source, role, experience_level, prompt_id, prompt_text, prompt_category, render_id,
                duration_s, error_code, feedback_feature, rating, plan, amount
        ) as copy_number
    from typed
)

select
    ranked.event_date,
    ranked.event_time,
    ranked.event,
    ranked.distinct_id,
    ranked.insert_id,
    ranked.device_id,
    ranked.user_id,
    ranked.platform,
    ranked.os,
    ranked.browser,
    ranked.country,
    ranked.city,
    ranked.utm_source,
    ranked.role,
    ranked.experience_level,
    ranked.prompt_id,
    ranked.prompt_text,
    ranked.prompt_category,
    ranked.render_id,
    ranked.duration_s,
    ranked.error_code,
    ranked.feedback_feature,
    ranked.rating,
    ranked.plan,
    ranked.amount,
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
