{# Text that must parse (client-sent properties): text that does not parse becomes null instead of failing the run. #}

{# A number as a float; text that is not a number is null. #}
{% macro to_float_or_null(expr) -%}
    {{ return(adapter.dispatch('to_float_or_null', 'hitcraft')(expr)) }}
{%- endmacro %}

{% macro default__to_float_or_null(expr) -%}
    {{ unsupported_adapter('to_float_or_null', 'Snowflake/BigQuery/Spark: try_cast(expr as double)') }}
{%- endmacro %}

{% macro postgres__to_float_or_null(expr) -%}
    case when {{ expr }} ~ '^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$' then cast({{ expr }} as {{ dbt.type_float() }}) end
{%- endmacro %}

{# An ISO-8601 timestamp without zone (Mixpanel's $created, UTC) as a timestamp with time zone; bad text is null. #}
{% macro parse_utc_timestamp(expr) -%}
    {{ return(adapter.dispatch('parse_utc_timestamp', 'hitcraft')(expr)) }}
{%- endmacro %}

{% macro default__parse_utc_timestamp(expr) -%}
    {{ unsupported_adapter('parse_utc_timestamp', 'Snowflake: try_to_timestamp_tz; BigQuery: safe.parse_timestamp') }}
{%- endmacro %}

{% macro postgres__parse_utc_timestamp(expr) -%}
    case when {{ expr }} ~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$'
         then cast({{ expr }} as timestamp) at time zone 'UTC' end
{%- endmacro %}
