"""Configuration: the ONLY reader of the environment (and of an optional `.env` in the working directory).

Every variable is declared once in `VARIABLES` (name, area, default, meaning); README "Configuration" and
`.env.example` list the same set (a unit test keeps them so). Each area has a frozen dataclass built by a function
that reads the environment when it is called (never at import), loads `.env` first (without overriding variables
already set) and validates every value: a malformed one raises `ConfigError` naming the variable and the value
(the `hitcraft` command prints it as one line). The functions take an optional `environ` mapping, read instead of
the process environment (and without `.env`), for tests.

Areas: home (`home_settings`), database (`database_settings`), schedule and partitions (`schedule_settings`),
Mixpanel (`mixpanel_settings`), the sample Mixpanel (`sample_settings`), raw-data checks (`check_settings`),
report e-mail over SMTP (`smtp_settings`), alerts (`alert_settings`) and Claude (`claude_settings`).
Secrets (passwords, API keys, URLs with credentials) are kept out of every repr.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import getaddresses
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class EmailConfigError(ConfigError):
    """An SMTP / report e-mail setting is missing or malformed; the message names the variable."""


class AlertConfigError(ConfigError):
    """An alert setting is malformed; the message names the variable."""


# ------------------------------------------------------------------------------------------------ variables
@dataclass(frozen=True)
class Variable:
    """One environment variable: `default` as written in `.env.example` ("" when unset by default)."""

    name: str
    area: str
    default: str
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    # home
    Variable(
        "HITCRAFT_HOME",
        "home",
        ".hitcraft",
        "data folder: embedded PostgreSQL, Dagster instance home, reports, outbox (default .hitcraft/ in the repo)",
    ),
    # database
    Variable(
        "HITCRAFT_DATABASE_URL",
        "database",
        "",
        "external PostgreSQL for the warehouse (postgresql://user:pass@host:5432/db); unset: embedded",
    ),
    Variable(
        "DAGSTER_PG_URL",
        "database",
        "",
        "Dagster instance storage (postgresql+psycopg2://…/dagster); unset: the embedded server's or the warehouse's",
    ),
    # schedule and partitions
    Variable("HITCRAFT_REPORTING_TIMEZONE", "schedule", "UTC", "IANA zone of the daily partitions and the schedules"),
    Variable("HITCRAFT_PARTITIONS_START", "schedule", "2025-01-01", "first partition day (YYYY-MM-DD)"),
    Variable("HITCRAFT_LOOKBACK_DAYS", "schedule", "5", "days re-loaded by the daily run for late events"),
    Variable("HITCRAFT_INGEST_CRON", "schedule", "0 4 * * *", "when daily_ingest runs (cron, reporting time zone)"),
    Variable(
        "HITCRAFT_BACKFILL_STALL_MINUTES",
        "schedule",
        "120",
        "minutes `hitcraft backfill`/`demo` wait on a backfill with no progress at all before giving up (0: never)",
    ),
    # mixpanel
    Variable("MIXPANEL_PROJECT_ID", "mixpanel", "", "project id; the three credentials unset: the sample Mixpanel"),
    Variable("MIXPANEL_SERVICE_ACCOUNT_USERNAME", "mixpanel", "", "service account username"),
    Variable("MIXPANEL_SERVICE_ACCOUNT_SECRET", "mixpanel", "", "service account secret (a secret)"),
    Variable("MIXPANEL_REGION", "mixpanel", "us", "data residency: us, eu or in (picks the hosts)"),
    Variable("MIXPANEL_PROJECT_TIMEZONE", "mixpanel", "UTC", "the project's time zone (Project Settings)"),
    Variable(
        "MIXPANEL_LEGACY_LOCAL_TIME",
        "mixpanel",
        "false",
        "true for projects created before 2023 (exported time is project-local)",
    ),
    Variable("MIXPANEL_API_BASE_URL", "mixpanel", "", "overrides both API hosts (proxies, tests)"),
    # sample Mixpanel
    Variable(
        "HITCRAFT_SAMPLE_SCENARIO", "sample", "", "scenario YAML for the sample Mixpanel; unset: the packaged one"
    ),
    Variable(
        "HITCRAFT_SAMPLE_ANCHOR",
        "sample",
        "",
        "anchor day of the sample's dates (YYYY-MM-DD); unset: fixed on first use",
    ),
    # raw-data checks
    Variable(
        "HITCRAFT_MAX_QUARANTINE_SHARE",
        "checks",
        "0.01",
        "largest share of a day's lines that may be quarantined (blocking)",
    ),
    Variable(
        "HITCRAFT_VOLUME_DEVIATION_FACTOR",
        "checks",
        "2.0",
        "a day's rows within this factor of its weekday median (warning)",
    ),
    Variable("HITCRAFT_MIN_INSERT_ID_SHARE", "checks", "0.99", "share of events that must carry $insert_id (blocking)"),
    # report e-mail
    Variable("HITCRAFT_REPORT_RECIPIENTS", "email", "", "who gets the reports (comma- or semicolon-separated)"),
    Variable("SMTP_HOST", "email", "", "SMTP server; unset: .eml files in $HITCRAFT_HOME/outbox/"),
    Variable("SMTP_PORT", "email", "", "port; unset: 587 (starttls), 465 (ssl) or 25 (none)"),
    Variable("SMTP_SECURITY", "email", "starttls", "starttls, ssl or none"),
    Variable("SMTP_USERNAME", "email", "", "login (also the default sender when it is an address)"),
    Variable("SMTP_PASSWORD", "email", "", "password (a secret)"),
    Variable("SMTP_FROM", "email", "", "sender; unset: the username if an address, else hitcraft-analytics@localhost"),
    Variable("SMTP_TIMEOUT_S", "email", "30", "seconds before an SMTP connection gives up"),
    # alerts
    Variable("HITCRAFT_ALERT_MIN_SEVERITY", "alerts", "4.0", "|robust z| an anomaly flag needs to be alerted"),
    Variable(
        "HITCRAFT_ALERT_MAX_AGE_DAYS",
        "alerts",
        "3",
        "flags of days older than this are recorded as skipped, never sent",
    ),
    Variable("HITCRAFT_ALERT_WEBHOOK_URL", "alerts", "", "Slack-compatible incoming webhook (a secret)"),
    Variable("HITCRAFT_ALERT_RECIPIENTS", "alerts", "", "anomaly alerts; unset: the report recipients"),
    Variable("HITCRAFT_OPERATOR_RECIPIENTS", "alerts", "", "run-failure notices; unset: the alert recipients"),
    Variable(
        "HITCRAFT_DAGSTER_URL", "alerts", "http://localhost:3000", "base URL of the Dagster UI for links in alerts"
    ),
    # Claude
    Variable(
        "ANTHROPIC_API_KEY",
        "claude",
        "",
        "Claude for the executive summary and `hitcraft ask` (a secret); unset: no Claude",
    ),
    Variable("HITCRAFT_CLAUDE_MODEL", "claude", "claude-sonnet-4-5", "Claude model"),
    Variable("HITCRAFT_CLAUDE_TIMEOUT_S", "claude", "60", "seconds per Claude request"),
    Variable("HITCRAFT_CLAUDE_MAX_RETRIES", "claude", "2", "retries of a failed Claude request"),
    Variable("ANTHROPIC_BASE_URL", "claude", "", "Anthropic API base URL (proxies, tests); unset: the SDK default"),
    # the analytics app (hitcraft serve)
    Variable(
        "HITCRAFT_APP_SECRET",
        "app",
        "",
        "key that signs the app's session cookies (a secret, 32+ characters); unset: made once in $HITCRAFT_HOME",
    ),
    Variable("HITCRAFT_APP_SECURE_COOKIE", "app", "false", "true behind HTTPS: the session cookie is marked Secure"),
    Variable("HITCRAFT_EXPERIMENT_EVENT", "experiments", "$experiment_started", "the experiment exposure event"),
    Variable("HITCRAFT_EXPERIMENT_NAME_PROPERTY", "experiments", "Experiment name", "its experiment property"),
    Variable("HITCRAFT_VARIANT_NAME_PROPERTY", "experiments", "Variant name", "its variant property"),
    Variable("HITCRAFT_EXPERIMENT_WINDOW_DAYS", "experiments", "7", "outcome window after exposure (days)"),
    Variable("HITCRAFT_EXPERIMENT_ALPHA", "experiments", "0.05", "false-positive rate of experiment readouts"),
    Variable("HITCRAFT_SRM_ALPHA", "experiments", "0.001", "p-value below which a sample-ratio mismatch is flagged"),
)
_NAMES = frozenset(v.name for v in VARIABLES)


@lru_cache(maxsize=1)
def load_dotenv_once() -> None:
    """Read `.env` from the working directory without overriding variables already set."""
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)


class _Reader:
    """Reads declared variables from `environ` (given) or the process environment after `.env`; blank is unset."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        if environ is None:
            load_dotenv_once()
            environ = os.environ
        self._environ = environ

    def text(self, name: str, default: str | None = None) -> str | None:
        if name not in _NAMES:  # every variable is declared (and documented) once
            raise KeyError(f"{name} is not declared in settings.VARIABLES")
        value = (self._environ.get(name) or "").strip()
        return value or default

    def integer(self, name: str, default: int, *, minimum: int | None = None, error=ConfigError) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise error(f"{name}={raw!r} is not an integer") from exc
        if minimum is not None and value < minimum:
            raise error(f"{name}={raw!r} must be >= {minimum}")
        return value

    def number(self, name: str, default: float, *, low: float, high: float = float("inf"), error=ConfigError) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError as exc:
            raise error(f"{name}={raw!r} is not a number") from exc
        if not low <= value <= high:  # NaN fails too
            bounds = f"between {low:g} and {high:g}" if high != float("inf") else f">= {low:g}"
            raise error(f"{name}={raw!r} must be {bounds}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r} is not a boolean (true/false)")

    def timezone(self, name: str, default: str) -> str:
        value = self.text(name, default)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{name}={value!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)") from exc
        return value

    def day(self, name: str, default: date | None = None) -> date | None:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r} is not a YYYY-MM-DD date") from exc

    def http_url(self, name: str, default: str | None = None, *, error=ConfigError, show: bool = True) -> str | None:
        value = self.text(name, default)
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise error(f"{name}={value!r} must be an http(s) URL" if show else f"{name} must be an http(s) URL")
        return value


def process_environment(**overrides: str) -> dict[str, str]:
    """A copy of the process environment (after `.env`) with `overrides`: the environment of a subprocess."""
    load_dotenv_once()
    return {**os.environ, **overrides}


def executable_search_path(*first: str | Path) -> str:
    """PATH with the `first` folders in front (so a subprocess finds this venv's dbt and dagster)."""
    load_dotenv_once()
    return os.pathsep.join([*map(str, first), os.environ.get("PATH", "")])


# --------------------------------------------------------------------------------------------------- home
@dataclass(frozen=True)
class HomeSettings:
    """`home`: where the embedded database, Dagster's instance folder, reports and the outbox live."""

    home: Path


def home_settings(environ: Mapping[str, str] | None = None) -> HomeSettings:
    raw = _Reader(environ).text("HITCRAFT_HOME", str(REPO_ROOT / ".hitcraft"))
    return HomeSettings(Path(raw).expanduser().resolve())


def hitcraft_home() -> Path:
    """Where the embedded database, Dagster's instance folder and reports live (default `.hitcraft/` in the repo)."""
    return home_settings().home


# ----------------------------------------------------------------------------------------------- database
@dataclass(frozen=True)
class DatabaseSettings:
    """`warehouse_url` (HITCRAFT_DATABASE_URL) None: the embedded server; `dagster_storage_url` (DAGSTER_PG_URL)
    None: derived from the warehouse. Both may hold a password: not in the repr."""

    warehouse_url: str | None = field(repr=False)
    dagster_storage_url: str | None = field(repr=False)


def database_settings(environ: Mapping[str, str] | None = None) -> DatabaseSettings:
    r = _Reader(environ)
    urls = {}
    for name in ("HITCRAFT_DATABASE_URL", "DAGSTER_PG_URL"):
        value = r.text(name)
        if value and "://" in value and not urlsplit(value).scheme.startswith("postgres"):
            raise ConfigError(f"{name} must be a postgresql:// URL (got scheme {urlsplit(value).scheme!r})")
        urls[name] = value
    return DatabaseSettings(urls["HITCRAFT_DATABASE_URL"], urls["DAGSTER_PG_URL"])


def external_database_url() -> str | None:
    """`HITCRAFT_DATABASE_URL`: an external PostgreSQL for the warehouse; unset means the embedded server."""
    return database_settings().warehouse_url


# ------------------------------------------------------------------------------------ schedule, partitions
@dataclass(frozen=True)
class ScheduleSettings:
    """Calendar days of `reporting_timezone` are the daily partitions from `partitions_start`; the daily ingest
    runs at `ingest_cron` and re-loads `lookback_days` days before yesterday for late events."""

    reporting_timezone: str
    partitions_start: date
    lookback_days: int
    ingest_cron: str


def schedule_settings(environ: Mapping[str, str] | None = None) -> ScheduleSettings:
    r = _Reader(environ)
    cron = r.text("HITCRAFT_INGEST_CRON", "0 4 * * *")
    if len(cron.split()) != 5:
        raise ConfigError(f"HITCRAFT_INGEST_CRON={cron!r} is not a 5-field cron expression (e.g. '0 4 * * *')")
    return ScheduleSettings(
        reporting_timezone=r.timezone("HITCRAFT_REPORTING_TIMEZONE", "UTC"),
        partitions_start=r.day("HITCRAFT_PARTITIONS_START", date(2025, 1, 1)),
        lookback_days=r.integer("HITCRAFT_LOOKBACK_DAYS", 5, minimum=0),
        ingest_cron=cron,
    )


def reporting_timezone() -> str:
    """Time zone whose calendar days are the daily partitions (default UTC)."""
    return schedule_settings().reporting_timezone


def reporting_today(now: datetime | None = None) -> date:
    """Today (or `now`'s day) in the reporting time zone: yesterday is the newest complete partition."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(reporting_timezone())).date()


def partitions_start() -> date:
    """`HITCRAFT_PARTITIONS_START`: the first partition day (default 2025-01-01)."""
    return schedule_settings().partitions_start


def backfill_stall_minutes(environ: Mapping[str, str] | None = None) -> float:
    """`HITCRAFT_BACKFILL_STALL_MINUTES`: how long `hitcraft backfill` / `demo` keep waiting on a backfill that makes
    no progress at all (no step, run or partition changed) before they give up (default 120; 0 = never). A slow
    backfill that keeps progressing is never given up."""
    return _Reader(environ).number("HITCRAFT_BACKFILL_STALL_MINUTES", 120.0, low=0.0)


def lookback_days() -> int:
    """Days before the scheduled day that the daily job re-loads to pick up late-arriving events."""
    return schedule_settings().lookback_days


def ingest_cron() -> str:
    """`HITCRAFT_INGEST_CRON`: when the daily ingest runs (cron, reporting time zone; default 04:00). The day's
    insights wait for every input to be updated after that tick."""
    return schedule_settings().ingest_cron


# ----------------------------------------------------------------------------------------------- mixpanel
MIXPANEL_CREDENTIALS = ("MIXPANEL_PROJECT_ID", "MIXPANEL_SERVICE_ACCOUNT_USERNAME", "MIXPANEL_SERVICE_ACCOUNT_SECRET")


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


def check_mixpanel_credentials(project_id: str | None, username: str | None, secret: str | None) -> None:
    """All three credentials or none (the sample); raises ConfigError naming the missing ones."""
    present = [bool(project_id), bool(username), bool(secret)]
    if any(present) and not all(present):
        missing = [name for name, ok in zip(MIXPANEL_CREDENTIALS, present) if not ok]
        raise ConfigError(
            f"Mixpanel credentials are incomplete: set {', '.join(missing)} (or unset all for the sample)"
        )


def mixpanel_settings(environ: Mapping[str, str] | None = None) -> MixpanelSettings:
    r = _Reader(environ)
    region = r.text("MIXPANEL_REGION", "us").lower()
    if region not in ("us", "eu", "in"):
        raise ConfigError(f"MIXPANEL_REGION={region!r} must be one of us, eu, in")
    settings = MixpanelSettings(
        project_id=r.text("MIXPANEL_PROJECT_ID"),
        username=r.text("MIXPANEL_SERVICE_ACCOUNT_USERNAME"),
        secret=r.text("MIXPANEL_SERVICE_ACCOUNT_SECRET"),
        region=region,
        project_timezone=r.timezone("MIXPANEL_PROJECT_TIMEZONE", "UTC"),
        legacy_local_time=r.boolean("MIXPANEL_LEGACY_LOCAL_TIME", False),
        api_base_url=r.http_url("MIXPANEL_API_BASE_URL"),
    )
    check_mixpanel_credentials(settings.project_id, settings.username, settings.secret)
    return settings


# ------------------------------------------------------------------------------------------ sample Mixpanel
@dataclass(frozen=True)
class SampleSettings:
    """`scenario`: a scenario YAML instead of the packaged one; `anchor`: the anchor day overriding the one kept in
    $HITCRAFT_HOME (None: fixed on first use)."""

    scenario: Path | None
    anchor: date | None


def sample_settings(environ: Mapping[str, str] | None = None) -> SampleSettings:
    r = _Reader(environ)
    scenario = r.text("HITCRAFT_SAMPLE_SCENARIO")
    return SampleSettings(scenario=Path(scenario) if scenario else None, anchor=r.day("HITCRAFT_SAMPLE_ANCHOR"))


# ------------------------------------------------------------------------------------------- raw-data checks
@dataclass(frozen=True)
class CheckSettings:
    """Thresholds of the raw-event checks."""

    max_quarantine_share: float  # largest share of a day's export lines that may be quarantined (blocking)
    volume_deviation_factor: float  # a day's rows within ×factor of its same-weekday median (warning)
    min_insert_id_share: float  # share of events that must carry $insert_id (old SDKs lack it)


def check_settings(environ: Mapping[str, str] | None = None) -> CheckSettings:
    r = _Reader(environ)
    return CheckSettings(
        max_quarantine_share=r.number("HITCRAFT_MAX_QUARANTINE_SHARE", 0.01, low=0.0, high=1.0),
        volume_deviation_factor=r.number("HITCRAFT_VOLUME_DEVIATION_FACTOR", 2.0, low=1.0),
        min_insert_id_share=r.number("HITCRAFT_MIN_INSERT_ID_SHARE", 0.99, low=0.0, high=1.0),
    )


# ------------------------------------------------------------------------------------------- report e-mail
SECURITY_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_SENDER = "HitCraft Analytics <hitcraft-analytics@localhost>"
DEFAULT_SMTP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SmtpSettings:
    """SMTP delivery settings. `host` None: no server configured (messages go to the outbox)."""

    host: str | None
    port: int
    username: str | None
    password: str | None = field(repr=False)
    sender: str
    recipients: tuple[str, ...]
    security: str = "starttls"
    timeout_s: float = DEFAULT_SMTP_TIMEOUT_S

    def __repr__(self) -> str:  # never show the password
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, password={'***' if self.password else None}, "
            f"sender={self.sender!r}, recipients={len(self.recipients)})"
        )


def smtp_settings(environ: Mapping[str, str] | None = None) -> SmtpSettings:
    """Settings from `SMTP_HOST`, `SMTP_PORT` (default by security: 587 / 465 / 25), `SMTP_USERNAME`,
    `SMTP_PASSWORD`, `SMTP_FROM` (default: the username when it is an address, else
    hitcraft-analytics@localhost), `SMTP_SECURITY` (starttls | ssl | none; default starttls), `SMTP_TIMEOUT_S`
    (default 30) and `HITCRAFT_REPORT_RECIPIENTS` (comma- or semicolon-separated addresses). Raises
    EmailConfigError naming the variable when a value is malformed or when a host is set without recipients or
    with a username but no password."""
    r = _Reader(environ)
    security = r.text("SMTP_SECURITY", "starttls").lower()
    if security not in SECURITY_MODES:
        raise EmailConfigError(f"SMTP_SECURITY={security!r} must be one of {', '.join(SECURITY_MODES)}")
    port = _positive(r, "SMTP_PORT", DEFAULT_PORTS[security], int)
    timeout_s = _positive(r, "SMTP_TIMEOUT_S", DEFAULT_SMTP_TIMEOUT_S, float)
    recipients = parse_recipients(r.text("HITCRAFT_REPORT_RECIPIENTS") or "")
    host, username, password = r.text("SMTP_HOST"), r.text("SMTP_USERNAME"), r.text("SMTP_PASSWORD")
    # Providers usually accept only a verified sender: an e-mail-shaped login is the best default.
    sender = r.text("SMTP_FROM") or (username if username and valid_addresses([username]) else DEFAULT_SENDER)
    if not valid_addresses([sender]):
        raise EmailConfigError(f"SMTP_FROM={sender!r} is not an e-mail address")
    if host and not recipients:
        raise EmailConfigError("SMTP_HOST is set but HITCRAFT_REPORT_RECIPIENTS is empty")
    if username and not password:
        raise EmailConfigError("SMTP_USERNAME is set but SMTP_PASSWORD is empty")
    return SmtpSettings(host, port, username, password, sender, recipients, security, timeout_s)


def parse_recipients(text: str, variable: str = "HITCRAFT_REPORT_RECIPIENTS") -> tuple[str, ...]:
    """'a@x.com, B <b@y.org>; c@z.io' -> ('a@x.com', 'b@y.org', 'c@z.io'). Raises EmailConfigError (naming
    `variable`) for an entry that is not an address."""
    entries = [entry.strip() for entry in re.split(r"[,;]", text) if entry.strip()]
    addresses = []
    for entry in entries:
        parsed = getaddresses([entry])
        if len(parsed) != 1 or not valid_addresses([parsed[0][1]]):
            raise EmailConfigError(f"{variable}: {entry!r} is not an e-mail address")
        addresses.append(parsed[0][1])
    return tuple(dict.fromkeys(addresses))


def valid_addresses(addresses: Iterable[str]) -> bool:
    """Whether every entry ('a@x.com' or 'Name <a@x.com>') is an e-mail address."""
    for address in addresses:
        bare = bare_address(address)
        if not re.fullmatch(r"[^@\s<>,;]+@[^@\s<>,;]+", bare):
            return False
    return True


def bare_address(address: str) -> str:
    """'Name <a@x.com>' -> 'a@x.com'."""
    return getaddresses([address])[0][1] if "<" in address else address.strip()


def _positive(r: _Reader, name: str, default, cast):
    raw = r.text(name)
    if raw is None:
        return default
    try:
        value = cast(raw)
    except ValueError as exc:
        raise EmailConfigError(f"{name}={raw!r} is not a number") from exc
    if value <= 0:
        raise EmailConfigError(f"{name}={raw!r} must be > 0")
    return value


# ------------------------------------------------------------------------------------------------- alerts
DEFAULT_MIN_SEVERITY = 4.0
DEFAULT_MAX_AGE_DAYS = 3
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_DAGSTER_URL = "http://localhost:3000"
WEBHOOK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class AlertSettings:
    """Who gets alerts, how, and which flags are worth one. `webhook_url` is a secret (never in reprs or logs)."""

    smtp: SmtpSettings
    outbox_dir: Path
    recipients: tuple[str, ...] = ()
    operator_recipients: tuple[str, ...] = ()
    webhook_url: str | None = field(default=None, repr=False)
    min_severity: float = DEFAULT_MIN_SEVERITY
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    dagster_url: str = DEFAULT_DAGSTER_URL
    webhook_timeout_s: float = WEBHOOK_TIMEOUT_S


def alert_settings(environ: Mapping[str, str] | None = None) -> AlertSettings:
    """Settings from `HITCRAFT_ALERT_MIN_SEVERITY` (|robust z| an alert needs, default 4), `HITCRAFT_ALERT_MAX_AGE_DAYS`
    (older flags are recorded as skipped, never sent; default 3), `HITCRAFT_ALERT_WEBHOOK_URL` (optional),
    `HITCRAFT_ALERT_RECIPIENTS` (default `HITCRAFT_REPORT_RECIPIENTS`), `HITCRAFT_OPERATOR_RECIPIENTS` (run failures;
    default the alert recipients), `HITCRAFT_DAGSTER_URL` (links; default http://localhost:3000), the `SMTP_*`
    variables of `smtp_settings` and `HITCRAFT_HOME` (outbox: $HITCRAFT_HOME/outbox). Raises AlertConfigError /
    EmailConfigError."""
    r = _Reader(environ)

    def recipients_of(name: str) -> tuple[str, ...]:
        try:
            return parse_recipients(r.text(name) or "", name)
        except EmailConfigError as exc:
            raise AlertConfigError(str(exc)) from exc

    recipients = recipients_of("HITCRAFT_ALERT_RECIPIENTS") or recipients_of("HITCRAFT_REPORT_RECIPIENTS")
    operators = recipients_of("HITCRAFT_OPERATOR_RECIPIENTS") or recipients
    if r.text("SMTP_HOST") and not recipients:
        raise AlertConfigError(
            "SMTP_HOST is set but HITCRAFT_ALERT_RECIPIENTS and HITCRAFT_REPORT_RECIPIENTS are empty"
        )
    # The SMTP settings' own recipients are replaced per message (alerts or operators).
    smtp_environ = {v.name: r.text(v.name) or "" for v in VARIABLES if v.area == "email"}
    smtp = smtp_settings({**smtp_environ, "HITCRAFT_REPORT_RECIPIENTS": ", ".join(recipients)})
    webhook = r.http_url("HITCRAFT_ALERT_WEBHOOK_URL", error=AlertConfigError, show=False)  # the URL is a secret
    dagster_url = r.http_url("HITCRAFT_DAGSTER_URL", DEFAULT_DAGSTER_URL, error=AlertConfigError).rstrip("/")
    home = home_settings(environ).home if r.text("HITCRAFT_HOME") else hitcraft_home()
    return AlertSettings(
        smtp=smtp,
        outbox_dir=home / "outbox",
        recipients=recipients,
        operator_recipients=operators,
        webhook_url=webhook,
        min_severity=r.number("HITCRAFT_ALERT_MIN_SEVERITY", DEFAULT_MIN_SEVERITY, low=0.0, error=AlertConfigError),
        max_age_days=r.integer("HITCRAFT_ALERT_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS, minimum=0, error=AlertConfigError),
        dagster_url=dagster_url,
    )


# ------------------------------------------------------------------------------------------------- Claude
DEFAULT_CLAUDE_MODEL = "claude-sonnet-4-5"
DEFAULT_CLAUDE_TIMEOUT_S = 60.0
DEFAULT_CLAUDE_MAX_RETRIES = 2


@dataclass(frozen=True)
class ClaudeSettings:
    """Claude access: `api_key` None disables Claude. `base_url` None: the SDK default (or ANTHROPIC_BASE_URL)."""

    api_key: str | None = field(repr=False)
    model: str = DEFAULT_CLAUDE_MODEL
    timeout_s: float = DEFAULT_CLAUDE_TIMEOUT_S
    max_retries: int = DEFAULT_CLAUDE_MAX_RETRIES
    base_url: str | None = None
    max_tokens: int = 700

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)


def claude_settings(environ: Mapping[str, str] | None = None) -> ClaudeSettings:
    """`ANTHROPIC_API_KEY`, `HITCRAFT_CLAUDE_MODEL` (default claude-sonnet-4-5), `HITCRAFT_CLAUDE_TIMEOUT_S`
    (default 60, > 0), `HITCRAFT_CLAUDE_MAX_RETRIES` (default 2, >= 0), `ANTHROPIC_BASE_URL`."""
    r = _Reader(environ)
    timeout_s = r.number("HITCRAFT_CLAUDE_TIMEOUT_S", DEFAULT_CLAUDE_TIMEOUT_S, low=0.0)
    if timeout_s == 0:
        raise ConfigError(f"HITCRAFT_CLAUDE_TIMEOUT_S={r.text('HITCRAFT_CLAUDE_TIMEOUT_S')!r} must be > 0")
    return ClaudeSettings(
        api_key=r.text("ANTHROPIC_API_KEY"),
        model=r.text("HITCRAFT_CLAUDE_MODEL", DEFAULT_CLAUDE_MODEL),
        timeout_s=timeout_s,
        max_retries=r.integer("HITCRAFT_CLAUDE_MAX_RETRIES", DEFAULT_CLAUDE_MAX_RETRIES, minimum=0),
        base_url=r.http_url("ANTHROPIC_BASE_URL"),
    )


# ---------------------------------------------------------------------------------------------- analytics app
def app_secret_key(environ: Mapping[str, str] | None = None) -> str:
    """The key that signs the analytics app's session cookies: `HITCRAFT_APP_SECRET`, else a random key made on first
    use and kept in $HITCRAFT_HOME/app_secret (readable by its owner only), so sessions survive a restart."""
    import secrets

    value = _Reader(environ).text("HITCRAFT_APP_SECRET")
    if value is not None:
        if len(value) < 32:
            raise ConfigError("HITCRAFT_APP_SECRET is shorter than 32 characters: use a long random string")
        return value
    path = hitcraft_home() / "app_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(secrets.token_urlsafe(48))
        partial.chmod(0o600)
        partial.replace(path)
    return path.read_text().strip()


def app_cookie_secure(environ: Mapping[str, str] | None = None) -> bool:
    """`HITCRAFT_APP_SECURE_COOKIE=true` marks the session cookie Secure (behind HTTPS); off for http://localhost."""
    return _Reader(environ).boolean("HITCRAFT_APP_SECURE_COOKIE", False)


# ------------------------------------------------------------------------------------------- experiments
@dataclass(frozen=True)
class ExperimentSettings:
    """The exposure event and its properties (Mixpanel's names by default; dbt reads the same variables), the
    outcome window after exposure, the readouts' false-positive rate and the SRM threshold."""

    exposure_event: str
    experiment_property: str
    variant_property: str
    window_days: int
    alpha: float
    srm_alpha: float


def experiment_settings(environ: Mapping[str, str] | None = None) -> ExperimentSettings:
    r = _Reader(environ)
    return ExperimentSettings(
        exposure_event=r.text("HITCRAFT_EXPERIMENT_EVENT", "$experiment_started"),
        experiment_property=r.text("HITCRAFT_EXPERIMENT_NAME_PROPERTY", "Experiment name"),
        variant_property=r.text("HITCRAFT_VARIANT_NAME_PROPERTY", "Variant name"),
        window_days=r.integer("HITCRAFT_EXPERIMENT_WINDOW_DAYS", 7, minimum=1),
        alpha=r.number("HITCRAFT_EXPERIMENT_ALPHA", 0.05, low=0.0001, high=0.5),
        srm_alpha=r.number("HITCRAFT_SRM_ALPHA", 0.001, low=1e-9, high=0.5),
    )
