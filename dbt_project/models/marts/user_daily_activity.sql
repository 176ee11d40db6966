{#
  One row per resolved user and reporting day with any event. Event counts are by the event's day
  (event_date); sessions and minutes are those of sessions starting that day (session_date), so with the
  midnight split off a session's events after midnight count on the next day while the session counts on
  its start day.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_window('activity_date') }}",
    tags=['daily'],
    indexes=[{'columns': ['activity_date']}, {'columns': ['user_key']}],
) }}

{%- set actions = [
    ('renders_started', 'Render Started'),
    ('renders_completed', 'Render Completed'),
    ('renders_failed', 'Render Failed'),
    ('sketches_uploaded', 'Sketch Uploaded'),
    ('prompts_selected', 'Prompt Selected'),
    ('lyrics_generated', 'Lyrics Generated'),
    ('lyrics_completed', 'Lyrics Completed'),
    ('messages_sent', 'Message Sent'),
    ('messages_liked', 'Message Liked'),
    ('messages_disliked', 'Message Disliked'),
    ('feedback_submitted', 'Feedback Submitted'),
    ('stems_used', 'Stem Separation Used'),
    ('productions_downloaded', 'Production Downloaded'),
    ('subscriptions_started', 'Subscription Started'),
] -%}
{%- set prompt_categories = var('prompt_categories') -%}
{#- attributes whose first non-null value of the day dim_users needs -#}
{%- set attributes = user_attribute_columns() -%}

with events as (
    select
        event_date as activity_date,
        user_key,
        count(*) as events,
        {% for column, name in actions -%}
        sum(case when event = '{{ name }}' then 1 else 0 end) as {{ column }},
        {% endfor -%}
        {% for category in prompt_categories -%}
        sum(case when event = 'Prompt Selected' and prompt_category = '{{ category }}' then 1 else 0 end)
            as {{ category }}_prompts_selected,
        {% endfor -%}
        sum(case when {{ is_core_event() }} then 1 else 0 end) as core_events,
        min(event_time) as first_event_at,
        min(case when event = 'Sign Up' then event_time end) as signup_at,
        {% for attr in attributes -%}
        {{ first_non_null(attr, 'event_time, ' ~ attr) }} as first_{{ attr }}{{ "," if not loop.last }}
        {% endfor %}
    from {{ ref('stg_events') }}
    where {{ in_window('event_date') }}
      and user_key is not null
    group by event_date, user_key
),

session_days as (
    select
        session_date as activity_date,
        user_key,
        count(*) as sessions,
        sum(duration_seconds) as session_seconds
    from {{ ref('sessions') }}
    where {{ in_window('session_date') }}
    group by session_date, user_key
)

select
    e.activity_date,
    e.user_key,
    coalesce(s.sessions, 0) as sessions,
    e.events,
    coalesce(s.session_seconds, 0) / 60.0 as minutes,
    {% for column, name in actions -%}
    e.{{ column }},
    {% endfor -%}
    {% for category in prompt_categories -%}
    e.{{ category }}_prompts_selected,
    {% endfor -%}
    e.core_events,
    e.core_events > 0 as is_core_active,
    e.first_event_at,
    e.signup_at,
    {% for attr in attributes -%}
    e.first_{{ attr }}{{ "," if not loop.last }}
    {% endfor %}
from events as e
left join session_days as s
    on s.activity_date = e.activity_date
   and s.user_key = e.user_key
