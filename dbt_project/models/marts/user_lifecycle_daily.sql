{#
  Lifecycle state of every user on every day from their first active day to the last day with any activity
  (PostHog's lifecycle at a daily interval; "active" = any event of the resolved user that day):
    new           active, and this is the user's first active day
    returning     active, and active the day before
    resurrecting  active, not active the day before, active on some earlier day
    dormant       not active (is_newly_dormant marks the first inactive day after an active day: PostHog's
                  "dormant" count; later inactive days stay dormant so that every day has a state)
  Rebuilt whole from user_daily_activity on every run, so it is right for any order of partition runs.
#}
{{ config(materialized='table', indexes=[{'columns': ['lifecycle_date']}, {'columns': ['user_key']}]) }}

with active_days as (
    select distinct user_key, activity_date
    from {{ ref('user_daily_activity') }}
),

users as (
    select user_key, min(activity_date) as first_seen_date
    from active_days
    group by user_key
),

days as (
    {{ activity_days() }}
),

grid as (
    select
        u.user_key,
        u.first_seen_date,
        d.day as lifecycle_date,
        a.activity_date is not null as is_active
    from users as u
    inner join days as d
        on d.day >= u.first_seen_date
    left join active_days as a
        on a.user_key = u.user_key
       and a.activity_date = d.day
),

flagged as (
    select
        *,
        lag(is_active) over (partition by user_key order by lifecycle_date) as was_active_day_before,
        max(case when is_active then lifecycle_date end) over (
            partition by user_key order by lifecycle_date rows between unbounded preceding and 1 preceding
        ) as last_active_before
    from grid
)

select
    user_key,
    lifecycle_date,
    first_seen_date,
    is_active,
    case
        when is_active and lifecycle_date = first_seen_date then 'new'
        when is_active and was_active_day_before then 'returning'
        when is_active then 'resurrecting'
        else 'dormant'
    end as lifecycle_state,
    (not is_active and coalesce(was_active_day_before, false)) as is_newly_dormant,
    case when last_active_before is not null
         then {{ dbt.datediff('last_active_before', 'lifecycle_date', 'day') }} end as days_since_previous_active
from flagged
