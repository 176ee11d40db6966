"""Ingest domain: Mixpanel → `raw` schema, with data-quality checks and the daily schedule."""
