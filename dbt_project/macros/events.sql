{# What the models know about the events and users (names from the event catalogue and dbt_project.yml vars). #}

{# `event in (<var core_events>)` #}
{% macro is_core_event(column='event') -%}
    {%- set names = var('core_events') -%}
    {%- if names | length == 0 -%} 1 = 0
    {%- else -%}
    {{ column }} in ({% for n in names %}'{{ n | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{#
  The stg_events columns that describe a user, kept per day as first_<column> in user_daily_activity (the
  first non-null value of the day) and folded by dim_users into the user's first non-null value overall.
#}
{% macro user_attribute_columns() -%}
    {{ return(['role', 'experience_level', 'utm_source', 'platform', 'country']) }}
{%- endmacro %}
