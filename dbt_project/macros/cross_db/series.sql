{# Generated rows (subquery bodies). #}

{# One row per day, column `day`, from start_expr to end_expr inclusive (both date expressions, may be subqueries). #}
{% macro day_series(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('day_series', 'hitcraft')(start_expr, end_expr)) }}
{%- endmacro %}

{% macro default__day_series(start_expr, end_expr) -%}
    {{ unsupported_adapter('day_series', 'BigQuery: unnest(generate_date_array(...)); Spark: explode(sequence(...))') }}
{%- endmacro %}

{% macro postgres__day_series(start_expr, end_expr) -%}
    select cast(d as date) as day
    from generate_series(cast({{ start_expr }} as timestamp), cast({{ end_expr }} as timestamp), interval '1 day') as d
{%- endmacro %}

{# Integers 0..upper_bound (a number known when the SQL is written) as column `n`. Portable: plain unions. #}
{% macro integer_series(upper_bound) -%}
    {% for i in range(upper_bound + 1) %}select {{ i }} as n{{ " union all " if not loop.last }}{% endfor %}
{%- endmacro %}
