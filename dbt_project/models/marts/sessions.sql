{#
  Sessions (Mixpanel parity): a user's events (resolved user_key) with gaps <= var session_timeout_minutes;
  a gap longer than that starts a new session. When var session_split_at_midnight (default), an event on a
  new local day of the reporting zone starts a new session. A run of events longer than var
  session_max_hours is cut every session_max_hours counted from the run's first event.
  Events without any id (user_key null) are not sessionized.

  Partitioned by session_date (local day of the session start). stg_events is read one day either side of
  the window, so a session that starts in the window and runs past midnight (no split) is complete, and a
  session that started the day before the window is seen as such instead of being counted from the boundary.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_window('session_date') }}",
    tags=['daily'],
    indexes=[{'columns': ['session_date']}, {'columns': ['user_key', 'session_start']}],
) }}

{%- set timeout_s = var('session_timeout_minutes') | int * 60 -%}
{%- set max_s = var('session_max_hours') | int * 3600 -%}
{%- set split = var('session_split_at_midnight') | string | lower in ['true', '1', 'yes'] -%}

with events as (
    select
        user_key,
        event_time,
        {{ local_date('event_time') }} as local_day,
        {{ epoch_seconds('event_time') }} as t,
        event,
        insert_id,
        platform,
        utm_source
    from {{ ref('stg_events') }}
    where {{ in_window('event_date', 1, 1) }}
      and user_key is not null
),

ordered as (
    select
        *,
        row_number() over (partition by user_key order by event_time, event, insert_id) as user_seq,
        lag(t) over (partition by user_key order by event_time, event, insert_id) as prev_t,
        lag(local_day) over (partition by user_key order by event_time, event, insert_id) as prev_local_day
    from events
),

runs as (
    -- a run: events chained by gaps <= timeout (and on one local day when splitting at midnight)
    select
        *,
        sum(case
                when prev_t is null then 1
                when t - prev_t > {{ timeout_s }} then 1
                {% if split %}when local_day <> prev_local_day then 1{% endif %}
                else 0
            end) over (partition by user_key order by user_seq rows between unbounded preceding and current row) as run_number
    from ordered
),

capped as (
    -- cut each run every session_max_hours from its first event
    select
        *,
        floor((t - min(t) over (partition by user_key, run_number)) / {{ max_s }}) as cap_piece
    from runs
),

numbered as (
    select
        *,
        row_number() over (partition by user_key, run_number, cap_piece order by user_seq) as seq,
        count(*) over (partition by user_key, run_number, cap_piece) as n_events,
        row_number() over (
            partition by user_key, run_number, cap_piece
            order by case when platform is null then 1 else 0 end, user_seq
        ) as platform_rank,
        row_number() over (
            partition by user_key, run_number, cap_piece
            order by case when utm_source is null then 1 else 0 end, user_seq
        ) as channel_rank
    from capped
),

sessions as (
    select
        user_key,
        min(event_time) as session_start,
        min(t) as start_epoch,
        max(event_time) as session_end,
        max(t) - min(t) as duration_seconds,
        count(*) as event_count,
        max(case when seq = 1 then event end) as entry_event,
        max(case when seq = n_events then event end) as exit_event,
        max(case when platform_rank = 1 then platform end) as platform,
        max(case when channel_rank = 1 then utm_source end) as channel,
        sum(case when event = 'Sketch Uploaded' then 1 else 0 end) as sketches_uploaded,
        sum(case when event = 'Prompt Selected' then 1 else 0 end) as prompts_selected,
        sum(case when event = 'Render Started' then 1 else 0 end) as renders_started,
        sum(case when event = 'Render Completed' then 1 else 0 end) as renders_completed,
        sum(case when event = 'Render Failed' then 1 else 0 end) as renders_failed,
        sum(case when event = 'Production Downloaded' then 1 else 0 end) as productions_downloaded,
        sum(case when event = 'Lyrics Generated' then 1 else 0 end) as lyrics_generated,
        sum(case when event = 'Message Sent' then 1 else 0 end) as messages_sent,
        sum(case when event = 'Stem Separation Used' then 1 else 0 end) as stems_used,
        sum(case when {{ is_core_event() }} then 1 else 0 end) as core_events
    from numbered
    group by user_key, run_number, cap_piece
)

select
    {{ dbt.hash(dbt.concat(['user_key', "'|'", dbt.cast('start_epoch', dbt.type_string())])) }} as session_id,
    user_key,
    {{ local_date('session_start') }} as session_date,
    session_start,
    session_end,
    cast(duration_seconds as {{ dbt.type_float() }}) as duration_seconds,
    event_count,
    entry_event,
    exit_event,
    platform,
    channel,
    sketches_uploaded,
    prompts_selected,
    renders_started,
    renders_completed,
    renders_failed,
    productions_downloaded,
    lyrics_generated,
    messages_sent,
    stems_used,
    core_events
from sessions
where {{ in_window(local_date('session_start')) }}
