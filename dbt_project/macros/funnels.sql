{#
  Helpers for the product marts (funnels, retention, prompt performance, feature adoption). Warehouse-specific
  syntax lives only here, behind adapter.dispatch, so the models stay portable.
#}

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

{# Seconds from start_ts to end_ts (timestamps with time zone), fractional seconds kept. #}
{% macro product_seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('product_seconds_between', 'hitcraft')(start_ts, end_ts)) }}
{%- endmacro %}
{% macro default__product_seconds_between(start_ts, end_ts) -%}
    extract(epoch from ({{ end_ts }} - {{ start_ts }}))
{%- endmacro %}

{# Median as an aggregate (continuous: the mean of the two middle values); nulls ignored. #}
{# numerator / denominator as a float; null when the denominator is 0 or null. #}
{# Monday of the ISO week of a date, as a date. #}
{% macro product_week_start(date_expr) -%}
    cast({{ dbt.date_trunc('week', date_expr) }} as date)
{%- endmacro %}

{# A date plus a whole number of days (number may be a column), as a date. #}
{% macro product_add_days(date_expr, number) -%}
    cast({{ dbt.dateadd('day', number, date_expr) }} as date)
{%- endmacro %}

{# Integers 0..upper_bound as column `n` (a subquery body). #}
{% macro product_integers(upper_bound) -%}
    {% for i in range(upper_bound + 1) %}select {{ i }} as n{{ " union all " if not loop.last }}{% endfor %}
{%- endmacro %}

{# Refresh planner statistics of a freshly built table (Postgres plans the funnel joins from them). #}
{% macro product_analyze(relation) -%}
    {{ return(adapter.dispatch('product_analyze', 'hitcraft')(relation)) }}
{%- endmacro %}
{% macro default__product_analyze(relation) -%}
    select 1
{%- endmacro %}
{% macro postgres__product_analyze(relation) -%}
    analyze {{ relation }}
{%- endmacro %}
