{#
  Daily-partitioned incremental models replace exactly their partition window [min_date, max_date]:
  a pre-hook deletes the window, the model selects only the window. Unlike delete+insert on a unique
  key, this also clears a day that became empty upstream, and it is the same on a first run, a re-run
  and a full refresh (the filter is applied always, not only inside is_incremental()).
#}
{% macro window_start() %}cast('{{ var("min_date") }}' as date){% endmacro %}
{% macro window_end() %}cast('{{ var("max_date") }}' as date){% endmacro %}

{% macro in_window(day_column, lookback_days=0, lookahead_days=0) -%}
    {{ day_column }} between {{ dbt.dateadd('day', -lookback_days, window_start()) }}
                         and {{ dbt.dateadd('day', lookahead_days, window_end()) }}
{%- endmacro %}

{% macro delete_window(day_column, lookback_days=0, lookahead_days=0) -%}
    {% if is_incremental() %}
    delete from {{ this }} where {{ in_window(day_column, lookback_days, lookahead_days) }}
    {% endif %}
{%- endmacro %}

{# Local calendar day of a timestamptz in the reporting time zone. #}
{% macro local_date(ts) -%}
    {{ return(adapter.dispatch('local_date', 'hitcraft')(ts)) }}
{%- endmacro %}
{% macro default__local_date(ts) -%}
    cast(({{ ts }} at time zone '{{ var("reporting_timezone") }}') as date)
{%- endmacro %}

{# A jsonb property as text. #}
{% macro prop(name, column='properties') -%}
    {{ return(adapter.dispatch('prop', 'hitcraft')(name, column)) }}
{%- endmacro %}
{% macro default__prop(name, column) -%}
    ({{ column }} ->> '{{ name }}')
{%- endmacro %}

{# A property that should be numeric; text that is not a number becomes null instead of failing the run. #}
{% macro to_float_or_null(expr) -%}
    {{ return(adapter.dispatch('to_float_or_null', 'hitcraft')(expr)) }}
{%- endmacro %}
{% macro default__to_float_or_null(expr) -%}
    case when {{ expr }} ~ '^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$' then cast({{ expr }} as {{ dbt.type_float() }}) end
{%- endmacro %}
