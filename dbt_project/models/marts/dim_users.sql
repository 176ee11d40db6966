{#
  One row per resolved user seen in events (user_key not null). Attributes are the first non-null value on
  the user's events by time, falling back to the Engage profile. signup_at: first Sign Up event, else the
  profile's $created. lifecycle_state_today: the user's lifecycle state (see user_lifecycle_daily) on the
  last day with any activity in the data.
  Rebuilt whole on every run, from user_daily_activity's per-day firsts (one row per user and day) rather
  than from every event: the first non-null attribute of the first day that has one is the first overall.
#}
{{ config(materialized='table', indexes=[{'columns': ['user_key'], 'unique': true}]) }}

{%- set attributes = user_attribute_columns() %}

with from_events as (
    select
        user_key,
        min(first_event_at) as first_seen_at,
        min(activity_date) as first_seen_date,
        max(activity_date) as last_seen_date,
        min(signup_at) as signup_at,
        {% for attr in attributes -%}
        {{ first_non_null('first_' ~ attr, 'activity_date') }} as {{ attr }}{{ "," if not loop.last }}
        {% endfor %}
    from {{ ref('user_daily_activity') }}
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
