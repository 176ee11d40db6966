{#
  Monthly recurring revenue by day, with its movements (the SaaS convention, per paying user):
  new (first time paying), expansion (pays more), contraction (pays less, still paying), churn (stops paying:
  the day after the last paid period ends without a renewal), reactivation (pays again after having stopped).
  mrr on a day = the sum of the monthly amounts of the periods covering it; every day from the first paid
  period to the newest loaded day has a row, so mrr - previous day's mrr = new + expansion + reactivation
  - contraction - churn (tested). A failed payment waiting for its retry shows as churn until the retry pays
  for the period, then the history is corrected on the next build. Rebuilt whole from the periods.
#}
{{ config(materialized='table', indexes=[{'columns': ['metric_date']}]) }}

with periods as (
    select user_key, period_start, period_end, mrr from {{ ref('int_subscription_periods') }}
),

newest as (
    select max(event_date) as newest_day from {{ ref('stg_subscription_events') }}
),

points as (  -- the days a user's MRR may change: a period starts or ends
    select user_key, period_start as change_date from periods
    union
    select user_key, period_end as change_date from periods
),

levels as (
    select
        p.user_key,
        p.change_date,
        coalesce(sum(q.mrr), 0) as mrr
    from points as p
    left join periods as q
        on q.user_key = p.user_key
       and q.period_start <= p.change_date
       and p.change_date < q.period_end
    where p.change_date <= (select newest_day from newest)
    group by p.user_key, p.change_date
),

changes as (
    select
        user_key,
        change_date,
        mrr,
        coalesce(lag(mrr) over (partition by user_key order by change_date), 0) as previous_mrr,
        coalesce(max(mrr) over (
            partition by user_key order by change_date rows between unbounded preceding and 1 preceding
        ), 0) > 0 as paid_before
    from levels
),

movements as (
    select
        change_date,
        mrr - previous_mrr as delta,
        case
            when previous_mrr = 0 and not paid_before then 'new'
            when previous_mrr = 0 then 'reactivation'
            when mrr = 0 then 'churn'
            when mrr > previous_mrr then 'expansion'
            else 'contraction'
        end as movement
    from changes
    where mrr <> previous_mrr
),

per_day as (
    select
        change_date as metric_date,
        sum(case when movement = 'new' then delta else 0 end) as new_mrr,
        sum(case when movement = 'expansion' then delta else 0 end) as expansion_mrr,
        sum(case when movement = 'contraction' then -delta else 0 end) as contraction_mrr,
        sum(case when movement = 'churn' then -delta else 0 end) as churned_mrr,
        sum(case when movement = 'reactivation' then delta else 0 end) as reactivation_mrr,
        sum(case when movement = 'new' then 1 else 0 end) as new_customers,
        sum(case when movement = 'churn' then 1 else 0 end) as churned_customers,
        sum(case when movement = 'reactivation' then 1 else 0 end) as reactivated_customers
    from movements
    group by change_date
),

days as (
    {{ day_series('(select min(period_start) from periods)', '(select newest_day from newest)') }}
),

filled as (
    select
        d.day as metric_date,
        coalesce(p.new_mrr, 0) as new_mrr,
        coalesce(p.expansion_mrr, 0) as expansion_mrr,
        coalesce(p.contraction_mrr, 0) as contraction_mrr,
        coalesce(p.churned_mrr, 0) as churned_mrr,
        coalesce(p.reactivation_mrr, 0) as reactivation_mrr,
        coalesce(p.new_customers, 0) as new_customers,
        coalesce(p.churned_customers, 0) as churned_customers,
        coalesce(p.reactivated_customers, 0) as reactivated_customers
    from days as d
    left join per_day as p on p.metric_date = d.day
)

select
    metric_date,
    sum(new_mrr + expansion_mrr + reactivation_mrr - contraction_mrr - churned_mrr)
        over (order by metric_date rows between unbounded preceding and current row) as mrr,
    sum(new_customers + reactivated_customers - churned_customers)
        over (order by metric_date rows between unbounded preceding and current row) as paying_customers,
    new_mrr,
    expansion_mrr,
    contraction_mrr,
    churned_mrr,
    reactivation_mrr,
    new_mrr + expansion_mrr + reactivation_mrr - contraction_mrr - churned_mrr as net_new_mrr,
    new_customers,
    churned_customers,
    reactivated_customers
from filled
