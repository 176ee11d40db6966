{#
  A rate column lies in [0, 1] wherever it is not null (conversion, retention, adoption rates).
  Usage: `- conversion_at_most_one` under a column.
#}
{% test conversion_at_most_one(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and ({{ column_name }} < 0 or {{ column_name }} > 1)
{% endtest %}
