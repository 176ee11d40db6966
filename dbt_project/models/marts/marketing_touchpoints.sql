{#
  Every marketing touch of a user with where it stands against the user's paid conversion (their first
  Subscription Started): touch_number in the user's order, converted_at, whether the touch came before the
  conversion and how many days before, and the revenue the user has paid so far. The paths the attribution models
  read (revenue/attribution). Rebuilt whole.
#}
{{ config(materialized='table', indexes=[{'columns': ['user_key']}]) }}

with touches as (
    select
        user_key,
        event_time as touch_time,
        event_date as touch_date,
        coalesce(utm_source, '(none)') as source,
        utm_medium as medium,
        utm_campaign as campaign
    from {{ ref('stg_marketing_touches') }}
),

conversions as (
    select
        user_key,
        min(event_time) as converted_at
    from {{ ref('stg_subscription_events') }}
    where event = 'Subscription Started'
    group by user_key
),

revenue as (
    select user_key, sum(revenue) as revenue
    from {{ ref('subscriptions') }}
    group by user_key
)

select
    t.user_key,
    row_number() over (partition by t.user_key order by t.touch_time, t.source, t.campaign) as touch_number,
    t.touch_time,
    t.touch_date,
    t.source,
    t.medium,
    t.campaign,
    c.converted_at,
    c.converted_at is not null and t.touch_time <= c.converted_at as is_before_conversion,
    case when c.converted_at is not null
         then {{ dbt.datediff('t.touch_time', 'c.converted_at', 'second') }} / 86400.0 end as days_before_conversion,
    coalesce(r.revenue, 0) as revenue
from touches as t
left join conversions as c on c.user_key = t.user_key
left join revenue as r on r.user_key = t.user_key
