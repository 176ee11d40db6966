"""HitCraft analytics platform: Mixpanel → PostgreSQL → dbt → ML → insights, orchestrated by Dagster."""

__version__ = "0.1.0"
