{#
  One row per AI generation: a render (render_id; from its first Render Started) or an assistant message
  (message_id; from its Message Sent), with the model and prompt version that produced it, the capability and
  intent (messages), the latency (render: reported duration_s of its end event x 1000; message: latency_ms),
  the outcome (render: completed / failed / abandoned = no end event; message: answered) and the feedback
  (render: downloaded; message: liked / disliked, joined by message_id).
#}
{{ config(materialized='table', indexes=[{'columns': ['event_date']}, {'columns': ['model']}]) }}

with ai as (
    select * from {{ ref('stg_ai_events') }}
),

render_starts as (
    select
        render_id, user_key, event_date, event_time, platform, role, experience_level, utm_source,
        render_model, prompt_version, prompt_id, prompt_category,
        row_number() over (partition by render_id order by event_time, insert_id) as n
    from ai
    where event = 'Render Started' and render_id is not null
),

render_ends as (
    select
        render_id,
        max(case when event = 'Render Completed' then 1 else 0 end) as completed,
        max(case when event = 'Render Failed' then 1 else 0 end) as failed,
        max(case when event in ('Render Completed', 'Render Failed') then duration_s end) as duration_s,
        max(case when event = 'Production Downloaded' then 1 else 0 end) as downloaded
    from ai
    where event in ('Render Completed', 'Render Failed', 'Production Downloaded') and render_id is not null
    group by render_id
),

messages as (
    select
        message_id, user_key, event_date, event_time, platform, role, experience_level, utm_source,
        llm_model, prompt_version, capability, intent, latency_ms,
        row_number() over (partition by message_id order by event_time, insert_id) as n
    from ai
    where event = 'Message Sent' and message_id is not null
),

message_feedback as (
    select
        message_id,
        max(case when event = 'Message Liked' then 1 else 0 end) as liked,
        max(case when event = 'Message Disliked' then 1 else 0 end) as disliked
    from ai
    where event in ('Message Liked', 'Message Disliked') and message_id is not null
    group by message_id
)

select
    s.render_id as generation_id,
    'render' as generation_type,
    s.user_key,
    s.event_date,
    s.event_time as started_at,
    s.platform,
    s.role,
    s.experience_level,
    s.utm_source,
    s.render_model as model,
    s.prompt_version,
    s.prompt_id,
    s.prompt_category as capability,
    cast(null as {{ dbt.type_string() }}) as intent,
    e.duration_s * 1000 as latency_ms,
    case when e.completed = 1 then 'completed' when e.failed = 1 then 'failed' else 'abandoned' end as outcome,
    coalesce(e.completed, 0) as is_success,
    case when coalesce(e.completed, 0) = 0 and e.failed = 1 then 1 else 0 end as is_failure,
    coalesce(e.downloaded, 0) as downloaded,
    0 as liked,
    0 as disliked
from render_starts as s
left join render_ends as e on e.render_id = s.render_id
where s.n = 1

union all

select
    m.message_id,
    'message',
    m.user_key,
    m.event_date,
    m.event_time,
    m.platform,
    m.role,
    m.experience_level,
    m.utm_source,
    m.llm_model,
    m.prompt_version,
    cast(null as {{ dbt.type_string() }}),
    m.capability,
    m.intent,
    m.latency_ms,
    'answered',
    1,
    0,
    0,
    coalesce(f.liked, 0),
    coalesce(f.disliked, 0)
from messages as m
left join message_feedback as f on f.message_id = m.message_id
where m.n = 1
