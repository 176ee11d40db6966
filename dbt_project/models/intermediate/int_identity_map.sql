{#
  Mixpanel ID merge: every anonymous device that an identified event ties to a user id. A device maps to
  the first user it was identified as. Incremental: each partition window merges the pairs it sees, so a
  device identified today also resolves its anonymous events of earlier days when those are rebuilt.
#}
{{ config(materialized='incremental', unique_key='device_id', incremental_strategy='merge', tags=['daily']) }}

with pairs as (
    select
        {{ prop('$device_id') }} as device_id,
        {{ prop('$user_id') }} as user_id,
        event_time
    from {{ source('mixpanel', 'raw_events') }}
    where {{ in_window('partition_date') }}
      and {{ prop('$device_id') }} is not null
      and {{ prop('$user_id') }} is not null
),

{% if is_incremental() %}
known as (
    select device_id, user_id, first_identified_at as event_time from {{ this }}
),
candidates as (select * from pairs union all select * from known),
{% else %}
candidates as (select * from pairs),
{% endif %}

ranked as (
    select
        device_id,
        user_id,
        event_time,
        row_number() over (partition by device_id order by event_time, user_id) as rn
    from candidates
)

select device_id, user_id, event_time as first_identified_at
from ranked
where rn = 1
