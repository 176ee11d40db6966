{#
  One row per experiment x user x variant seen: the first and last exposure to that variant and how many
  exposure events. experiment_exposures turns this into one row per experiment x user.
#}
{{ config(materialized='table') }}

select
    experiment_name,
    user_key,
    variant_name,
    min(event_time) as first_exposed_at,
    max(event_time) as last_exposed_at,
    count(*) as exposure_events
from {{ ref('stg_experiment_exposures') }}
where experiment_name is not null and variant_name is not null and user_key is not null
group by experiment_name, user_key, variant_name
