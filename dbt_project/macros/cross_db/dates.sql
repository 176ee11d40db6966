{# Dates and times. Timestamps are timestamps with time zone (UTC instants); days are reporting-zone dates. #}

{# Local calendar day of a timestamp in the reporting time zone (var reporting_timezone). #}
{% macro local_date(ts) -%}
    {{ return(adapter.dispatch('local_date', 'hitcraft')(ts)) }}
{%- endmacro %}

{% macro default__local_date(ts) -%}
    {{ unsupported_adapter('local_date', 'Snowflake: convert_timezone; BigQuery: date(ts, zone); Spark: from_utc_timestamp') }}
{%- endmacro %}

{% macro postgres__local_date(ts) -%}
    cast(({{ ts }} at time zone '{{ var("reporting_timezone") }}') as date)
{%- endmacro %}

{# Seconds since the Unix epoch of a timestamp (fractional seconds kept). #}
{% macro epoch_seconds(ts) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'hitcraft')(ts)) }}
{%- endmacro %}

{% macro default__epoch_seconds(ts) -%}
    {{ unsupported_adapter('epoch_seconds', 'Snowflake: date_part(epoch_second, ts); BigQuery: unix_micros(ts) / 1e6') }}
{%- endmacro %}

{% macro postgres__epoch_seconds(ts) -%}
    extract(epoch from {{ ts }})
{%- endmacro %}

{# Seconds from start_ts to end_ts (timestamps with time zone), fractional seconds kept. #}
{% macro seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('seconds_between', 'hitcraft')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro default__seconds_between(start_ts, end_ts) -%}
    {{ unsupported_adapter('seconds_between', 'the difference of the two epoch_seconds') }}
{%- endmacro %}

{% macro postgres__seconds_between(start_ts, end_ts) -%}
    extract(epoch from ({{ end_ts }} - {{ start_ts }}))
{%- endmacro %}

{# Monday of the ISO week of a date, as a date (dbt's date_trunc: Postgres truncates weeks to Monday). #}
{% macro iso_week_start(date_expr) -%}
    cast({{ dbt.date_trunc('week', date_expr) }} as date)
{%- endmacro %}

{# A date plus a whole number of days (number may be a column), as a date. #}
{% macro add_days(date_expr, number) -%}
    cast({{ dbt.dateadd('day', number, date_expr) }} as date)
{%- endmacro %}
