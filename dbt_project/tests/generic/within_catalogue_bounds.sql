{#
  Every metric value lies within its metric's min_value / max_value in seeds/metric_catalogue.csv (an empty
  bound is open). For the long daily-metrics models (columns metric, value).
#}
{% test within_catalogue_bounds(model, column_name) %}
select m.metric, m.{{ column_name }}, c.min_value, c.max_value
from {{ model }} as m
inner join {{ ref('metric_catalogue') }} as c on c.metric = m.metric
where m.{{ column_name }} is not null
  and ((c.min_value is not null and m.{{ column_name }} < c.min_value)
       or (c.max_value is not null and m.{{ column_name }} > c.max_value))
{% endtest %}
