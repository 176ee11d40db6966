{#
  Refresh planner statistics of a freshly built table (a post-hook: Postgres plans the funnel joins from them).
  Elsewhere a no-op on purpose: statistics are an optimisation the warehouse keeps by itself, so the default
  must not stop a port.
#}
{% macro analyze_table(relation) -%}
    {{ return(adapter.dispatch('analyze_table', 'hitcraft')(relation)) }}
{%- endmacro %}

{% macro default__analyze_table(relation) -%}
    select 1
{%- endmacro %}

{% macro postgres__analyze_table(relation) -%}
    analyze {{ relation }}
{%- endmacro %}
