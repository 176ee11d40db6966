{# A property of the JSON column `column` (default: the raw events' `properties`), as text. #}
{% macro prop(name, column='properties') -%}
    {{ return(adapter.dispatch('prop', 'hitcraft')(name, column)) }}
{%- endmacro %}

{% macro default__prop(name, column) -%}
    {{ unsupported_adapter('prop', "Snowflake: column:name::string; BigQuery: json_value(column, '$.name')") }}
{%- endmacro %}

{% macro postgres__prop(name, column) -%}
    ({{ column }} ->> '{{ name }}')
{%- endmacro %}
