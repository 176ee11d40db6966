{#
  Feature adoption per feature (seed product_features: a feature is used when its event occurs) and calendar
  week (Monday start, reporting zone).
  Weekly adoption: adopters = distinct users with the feature's event in the week; active_users = distinct
  users with any event in the week; adoption_rate = adopters / active_users; adoption_rate_wow_change =
  adoption_rate - the previous week's (null for the first week); adopters_wow_change likewise.
  Day-30 retention, for the cohort of users FIRST SEEN in that week (dim_users.first_seen_date), counting only
  users whose day 34 has elapsed (first_seen_date + 34 <= last activity date): adopter = used the feature on
  days 0..var feature_adoption_days (default 0: the first-seen day) after first seen; retained = active (any
  event) on any of days 28-34 after first seen. A longer adoption window would favour adopters by survival
  alone (using a feature on day 10 requires still being there on day 10).
  The cohort counts are additive: sum them over weeks for an all-time comparison.
#}
{{ config(materialized='table') }}

with activity as (
    select distinct user_key, event_date
    from {{ ref('stg_events') }}
    where user_key is not null
),

features as (
    select feature, event from {{ ref('product_features') }}
),

feature_use as (
    select distinct f.feature, e.user_key, e.event_date
    from {{ ref('stg_events') }} as e
    inner join features as f on f.event = e.event
    where e.user_key is not null
),

weekly_active as (
    select {{ iso_week_start('event_date') }} as week_start, count(distinct user_key) as active_users
    from activity
    group by {{ iso_week_start('event_date') }}
),

weekly_adopters as (
    select feature, {{ iso_week_start('event_date') }} as week_start, count(distinct user_key) as adopters
    from feature_use
    group by feature, {{ iso_week_start('event_date') }}
),

weekly as (
    select
        f.feature,
        w.week_start,
        coalesce(a.adopters, 0) as adopters,
        w.active_users,
        {{ safe_ratio('coalesce(a.adopters, 0)', 'w.active_users') }} as adoption_rate
    from (select distinct feature from features) as f
    cross join weekly_active as w
    left join weekly_adopters as a on a.feature = f.feature and a.week_start = w.week_start
),

eligible as (
    select u.user_key, u.first_seen_date, {{ iso_week_start('u.first_seen_date') }} as cohort_week
    from {{ ref('dim_users') }} as u
    where {{ add_days('u.first_seen_date', 34) }} <= (select max(event_date) from activity)
),

retained as (
    select distinct u.user_key
    from eligible as u
    inner join activity as a
        on a.user_key = u.user_key
       and a.event_date between {{ add_days('u.first_seen_date', 28) }}
                            and {{ add_days('u.first_seen_date', 34) }}
),

early_adopters as (
    select distinct f.feature, u.user_key
    from eligible as u
    inner join feature_use as f
        on f.user_key = u.user_key
       and f.event_date between u.first_seen_date
                            and {{ add_days('u.first_seen_date', var('feature_adoption_days')) }}
),

cohort_users as (
    select
        f.feature,
        u.cohort_week,
        case when a.user_key is not null then 1 else 0 end as is_adopter,
        case when r.user_key is not null then 1 else 0 end as is_retained
    from eligible as u
    cross join (select distinct feature from features) as f
    left join early_adopters as a on a.feature = f.feature and a.user_key = u.user_key
    left join retained as r on r.user_key = u.user_key
),

cohorts as (
    select
        feature,
        cohort_week,
        count(*) as d30_cohort_users,
        sum(is_adopter) as d30_adopters,
        sum(1 - is_adopter) as d30_non_adopters,
        sum(is_adopter * is_retained) as d30_adopters_retained,
        sum((1 - is_adopter) * is_retained) as d30_non_adopters_retained
    from cohort_users
    group by feature, cohort_week
),

final as (
    select
        w.feature,
        w.week_start,
        {{ add_days('w.week_start', 6) }} <= (select max(event_date) from activity) as is_complete_week,
        w.adopters,
        w.active_users,
        w.adoption_rate,
        w.adoption_rate - lag(w.adoption_rate) over (partition by w.feature order by w.week_start)
            as adoption_rate_wow_change,
        w.adopters - lag(w.adopters) over (partition by w.feature order by w.week_start) as adopters_wow_change,
        coalesce(c.d30_cohort_users, 0) as d30_cohort_users,
        coalesce(c.d30_adopters, 0) as d30_adopters,
        coalesce(c.d30_non_adopters, 0) as d30_non_adopters,
        coalesce(c.d30_adopters_retained, 0) as d30_adopters_retained,
        coalesce(c.d30_non_adopters_retained, 0) as d30_non_adopters_retained
    from weekly as w
    left join cohorts as c on c.feature = w.feature and c.cohort_week = w.week_start
)

select
    final.*,
    {{ safe_ratio('d30_adopters_retained', 'd30_adopters') }} as d30_retention_adopters,
    {{ safe_ratio('d30_non_adopters_retained', 'd30_non_adopters') }} as d30_retention_non_adopters
from final
