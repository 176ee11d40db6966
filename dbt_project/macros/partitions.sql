{#
  Daily-partitioned incremental models replace exactly their partition window [min_date, max_date]:
  a pre-hook deletes the window, the model selects only the window. Unlike delete+insert on a unique
  key, this also clears a day that became empty upstream, and it is the same on a first run, a re-run
  and a full refresh (the filter is applied always, not only inside is_incremental()).
  Dagster sets vars min_date / max_date for each run (hitcraft_assets/defs/dbt/partition_vars.py).
#}
{% macro window_start() %}cast('{{ var("min_date") }}' as date){% endmacro %}
{% macro window_end() %}cast('{{ var("max_date") }}' as date){% endmacro %}

{# `day_column` lies in the window, widened by lookback_days before and lookahead_days after it. #}
{% macro in_window(day_column, lookback_days=0, lookahead_days=0) -%}
    {{ day_column }} between {{ dbt.dateadd('day', -lookback_days, window_start()) }}
                         and {{ dbt.dateadd('day', lookahead_days, window_end()) }}
{%- endmacro %}

{# The pre-hook: delete the (widened) window from the model's table before the model inserts it again. #}
{% macro delete_window(day_column, lookback_days=0, lookahead_days=0) -%}
    {% if is_incremental() %}
    delete from {{ this }} where {{ in_window(day_column, lookback_days, lookahead_days) }}
    {% endif %}
{%- endmacro %}
