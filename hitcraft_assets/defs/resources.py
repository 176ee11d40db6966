"""The shared resources of every domain: `warehouse` (WarehouseResource), `mixpanel` (MixpanelResource) and `dbt`
(dagster-dbt's DbtCliResource). Secrets are declared with `dg.EnvVar` (Dagster resolves them in the run's process and
shows only the variable's name); unset, the platform runs on the embedded database and the sample Mixpanel."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg

from hitcraft_assets import settings
from hitcraft_assets.store import warehouse

log = logging.getLogger(__name__)


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse PostgreSQL: `database_url` (in the code location `dg.EnvVar("HITCRAFT_DATABASE_URL")` when that
    is set), else the embedded server under $HITCRAFT_HOME."""

    database_url: str | None = None

    def url(self) -> str:
        return self.database_url or warehouse.warehouse_url()

    def connect(self):
        """A new psycopg2 connection; the caller closes it (or use `connection()`)."""
        return warehouse.connect(self.url())

    def connection(self):
        """Context manager: a connection closed on exit."""
        return warehouse.connection(self.url())

    def sqlalchemy_url(self) -> str:
        from urllib.parse import urlsplit, urlunsplit

        return urlunsplit(("postgresql+psycopg2", *urlsplit(self.url())[1:]))


@dataclass
class MixpanelSource:
    """A ready client plus what the loader and metadata need to know about the project."""

    client: object
    label: str  # "sample Mixpanel (in-process)" or the export host
    is_sample: bool
    project_timezone: str
    local_time_to_utc: Callable[[float], float] | None

    def project_today(self) -> date:
        return self.client.project_today()


def sample_anchor_date() -> date:
    """The sample project's anchor day: fixed on first use (kept in $HITCRAFT_HOME) so that data
    loaded on different days stays consistent; `HITCRAFT_SAMPLE_ANCHOR` overrides it."""
    override = settings.sample_settings().anchor
    if override:
        return override
    path: Path = settings.hitcraft_home() / "sample_anchor_date"
    if path.exists():
        return date.fromisoformat(path.read_text().strip())
    anchor = datetime.now(UTC).date()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(anchor.isoformat())
    return anchor


class MixpanelResource(dg.ConfigurableResource):
    """Mixpanel Raw Event Export + Engage. Credentials: the fields (in the code location `dg.EnvVar`s of the
    MIXPANEL_* credentials, when they are set), else the MIXPANEL_* variables; region, time zone and API host from
    the MIXPANEL_* variables. Without credentials the sample Mixpanel (a HitCraft simulator speaking the same HTTP
    API) reached in-process by the same client."""

    window_days: int = 30
    queries_per_hour: int = 60
    queries_per_second: float = 3.0
    project_id: str | None = None
    service_account_username: str | None = None
    service_account_secret: str | None = None

    def open(self) -> MixpanelSource:
        from dataclasses import replace

        from hitcraft_assets.mixpanel.client import MixpanelClient, MixpanelConfig
        from hitcraft_assets.mixpanel.timezones import legacy_time_converter

        s = settings.mixpanel_settings()
        credentials = (self.project_id, self.service_account_username, self.service_account_secret)
        if any(credentials):
            settings.check_mixpanel_credentials(*credentials)
            s = replace(s, project_id=credentials[0], username=credentials[1], secret=credentials[2])
        transport = None
        if s.is_sample:
            import httpx

            from hitcraft_assets.mixpanel.sample import SampleMixpanelApp, Simulator, load_scenario

            app = SampleMixpanelApp(
                Simulator(load_scenario(), anchor_date=sample_anchor_date()),
                project_timezone=s.project_timezone,
                legacy_local_time=s.legacy_local_time,
            )
            transport = httpx.WSGITransport(app=app)
            config = MixpanelConfig(
                project_id="sample",
                username="sample",
                secret="sample",
                project_timezone=s.project_timezone,
                legacy_local_time=s.legacy_local_time,
                api_base_url="http://sample-mixpanel.local",
                window_days=self.window_days,
                queries_per_hour=self.queries_per_hour,
                queries_per_second=self.queries_per_second,
            )
            label = "sample Mixpanel (in-process, no MIXPANEL_* credentials set)"
        else:
            config = MixpanelConfig(
                project_id=s.project_id,
                username=s.username,
                secret=s.secret,
                region=s.region,
                project_timezone=s.project_timezone,
                legacy_local_time=s.legacy_local_time,
                api_base_url=s.api_base_url,
                window_days=self.window_days,
                queries_per_hour=self.queries_per_hour,
                queries_per_second=self.queries_per_second,
            )
            label = None
        limiter = None
        if s.is_sample:
            from hitcraft_assets.mixpanel.ratelimit import RateLimiter

            # 60 queries/hour is Mixpanel's budget, not the simulator's: keep only the per-second pace.
            limiter = RateLimiter(queries_per_hour=0, queries_per_second=self.queries_per_second)
        client = MixpanelClient(config, transport=transport, limiter=limiter)
        return MixpanelSource(
            client=client,
            label=label or client.export_host,
            is_sample=s.is_sample,
            project_timezone=s.project_timezone,
            local_time_to_utc=legacy_time_converter(s.project_timezone) if s.legacy_local_time else None,
        )


def mixpanel_resource() -> MixpanelResource:
    """The code location's Mixpanel resource: credentials as `dg.EnvVar`s when they are set, else the sample."""
    try:
        configured = not settings.mixpanel_settings().is_sample
    except settings.ConfigError:  # incomplete or malformed: `open()` names the variable when a run needs it
        configured = False
    if not configured:
        return MixpanelResource()
    project_id, username, secret = (dg.EnvVar(name) for name in settings.MIXPANEL_CREDENTIALS)
    return MixpanelResource(project_id=project_id, service_account_username=username, service_account_secret=secret)


def warehouse_resource() -> WarehouseResource:
    """The code location's warehouse: `dg.EnvVar("HITCRAFT_DATABASE_URL")` when it is set, else the embedded server."""
    configured = settings.database_settings().warehouse_url is not None
    return WarehouseResource(database_url=dg.EnvVar("HITCRAFT_DATABASE_URL") if configured else None)


@dg.definitions
def resources() -> dg.Definitions:
    from dagster_dbt import DbtCliResource

    from hitcraft_assets.defs.dbt.project import dbt_project

    return dg.Definitions(
        resources={
            "warehouse": warehouse_resource(),
            "mixpanel": mixpanel_resource(),
            # The dbt next to this interpreter (the venv's), whatever PATH the Dagster process was started with.
            "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=str(Path(sys.executable).parent / "dbt")),
        }
    )
