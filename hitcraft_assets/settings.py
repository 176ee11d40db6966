"""Configuration from environment variables (and an optional `.env` in the working directory).

The variable names are a contract for deployments and scripts; see README "Configuration".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@lru_cache(maxsize=1)
def load_dotenv_once() -> None:
    """Read `.env` from the working directory without overriding variables already set."""
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)


def _env(name: str, default: str | None = None) -> str | None:
    load_dotenv_once()
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _timezone(name: str, default: str) -> str:
    value = _env(name, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{name}={value!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)") from exc
    return value


def _bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (true/false)")


def _int(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not an integer") from exc


def hitcraft_home() -> Path:
    """Where the embedded database, Dagster's instance folder and reports live (default `.hitcraft/` in the repo)."""
    return Path(_env("HITCRAFT_HOME", str(REPO_ROOT / ".hitcraft"))).expanduser().resolve()


def reporting_timezone() -> str:
    """Time zone whose calendar days are the daily partitions (default UTC)."""
    return _timezone("HITCRAFT_REPORTING_TIMEZONE", "UTC")


def reporting_today(now: datetime | None = None) -> date:
    """Today (or `now`'s day) in the reporting time zone: yesterday is the newest complete partition."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(reporting_timezone())).date()


def external_database_url() -> str | None:
    """`HITCRAFT_DATABASE_URL`: an external PostgreSQL for the warehouse; unset means the embedded server."""
    return _env("HITCRAFT_DATABASE_URL")


def partitions_start() -> str:
    """`HITCRAFT_PARTITIONS_START`: the first daily partition, YYYY-MM-DD (default 2025-01-01)."""
    value = _env("HITCRAFT_PARTITIONS_START", "2025-01-01")
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"HITCRAFT_PARTITIONS_START={value!r} is not a date in YYYY-MM-DD form") from exc
    return value


def backfill_stall_minutes() -> float:
    """`HITCRAFT_BACKFILL_STALL_MINUTES`: how long `hitcraft backfill` / `demo` keep waiting on a backfill that makes
    no progress at all (no step, run or partition changed) before they give up (default 120; 0 = never). A slow
    backfill that keeps progressing is never given up."""
    value = _env("HITCRAFT_BACKFILL_STALL_MINUTES", "120")
    try:
        minutes = float(value)
    except ValueError as exc:
        raise ConfigError(f"HITCRAFT_BACKFILL_STALL_MINUTES={value!r} is not a number of minutes") from exc
    if minutes < 0:
        raise ConfigError(f"HITCRAFT_BACKFILL_STALL_MINUTES={value!r} must be >= 0 (0 = never give up)")
    return minutes


def lookback_days() -> int:
    """Days before the scheduled day that the daily job re-loads to pick up late-arriving events."""
    days = _int("HITCRAFT_LOOKBACK_DAYS", 5)
    if days < 0:
        raise ConfigError(f"HITCRAFT_LOOKBACK_DAYS={days} must be >= 0")
    return days


def ingest_cron() -> str:
    """`HITCRAFT_INGEST_CRON`: when the daily ingest runs (cron, reporting time zone; default 04:00). The day's
    insights wait for every input to be updated after that tick."""
    cron = _env("HITCRAFT_INGEST_CRON", "0 4 * * *")
    if len(cron.split()) != 5:
        raise ConfigError(f"HITCRAFT_INGEST_CRON={cron!r} is not a 5-field cron expression (e.g. '0 4 * * *')")
    return cron


@dataclass(frozen=True)
class MixpanelSettings:
    """Mixpanel source settings; `is_sample` when no credentials are configured."""

    project_id: str | None
    username: str | None
    secret: str | None
    region: str
    project_timezone: str
    legacy_local_time: bool
    api_base_url: str | None

    @property
    def is_sample(self) -> bool:
        return not (self.project_id and self.username and self.secret)

    def __repr__(self) -> str:  # never show the secret
        return (
            f"MixpanelSettings(project_id={self.project_id!r}, username={self.username!r}, "
            f"region={self.region!r}, sample={self.is_sample})"
        )


def mixpanel_settings() -> MixpanelSettings:
    region = (_env("MIXPANEL_REGION", "us") or "us").lower()
    if region not in ("us", "eu", "in"):
        raise ConfigError(f"MIXPANEL_REGION={region!r} must be one of us, eu, in")
    settings = MixpanelSettings(
        project_id=_env("MIXPANEL_PROJECT_ID"),
        username=_env("MIXPANEL_SERVICE_ACCOUNT_USERNAME"),
        secret=_env("MIXPANEL_SERVICE_ACCOUNT_SECRET"),
        region=region,
        project_timezone=_timezone("MIXPANEL_PROJECT_TIMEZONE", "UTC"),
        legacy_local_time=_bool("MIXPANEL_LEGACY_LOCAL_TIME", False),
        api_base_url=_env("MIXPANEL_API_BASE_URL"),
    )
    partial = [bool(settings.project_id), bool(settings.username), bool(settings.secret)]
    if any(partial) and not all(partial):
        missing = [
            name
            for name, present in zip(
                ("MIXPANEL_PROJECT_ID", "MIXPANEL_SERVICE_ACCOUNT_USERNAME", "MIXPANEL_SERVICE_ACCOUNT_SECRET"), partial
            )
            if not present
        ]
        raise ConfigError(
            f"Mixpanel credentials are incomplete: set {', '.join(missing)} (or unset all for the sample)"
        )
    return settings
