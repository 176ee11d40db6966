{# Funnels defined in seed `funnels` (one row per step): the step definitions and how events match them. #}

{# The steps of every funnel (a subquery body): funnel_name, step (integer), event, property_name, property_value. #}
{% macro funnel_definitions(funnels_relation) -%}
    select
        funnel_name,
        cast(step as {{ dbt.type_int() }}) as step,
        event,
        property_name,
        property_value
    from {{ funnels_relation }}
{%- endmacro %}

{# Largest step number in the funnels seed, read when the model runs (the SQL unrolls one join per step). #}
{% macro funnel_max_steps(funnels_relation, fallback=10) -%}
    {%- if execute -%}
        {%- set relation = load_relation(funnels_relation) -%}
        {%- if relation is not none -%}
            {%- set result = run_query('select max(step) from ' ~ relation) -%}
            {%- set value = result.columns[0].values()[0] -%}
            {{ return((value or 1) | int) }}
        {%- endif -%}
    {%- endif -%}
    {{ return(fallback) }}
{%- endmacro %}

{#
  The value of the column named by `name_expr` (a text expression, e.g. the seed's property_name) on the
  row `alias` of `relation`, as text: `case name when 'col' then cast(alias.col as text) ... end`. Any
  column of the relation can be used as a funnel step's property filter.
#}
{% macro funnel_property_value(alias, name_expr, relation) -%}
    {%- set columns = adapter.get_columns_in_relation(relation) if execute else [] -%}
    {%- if columns | length == 0 -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        case {{ name_expr }}
        {%- for col in columns %}
            when '{{ col.name }}' then cast({{ alias }}.{{ adapter.quote(col.name) }} as {{ dbt.type_string() }})
        {%- endfor %}
        end
    {%- endif -%}
{%- endmacro %}
