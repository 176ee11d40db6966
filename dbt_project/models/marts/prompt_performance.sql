{#
  Prompt performance by prompt, day and trailing window (window_days 1 = the day itself, 7, 28: the window
  ends on metric_date). Days are the reporting days with any event in stg_events, from the prompt's first day.
  - selections: Prompt Selected events with the prompt_id.
  - renders_started: renders (distinct render_id) whose first Render Started event, carrying the prompt_id,
    falls in the window; renders_completed: those of them with a Render Completed (same render_id, any time
    later); completion_rate = renders_completed / renders_started; median_seconds_to_complete: median of
    (first Render Completed - first Render Started) over the completed ones; downloads: Production Downloaded
    events of those renders (any time later).
  - likes / dislikes: Message Liked / Message Disliked events of users who selected the prompt, on the same
    reporting day as the selection (a user-day counts once per prompt selected that day);
    likes_ratio = likes / (likes + dislikes).
  is_full_window: the whole window lies on or after the first day in stg_events.
#}
{{ config(materialized='table', indexes=[{'columns': ['prompt_id', 'metric_date']}]) }}

{%- set windows = [1, 7, 28] %}

with events as (
    select event, event_date, event_time, user_key, prompt_id, prompt_text, prompt_category, render_id
    from {{ ref('stg_events') }}
    where event in ('Prompt Selected', 'Render Started', 'Render Completed', 'Production Downloaded',
                    'Message Liked', 'Message Disliked')
),

days as (
    select distinct event_date as metric_date from {{ ref('stg_events') }}
),

prompt_events as (
    select
        prompt_id,
        prompt_text,
        prompt_category,
        event_date,
        row_number() over (
            partition by prompt_id
            order by case when event = 'Prompt Selected' then 0 else 1 end, event_time desc
        ) as newest
    from events
    where prompt_id is not null and event in ('Prompt Selected', 'Render Started')
),

prompts as (
    select
        prompt_id,
        max(case when newest = 1 then prompt_text end) as prompt_text,
        max(case when newest = 1 then prompt_category end) as prompt_category,
        min(event_date) as first_date
    from prompt_events
    group by prompt_id
),

render_starts as (
    select render_id, min(event_time) as started_at, min(event_date) as start_date, max(prompt_id) as prompt_id
    from events
    where event = 'Render Started' and render_id is not null and prompt_id is not null
    group by render_id
),

render_completions as (
    select render_id, min(event_time) as completed_at
    from events
    where event = 'Render Completed' and render_id is not null
    group by render_id
),

render_downloads as (
    select render_id, count(*) as downloads
    from events
    where event = 'Production Downloaded' and render_id is not null
    group by render_id
),

renders as (
    select
        s.render_id,
        s.prompt_id,
        s.start_date,
        case when c.completed_at >= s.started_at then 1 else 0 end as completed,
        case when c.completed_at >= s.started_at
             then {{ seconds_between('s.started_at', 'c.completed_at') }} end as seconds_to_complete,
        coalesce(d.downloads, 0) as downloads
    from render_starts as s
    left join render_completions as c on c.render_id = s.render_id
    left join render_downloads as d on d.render_id = s.render_id
),

selections as (
    select prompt_id, event_date, user_key, count(*) as selections
    from events
    where event = 'Prompt Selected' and prompt_id is not null
    group by prompt_id, event_date, user_key
),

user_day_feedback as (
    select
        user_key,
        event_date,
        sum(case when event = 'Message Liked' then 1 else 0 end) as likes,
        sum(case when event = 'Message Disliked' then 1 else 0 end) as dislikes
    from events
    where event in ('Message Liked', 'Message Disliked') and user_key is not null
    group by user_key, event_date
),

daily as (
    select prompt_id, event_date, sum(selections) as selections, 0 as renders_started, 0 as renders_completed,
           0 as downloads, 0 as likes, 0 as dislikes
    from selections
    group by prompt_id, event_date
    union all
    select prompt_id, start_date, 0, count(*), sum(completed), sum(downloads), 0, 0
    from renders
    group by prompt_id, start_date
    union all
    select s.prompt_id, s.event_date, 0, 0, 0, 0, sum(f.likes), sum(f.dislikes)
    from (select distinct prompt_id, event_date, user_key from selections where user_key is not null) as s
    inner join user_day_feedback as f on f.user_key = s.user_key and f.event_date = s.event_date
    group by s.prompt_id, s.event_date
),

windows as (
    {%- for w in windows %}
    select {{ w }} as window_days{{ " union all" if not loop.last }}
    {%- endfor %}
),

grid as (
    select
        p.prompt_id,
        d.metric_date,
        w.window_days,
        {{ add_days('d.metric_date', '1 - w.window_days') }} as window_start
    from prompts as p
    inner join days as d on d.metric_date >= p.first_date
    cross join windows as w
),

window_counts as (
    select
        g.prompt_id,
        g.metric_date,
        g.window_days,
        sum(x.selections) as selections,
        sum(x.renders_started) as renders_started,
        sum(x.renders_completed) as renders_completed,
        sum(x.downloads) as downloads,
        sum(x.likes) as likes,
        sum(x.dislikes) as dislikes
    from grid as g
    inner join daily as x
        on x.prompt_id = g.prompt_id and x.event_date between g.window_start and g.metric_date
    group by g.prompt_id, g.metric_date, g.window_days
),

window_medians as (
    select
        g.prompt_id,
        g.metric_date,
        g.window_days,
        {{ median('r.seconds_to_complete') }} as median_seconds_to_complete
    from grid as g
    inner join renders as r
        on r.prompt_id = g.prompt_id and r.start_date between g.window_start and g.metric_date
    where r.completed = 1
    group by g.prompt_id, g.metric_date, g.window_days
)

select
    g.prompt_id,
    p.prompt_text,
    p.prompt_category,
    g.metric_date,
    g.window_days,
    g.window_start,
    g.window_start >= (select min(metric_date) from days) as is_full_window,
    coalesce(c.selections, 0) as selections,
    coalesce(c.renders_started, 0) as renders_started,
    coalesce(c.renders_completed, 0) as renders_completed,
    {{ safe_ratio('c.renders_completed', 'c.renders_started') }} as completion_rate,
    m.median_seconds_to_complete,
    coalesce(c.downloads, 0) as downloads,
    coalesce(c.likes, 0) as likes,
    coalesce(c.dislikes, 0) as dislikes,
    {{ safe_ratio('c.likes', 'c.likes + c.dislikes') }} as likes_ratio
from grid as g
inner join prompts as p on p.prompt_id = g.prompt_id
left join window_counts as c
    on c.prompt_id = g.prompt_id and c.metric_date = g.metric_date and c.window_days = g.window_days
left join window_medians as m
    on m.prompt_id = g.prompt_id and m.metric_date = g.metric_date and m.window_days = g.window_days
