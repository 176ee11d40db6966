{#
  The metric catalogue (seeds/metric_catalogue.csv) turned into SQL. metric_rows(wide, key_columns) is one block
  of long rows (metric_date, key columns, metric, value, numerator, denominator) per declared metric, over a
  relation `wide` that holds one row per `day` (and key) with the base counts the catalogue's expressions name.
  value_sql, when given, is the value; otherwise value = numerator / denominator (null when the denominator is 0).
  The catalogue is read when the model runs (the ref makes every build load the seed first), so a new row needs
  no change here.
#}
{% macro metric_catalogue_rows(segmented=false) -%}
    {%- set catalogue = ref('metric_catalogue') -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select metric, value_sql, numerator_sql, denominator_sql from {{ catalogue }}
        {% if segmented %}where by_segment{% endif %}
        order by metric
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- if rows | length == 0 -%}
        {{ exceptions.raise_compiler_error("seeds/metric_catalogue.csv declares no metric"
            ~ (" with by_segment = true" if segmented else "") ~ " (or `dbt seed` has not loaded it)") }}
    {%- endif -%}
    {{ return(rows) }}
{%- endmacro %}


{% macro metric_rows(wide, key_columns=[], segmented=false) -%}
    {%- for name, value_sql, numerator_sql, denominator_sql in metric_catalogue_rows(segmented) %}
select
    day as metric_date,
    {%- for column in key_columns %}
    {{ column }},
    {%- endfor %}
    '{{ name }}' as metric,
    cast({{ value_sql if value_sql else safe_ratio(numerator_sql, denominator_sql) }} as {{ dbt.type_float() }}) as value,
    cast({{ numerator_sql if numerator_sql else 'null' }} as {{ dbt.type_float() }}) as numerator,
    cast({{ denominator_sql if denominator_sql else 'null' }} as {{ dbt.type_float() }}) as denominator
from {{ wide }}
{% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}


{# Every day from the first to the last day with activity (the grid of the daily-metrics and lifecycle models). #}
{% macro activity_days() -%}
    {{ day_series(
        '(select min(activity_date) from ' ~ ref('user_daily_activity') ~ ')',
        '(select max(activity_date) from ' ~ ref('user_daily_activity') ~ ')'
    ) }}
{%- endmacro %}
