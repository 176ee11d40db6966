{#
  One row per paid period of a subscription: the first from Subscription Started, each later one from
  Subscription Renewed (a renewal after a failed payment carries the period it pays for). mrr: the period's
  amount per month (a yearly plan's amount / 12). A period is counted once even if its event arrived twice
  with different insert ids (the earliest event wins). Rebuilt whole (small: one row per subscriber-month).
#}
{{ config(materialized='table', indexes=[{'columns': ['subscription_id']}]) }}

with paid as (
    select
        subscription_id,
        user_key,
        event,
        event_time,
        plan,
        amount,
        currency,
        billing_period,
        cast(period_start as date) as period_start,
        cast(period_end as date) as period_end,
        row_number() over (
            partition by subscription_id, cast(period_start as date)
            order by event_time, insert_id
        ) as copy_number
    from {{ ref('stg_subscription_events') }}
    where event in ('Subscription Started', 'Subscription Renewed')
      and subscription_id is not null
      and period_start is not null
      and period_end is not null
)

select
    subscription_id,
    user_key,
    row_number() over (partition by subscription_id order by period_start) as period_number,
    event = 'Subscription Started' as is_first_period,
    event_time as paid_at,
    plan,
    amount,
    currency,
    billing_period,
    period_start,
    period_end,
    case when billing_period = 'year' then amount / 12.0 else amount end as mrr
from paid
where copy_number = 1
