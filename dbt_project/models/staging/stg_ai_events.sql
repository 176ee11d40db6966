{#
  AI generation events with their metadata: render events (model, prompt_version, duration_s, render_id),
  their downloads, and assistant messages with their feedback (message_id, llm_model, latency_ms, capability,
  intent, prompt_version). Deduplicated and identity-resolved like stg_events; daily-partitioned (tag daily).
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_window('event_date') }}",
    tags=['daily'],
    indexes=[{'columns': ['event_date']}, {'columns': ['render_id']}, {'columns': ['message_id']}],
) }}

{{ resolved_raw_events(
    "event in ('Render Started', 'Render Completed', 'Render Failed', 'Production Downloaded',
               'Message Sent', 'Message Liked', 'Message Disliked')",
    [('render_id', 'render_id', false),
     ('render_model', 'model', false),
     ('prompt_version', 'prompt_version', false),
     ('prompt_id', 'prompt_id', false),
     ('prompt_category', 'prompt_category', false),
     ('duration_s', 'duration_s', true),
     ('message_id', 'message_id', false),
     ('llm_model', 'llm_model', false),
     ('latency_ms', 'latency_ms', true),
     ('capability', 'capability', false),
     ('intent', 'intent', false),
     ('role', 'role', false),
     ('experience_level', 'experience_level', false),
     ('utm_source', 'utm_source', false)]
) }}
