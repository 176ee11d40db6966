{#
  One row per subscription: who, the first and current plan, when it started, how many periods were paid and
  through when, its revenue so far, failed payments, and whether and why it was cancelled. status: active
  (paid through a date after the newest loaded day, not cancelled), cancelling (cancelled, still paid through
  a later date), ended (paid through a date on or before the newest day). Rebuilt whole.
#}
{{ config(materialized='table', indexes=[{'columns': ['user_key']}]) }}

with periods as (
    select * from {{ ref('int_subscription_periods') }}
),

newest as (
    select max(event_date) as newest_day from {{ ref('stg_subscription_events') }}
),

per_subscription as (
    select
        subscription_id,
        min(user_key) as user_key,
        min(period_start) as started_on,
        max(period_end) as paid_through,
        count(*) as periods_paid,
        sum(amount) as revenue,
        min(currency) as currency
    from periods
    group by subscription_id
),

first_and_current as (
    select
        subscription_id,
        max(case when period_number = 1 then plan end) as first_plan,
        max(case when period_number = 1 then billing_period end) as billing_period,
        max(case when is_last then plan end) as current_plan,
        max(case when is_last then mrr end) as current_mrr
    from (
        select
            *,
            period_number = max(period_number) over (partition by subscription_id) as is_last
        from periods
    ) as p
    group by subscription_id
),

lifecycle as (
    select
        subscription_id,
        min(case when event = 'Subscription Cancelled' then event_time end) as cancelled_at,
        min(case when event = 'Subscription Cancelled' then reason end) as cancel_reason,
        sum(case when event = 'Payment Failed' then 1 else 0 end) as payment_failures,
        sum(case when event = 'Subscription Plan Changed' then 1 else 0 end) as plan_changes
    from {{ ref('stg_subscription_events') }}
    where subscription_id is not null
    group by subscription_id
),

trials as (
    select user_key, min(event_time) as trial_started_at
    from {{ ref('stg_subscription_events') }}
    where event = 'Trial Started'
    group by user_key
)

select
    s.subscription_id,
    s.user_key,
    f.first_plan,
    f.current_plan,
    f.billing_period,
    s.currency,
    s.started_on,
    s.paid_through,
    s.periods_paid,
    s.revenue,
    f.current_mrr,
    coalesce(l.payment_failures, 0) as payment_failures,
    coalesce(l.plan_changes, 0) as plan_changes,
    l.cancelled_at,
    l.cancel_reason,
    t.trial_started_at,
    case
        when s.paid_through <= n.newest_day then 'ended'
        when l.cancelled_at is not null then 'cancelling'
        else 'active'
    end as status,
    case when s.paid_through <= n.newest_day then s.paid_through end as ended_on
from per_subscription as s
join first_and_current as f on f.subscription_id = s.subscription_id
left join lifecycle as l on l.subscription_id = s.subscription_id
left join trials as t on t.user_key = s.user_key
cross join newest as n
