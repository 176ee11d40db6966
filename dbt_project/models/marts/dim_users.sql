{#
  One row per resolved user seen in events (user_key not null). Attributes are the first non-null value on
  the user's events by time, falling back to the Engage profile. signup_at: first Sign Up event, else the
  profile's $created. lifecycle_state_today: the user's lifecycle state (see user_lifecycle_daily) on the
  last day with any activity in the data.
  Rebuilt whole on every run.
#}
{{ config(materialized='table', indexes=[{'columns': ['user_key'], 'unique': true}]) }}

with events as (
    select user_key, event_time, event_date, event, role, experience_level, utm_source, platform, country
    from {{ ref('stg_events') }}
    where user_key is not null
),

firsts as (
    select
        user_key,
        event_time,
        event_date,
        event,
        {% for attr in ['role', 'experience_level', 'utm_source', 'platform', 'country'] -%}
        first_value({{ attr }}) over (
            partition by user_key
            order by case when {{ attr }} is null then 1 else 0 end, event_time
            rows between unbounded preceding and unbounded following
        ) as first_{{ attr }}{{ "," if not loop.last }}
        {% endfor %}
    from events
),

from_events as (
    select
        user_key,
        min(event_time) as first_seen_at,
        min(event_date) as first_seen_date,
        max(event_date) as last_seen_date,
        min(case when event = 'Sign Up' then event_time end) as signup_at,
        max(first_role) as role,
        max(first_experience_level) as experience_level,
        max(first_utm_source) as utm_source,
        max(first_platform) as platform,
        max(first_country) as country
    from firsts
    group by user_key
),

-- Engage profiles (one row per distinct_id = identified user id)
profiles as (
    select
        distinct_id as user_key,
        {{ prop('role') }} as role,
        {{ prop('experience_level') }} as experience_level,
        coalesce({{ prop('acquisition_channel') }}, {{ prop('utm_source') }}) as acquisition_channel,
        lower({{ prop('platform') }}) as platform,
        coalesce({{ prop('$country_code') }}, {{ prop('mp_country_code') }}) as country,
        {{ parse_utc_timestamp(prop('$created')) }} as created_at
    from {{ source('mixpanel', 'raw_profiles') }}
),

lifecycle_today as (
    select user_key, lifecycle_state
    from {{ ref('user_lifecycle_daily') }}
    where lifecycle_date = (select max(lifecycle_date) from {{ ref('user_lifecycle_daily') }})
)

select
    e.user_key,
    e.first_seen_at,
    e.first_seen_date,
    coalesce(e.signup_at, p.created_at) as signup_at,
    coalesce({{ local_date('e.signup_at') }}, {{ local_date('p.created_at') }}) as signup_date,
    coalesce(e.role, p.role) as role,
    coalesce(e.experience_level, p.experience_level) as experience_level,
    coalesce(e.utm_source, p.acquisition_channel) as acquisition_channel,
    coalesce(e.platform, p.platform) as platform,
    coalesce(e.country, p.country) as country,
    e.last_seen_date,
    l.lifecycle_state as lifecycle_state_today
from from_events as e
left join profiles as p
    on p.user_key = e.user_key
left join lifecycle_today as l
    on l.user_key = e.user_key
