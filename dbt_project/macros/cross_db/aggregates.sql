{# Aggregates and ratios. #}

{#
  The median of an expression, as an aggregate (continuous: the mean of the two middle values); nulls ignored.
  The default is SQL-standard (Postgres, Snowflake, Redshift, Oracle, Spark 3.3+); an adapter without the
  ordered-set aggregate (BigQuery, Trino) adds its own <adapter>__median.
#}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median', 'hitcraft')(expr)) }}
{%- endmacro %}

{% macro default__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{#
  As an aggregate: the value of `column` on the first row by `order_by` among rows where it is not null
  (null when every row's is null). `order_by` should make the order total so that the result is deterministic.
#}
{% macro first_non_null(column, order_by) -%}
    {{ return(adapter.dispatch('first_non_null', 'hitcraft')(column, order_by)) }}
{%- endmacro %}

{% macro default__first_non_null(column, order_by) -%}
    {{ unsupported_adapter('first_non_null', 'Snowflake: min_by; BigQuery: array_agg(... ignore nulls order by ... limit 1)[offset(0)]') }}
{%- endmacro %}

{% macro postgres__first_non_null(column, order_by) -%}
    (array_agg({{ column }} order by {{ order_by }}) filter (where {{ column }} is not null))[1]
{%- endmacro %}

{# numerator / denominator as a float; null when the denominator is 0 or null. Portable. #}
{% macro safe_ratio(numerator, denominator) -%}
    case when ({{ denominator }}) > 0
         then cast({{ numerator }} as {{ dbt.type_float() }}) / ({{ denominator }}) end
{%- endmacro %}
