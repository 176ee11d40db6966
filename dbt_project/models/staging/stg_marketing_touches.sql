{#
  Marketing touches: events that carry utm_campaign (Mixpanel puts the landing URL's UTM parameters on the first
  event of a session that came from a campaign) with their utm_source / utm_medium / utm_campaign.
  Deduplicated and identity-resolved like stg_events; daily-partitioned (tag daily).
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_window('event_date') }}",
    tags=['daily'],
    indexes=[{'columns': ['event_date']}, {'columns': ['user_key']}],
) }}

{{ resolved_raw_events(
    prop('utm_campaign') ~ ' is not null',
    [('utm_source', 'utm_source', false),
     ('utm_medium', 'utm_medium', false),
     ('utm_campaign', 'utm_campaign', false)]
) }}
