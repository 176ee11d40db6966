{#
  Users never increase along a funnel: within each group (partition_by columns, e.g. funnel, entry day and
  breakdown) the count at step k+1 is at most the count at step k.
  Usage: `- monotone_funnel: {partition_by: [funnel_name, entry_date, breakdown, breakdown_value]}` under the
  count column; `step_column` defaults to `step`.
#}
{% test monotone_funnel(model, column_name, partition_by, step_column='step') %}
with ordered as (
    select
        {{ partition_by | join(', ') }},
        {{ step_column }} as step_number,
        {{ column_name }} as step_users,
        lag({{ column_name }}) over (
            partition by {{ partition_by | join(', ') }} order by {{ step_column }}
        ) as previous_step_users
    from {{ model }}
)
select *
from ordered
where previous_step_users is not null
  and step_users > previous_step_users
{% endtest %}
