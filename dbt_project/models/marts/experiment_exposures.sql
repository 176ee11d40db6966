{#
  One row per experiment and user: the first exposure (time, reporting day, variant, and the user's platform,
  role, experience level and channel on that event). A user exposed to more than one variant is flagged
  (variants_seen > 1, is_excluded) and left out of every readout: their outcome cannot be attributed.
#}
{{ config(materialized='table', indexes=[{'columns': ['experiment_name', 'user_key']}]) }}

with assignments as (
    select
        experiment_name,
        user_key,
        count(*) as variants_seen,
        min(first_exposed_at) as first_exposed_at,
        sum(exposure_events) as exposure_events
    from {{ ref('int_experiment_assignments') }}
    group by experiment_name, user_key
),

first_event as (
    select
        experiment_name,
        user_key,
        event_date,
        event_time,
        variant_name,
        platform,
        role,
        experience_level,
        utm_source,
        row_number() over (
            partition by experiment_name, user_key order by event_time, variant_name, insert_id
        ) as n
    from {{ ref('stg_experiment_exposures') }}
    where experiment_name is not null and variant_name is not null and user_key is not null
)

select
    a.experiment_name,
    a.user_key,
    f.variant_name,
    a.first_exposed_at,
    f.event_date as first_exposure_date,
    a.exposure_events,
    a.variants_seen,
    a.variants_seen > 1 as is_excluded,
    f.platform,
    f.role,
    f.experience_level,
    f.utm_source
from assignments as a
inner join first_event as f
    on f.experiment_name = a.experiment_name and f.user_key = a.user_key and f.n = 1
