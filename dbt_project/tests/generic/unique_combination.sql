{#
  The combination of `columns` is unique over the model (dbt_utils.unique_combination_of_columns without
  the package). Usage in a model's yml: `- unique_combination: {columns: [user_key, activity_date]}`.
#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
