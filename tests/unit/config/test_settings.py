"""settings.py is the only reader of the environment; every variable is declared once, documented in the README's
Configuration table and listed in `.env.example`; malformed values stop with the variable and the value."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from hitcraft_assets import settings

REPO = Path(settings.__file__).resolve().parents[1]
NAME = re.compile(r"\b(?:HITCRAFT|MIXPANEL|SMTP|ANTHROPIC|DAGSTER)_[A-Z0-9_]+\b")


def _readme_table() -> set[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in NAME.findall(row.split(" | ")[0])}


def _env_example() -> dict[str, str]:
    entries = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"# ([A-Z][A-Z0-9_]+)=(.*)", line)
        if match:
            entries[match[1]] = match[2].strip('"')
    return entries


def test_env_example_readme_and_settings_list_the_same_variables():
    declared = {v.name for v in settings.VARIABLES}
    assert len(declared) == len(settings.VARIABLES), "a variable is declared twice"
    assert _readme_table() == declared
    example = _env_example()
    assert set(example) == declared
    assert example == {v.name: v.default for v in settings.VARIABLES}  # same defaults
    # every variable name settings.py spells out is declared (reads of undeclared names raise KeyError besides)
    quoted = re.findall(r"[\"']((?:HITCRAFT|MIXPANEL|SMTP|ANTHROPIC|DAGSTER)_[A-Z0-9_]+)[\"']", _source("settings.py"))
    assert set(quoted) <= declared


def _source(name: str) -> str:
    return (REPO / "hitcraft_assets" / name).read_text()


def _environment_reads(root: Path) -> list[str]:
    """Lines outside settings.py that touch os.environ / os.getenv other than to write it (for subprocesses)."""
    touch = re.compile(r"\bos\.(?:environ|getenv)\b|\bgetenv\(|from os import (?:environ|getenv)")
    write = re.compile(r"os\.environ(?:\.update\(|\.setdefault\(|\.pop\(|\[[^]]+\]\s*=[^=])")
    return [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted((root / "hitcraft_assets").rglob("*.py"))
        if path != root / "hitcraft_assets" / "settings.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if touch.search(write.sub("", line))
    ]


def test_settings_is_the_only_reader_of_the_environment():
    assert _environment_reads(REPO) == []


def test_undeclared_variables_cannot_be_read():
    with pytest.raises(KeyError, match="HITCRAFT_NOT_A_SETTING"):
        settings._Reader({}).text("HITCRAFT_NOT_A_SETTING")


def test_defaults():
    assert settings.schedule_settings({}) == settings.ScheduleSettings("UTC", date(2025, 1, 1), 5, "0 4 * * *")
    assert settings.check_settings({}) == settings.CheckSettings(0.01, 2.0, 0.99)
    assert settings.sample_settings({}) == settings.SampleSettings(None, None)
    assert settings.database_settings({}) == settings.DatabaseSettings(None, None)
    assert settings.home_settings({}).home == REPO / ".hitcraft"
    mixpanel = settings.mixpanel_settings({})
    assert mixpanel.is_sample and (mixpanel.region, mixpanel.project_timezone) == ("us", "UTC")
    claude = settings.claude_settings({})
    assert (claude.enabled, claude.model, claude.timeout_s, claude.max_retries) == (False, "claude-sonnet-4-5", 60, 2)


def test_settings_are_read_when_used_not_at_import(monkeypatch):
    monkeypatch.setenv("HITCRAFT_MAX_QUARANTINE_SHARE", "0.05")
    monkeypatch.setenv("HITCRAFT_PARTITIONS_START", "2024-06-01")
    assert settings.check_settings().max_quarantine_share == 0.05
    assert settings.partitions_start() == date(2024, 6, 1)


@pytest.mark.parametrize(
    ("build", "name", "value"),
    [
        (settings.home_settings, None, None),
        (settings.schedule_settings, "HITCRAFT_REPORTING_TIMEZONE", "Mars/Olympus"),
        (settings.schedule_settings, "HITCRAFT_PARTITIONS_START", "01.01.2025"),
        (settings.schedule_settings, "HITCRAFT_LOOKBACK_DAYS", "-1"),
        (settings.schedule_settings, "HITCRAFT_LOOKBACK_DAYS", "five"),
        (settings.schedule_settings, "HITCRAFT_INGEST_CRON", "daily"),
        (settings.database_settings, "HITCRAFT_DATABASE_URL", "mysql://x@y/z"),
        (settings.mixpanel_settings, "MIXPANEL_REGION", "mars"),
        (settings.mixpanel_settings, "MIXPANEL_LEGACY_LOCAL_TIME", "maybe"),
        (settings.mixpanel_settings, "MIXPANEL_PROJECT_TIMEZONE", "Nowhere/Town"),
        (settings.sample_settings, "HITCRAFT_SAMPLE_ANCHOR", "tomorrow"),
        (settings.check_settings, "HITCRAFT_MAX_QUARANTINE_SHARE", "1.5"),
        (settings.check_settings, "HITCRAFT_VOLUME_DEVIATION_FACTOR", "0.5"),
        (settings.check_settings, "HITCRAFT_MIN_INSERT_ID_SHARE", "most"),
        (settings.smtp_settings, "SMTP_PORT", "smtp"),
        (settings.alert_settings, "HITCRAFT_ALERT_MIN_SEVERITY", "nan"),
        (settings.claude_settings, "HITCRAFT_CLAUDE_TIMEOUT_S", "0"),
        (settings.claude_settings, "HITCRAFT_CLAUDE_MAX_RETRIES", "-2"),
        (settings.claude_settings, "ANTHROPIC_BASE_URL", "api.anthropic.com"),
    ],
)
def test_a_malformed_value_names_the_variable_and_the_value(build, name, value):
    if name is None:  # nothing to get wrong
        assert build({"HITCRAFT_HOME": "/tmp/x"}).home == Path("/tmp/x")
        return
    with pytest.raises(settings.ConfigError) as error:
        build({name: value})
    message = str(error.value)
    assert name in message
    if name == "HITCRAFT_DATABASE_URL":  # may hold a password: only its scheme is shown
        assert "'mysql'" in message
    else:
        assert repr(value) in message or repr(value.lower()) in message


def test_incomplete_mixpanel_credentials_name_the_missing_ones():
    with pytest.raises(
        settings.ConfigError, match="set MIXPANEL_SERVICE_ACCOUNT_USERNAME, MIXPANEL_SERVICE_ACCOUNT_SECRET"
    ):
        settings.mixpanel_settings({"MIXPANEL_PROJECT_ID": "12345"})


def test_secrets_stay_out_of_reprs():
    secret = "s3cr3t-value"
    environ = {
        "HITCRAFT_DATABASE_URL": f"postgresql://u:{secret}@db/x",
        "DAGSTER_PG_URL": f"postgresql+psycopg2://u:{secret}@db/dagster",
        "MIXPANEL_PROJECT_ID": "1",
        "MIXPANEL_SERVICE_ACCOUNT_USERNAME": "sa",
        "MIXPANEL_SERVICE_ACCOUNT_SECRET": secret,
        "SMTP_USERNAME": "bot",
        "SMTP_PASSWORD": secret,
        "HITCRAFT_ALERT_WEBHOOK_URL": f"https://hooks.example.com/{secret}",
        "ANTHROPIC_API_KEY": secret,
    }
    for build in (
        settings.database_settings,
        settings.mixpanel_settings,
        settings.smtp_settings,
        settings.alert_settings,
        settings.claude_settings,
    ):
        assert secret not in repr(build(environ))


def test_blank_values_are_unset():
    assert settings.schedule_settings({"HITCRAFT_LOOKBACK_DAYS": " ", "HITCRAFT_INGEST_CRON": ""}).lookback_days == 5
