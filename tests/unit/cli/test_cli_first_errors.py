"""The errors a user meets first: one line each, arguments and settings judged before the data (and before
anything heavy is imported or started), an unreachable database named without its password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
UNREACHABLE = "postgresql://analyst:s3cr3t-pw@127.0.0.1:1/warehouse"  # nothing listens on port 1

# Runs the console script's `main` in a fresh interpreter and reports, after it returns, whether dagster was
# imported on the way.
_RUN_MAIN = """
import sys
from hitcraft_assets.cli import main
sys.argv = ["hitcraft", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
print(f"dagster imported: {'dagster' in sys.modules}; exit {code}")
"""


def _hitcraft(*args: str, tmp_path: Path, **env: str) -> tuple[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HITCRAFT_", "DAGSTER_", "MIXPANEL_"))}
    base.update(HITCRAFT_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO_ROOT), **env)
    result = subprocess.run(
        [sys.executable, "-c", _RUN_MAIN, *args],
        env=base,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,  # only against a hang; this takes seconds
    )
    return result.stdout.strip(), result.stderr.strip()


def test_a_reversed_backfill_range_is_refused_in_one_line_without_importing_dagster(tmp_path):
    out, err = _hitcraft("backfill", "--start", "2026-11-10", "--end", "2026-11-01", tmp_path=tmp_path)
    assert err == "error: --start 2026-11-10 is after --end 2026-11-01"
    assert out == "dagster imported: False; exit 2"
    assert not (tmp_path / "home").exists()  # no database, no Dagster home was started or made


def test_an_unreachable_database_is_one_line_naming_the_host_and_never_the_password(tmp_path):
    out, err = _hitcraft("insights", "search", tmp_path=tmp_path, HITCRAFT_DATABASE_URL=UNREACHABLE)
    assert out.endswith("exit 1")
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: cannot connect to the warehouse at 127.0.0.1:1 (database warehouse, user analyst")
    assert "HITCRAFT_DATABASE_URL" in err and "check" in err
    assert "s3cr3t" not in err and "s3cr3t" not in out


def test_arguments_and_settings_are_judged_before_the_data(tmp_path):
    """With the database unreachable, each answer can only come from judging the input first."""
    cases = [
        (
            ("report", "daily", "--date", "2026/11/09"),
            {},
            "error: --date '2026/11/09' is not a date in YYYY-MM-DD form",
        ),
        (
            ("insights", "search", "--segment", "platform="),
            {},
            "error: --segment 'platform=' is not a segment value or type=value (e.g. ios, platform=ios)",
        ),
        (
            ("report", "daily"),
            {"HITCRAFT_REPORTING_TIMEZONE": "CEST"},
            "error: HITCRAFT_REPORTING_TIMEZONE='CEST' is not an IANA time zone (e.g. UTC, Europe/Berlin)",
        ),
    ]
    for args, env, expected in cases:
        out, err = _hitcraft(*args, tmp_path=tmp_path, HITCRAFT_DATABASE_URL=UNREACHABLE, **env)
        assert (err, out[-6:]) == (expected, "exit 2"), (args, err)
