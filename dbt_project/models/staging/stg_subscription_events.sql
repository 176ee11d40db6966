{#
  The subscription lifecycle (var subscription_events): Trial Started and Subscription Started from the app,
  renewals, plan changes, failed payments and cancellations from the billing system (server-side). Deduplicated
  and identity-resolved like stg_events; daily-partitioned (tag daily). Amounts are in `currency`; periods are
  the paid period an event starts (period_start inclusive, period_end exclusive).
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_window('event_date') }}",
    tags=['daily'],
    indexes=[{'columns': ['event_date']}, {'columns': ['subscription_id']}],
) }}

{{ resolved_raw_events(
    event_in('subscription_events'),
    [('subscription_id', 'subscription_id', false),
     ('plan', 'plan', false),
     ('amount', 'amount', true),
     ('currency', 'currency', false),
     ('billing_period', 'billing_period', false),
     ('period_start', 'period_start', false),
     ('period_end', 'period_end', false),
     ('reason', 'reason', false),
     ('from_plan', 'from_plan', false),
     ('to_plan', 'to_plan', false),
     ('utm_source', 'utm_source', false)]
) }}
