{#
  Helpers for the core marts (sessions, activity, users, daily metrics). Warehouse-specific syntax lives
  only here, behind adapter.dispatch, so the models stay portable.
#}

{# Seconds since the Unix epoch of a timestamp (fractional seconds kept). #}
{% macro epoch_seconds(ts) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'hitcraft')(ts)) }}
{%- endmacro %}
{% macro default__epoch_seconds(ts) -%}
    extract(epoch from {{ ts }})
{%- endmacro %}

{# The median of an expression, as an aggregate (continuous: the mean of the two middle values). #}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median', 'hitcraft')(expr)) }}
{%- endmacro %}
{% macro default__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{# numerator / denominator as a float; null when the denominator is 0 or null. #}
{% macro safe_ratio(numerator, denominator) -%}
    case when ({{ denominator }}) > 0
         then cast({{ numerator }} as {{ dbt.type_float() }}) / ({{ denominator }}) end
{%- endmacro %}

{# An ISO-8601 text timestamp without zone (Mixpanel's $created, UTC) as a timestamp with time zone; bad text is null. #}
{% macro parse_utc_timestamp(expr) -%}
    {{ return(adapter.dispatch('parse_utc_timestamp', 'hitcraft')(expr)) }}
{%- endmacro %}
{% macro default__parse_utc_timestamp(expr) -%}
    case when {{ expr }} ~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$'
         then cast({{ expr }} as timestamp) at time zone 'UTC' end
{%- endmacro %}

{# One row per day, column `day`, from start_expr to end_expr inclusive (both date expressions, may be subqueries). #}
{% macro day_series(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('day_series', 'hitcraft')(start_expr, end_expr)) }}
{%- endmacro %}
{% macro default__day_series(start_expr, end_expr) -%}
    select cast(d as date) as day
    from generate_series(cast({{ start_expr }} as timestamp), cast({{ end_expr }} as timestamp), interval '1 day') as d
{%- endmacro %}

{# `event in (<var core_events>)` #}
{% macro is_core_event(column='event') -%}
    {%- set names = var('core_events') -%}
    {%- if names | length == 0 -%} 1 = 0
    {%- else -%}
    {{ column }} in ({% for n in names %}'{{ n | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{#
  As an aggregate: the value of `column` on the first row by `order_by` among rows where it is not null
  (null when every row's is null). `order_by` should make the order total so that the result is deterministic.
#}
{% macro first_non_null(column, order_by) -%}
    {{ return(adapter.dispatch('first_non_null', 'hitcraft')(column, order_by)) }}
{%- endmacro %}
{% macro default__first_non_null(column, order_by) -%}
    {{ exceptions.raise_compiler_error("first_non_null: no implementation for adapter " ~ adapter.type()
       ~ " (Snowflake: min_by; BigQuery: array_agg(... ignore nulls order by ... limit 1)[offset(0)])") }}
{%- endmacro %}
{% macro postgres__first_non_null(column, order_by) -%}
    (array_agg({{ column }} order by {{ order_by }}) filter (where {{ column }} is not null))[1]
{%- endmacro %}
