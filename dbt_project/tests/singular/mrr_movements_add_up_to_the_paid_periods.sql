{#
  MRR built from its movements (mrr_daily: the running sum of new + expansion + reactivation - contraction -
  churn) equals, on every day, the MRR read directly off the paid periods that cover that day. Rows returned
  are the days where they differ by more than half a cent. Dagster shows it as a check of mrr_daily.
#}
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'mrr_daily'}}}) }}

select
    m.metric_date,
    m.mrr,
    coalesce(sum(p.mrr), 0) as mrr_of_periods
from {{ ref('mrr_daily') }} as m
left join {{ ref('int_subscription_periods') }} as p
    on p.period_start <= m.metric_date
   and m.metric_date < p.period_end
group by m.metric_date, m.mrr
having abs(m.mrr - coalesce(sum(p.mrr), 0)) > 0.005
