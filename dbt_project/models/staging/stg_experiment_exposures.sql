{#
  Experiment exposure events (Mixpanel: `$experiment_started` with `Experiment name` / `Variant name`; the
  event and property names are vars set from settings, so `Experiment Viewed` / `experiment_id` / `variant_id`
  work too). Deduplicated and identity-resolved like stg_events; daily-partitioned (tag daily).
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_window('event_date') }}",
    tags=['daily'],
    indexes=[{'columns': ['event_date']}, {'columns': ['experiment_name', 'user_key']}],
) }}

{{ resolved_raw_events(
    "event = '" ~ (var('experiment_event') | replace("'", "''")) ~ "'",
    [('experiment_name', var('experiment_name_property'), false),
     ('variant_name', var('variant_name_property'), false),
     ('role', 'role', false),
     ('experience_level', 'experience_level', false),
     ('utm_source', 'utm_source', false)]
) }}
