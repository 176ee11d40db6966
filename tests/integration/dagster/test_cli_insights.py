"""`hitcraft insights search` and `hitcraft ask` through the typer app, on a real PostgreSQL database (chosen with
HITCRAFT_DATABASE_URL, as a user would) and, for `ask`, the real anthropic client against a local HTTP server
speaking the Messages API with tool use."""

from __future__ import annotations

import pytest
from testkit.ask_warehouse import ask_database
from testkit.messages_api import MessagesApi, error_body, text_block, tool_use_block
from typer.testing import CliRunner

from hitcraft_assets.cli import app
from hitcraft_assets.cli.common import UserError


@pytest.fixture(scope="module")
def library_url(warehouse_url):
    with ask_database(warehouse_url, "hitcraft_cli_insights") as url:
        yield url


@pytest.fixture
def hitcraft(library_url, monkeypatch):
    """Run `hitcraft ARGS…` in-process on the seeded database; returns the click Result."""
    monkeypatch.setenv("HITCRAFT_DATABASE_URL", library_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_search_lists_the_selected_insights_newest_day_first(hitcraft):
    result = hitcraft("insights", "search")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "day         rank  type         p          q          title",
        "2026-11-10     1  trend        p = 0.001  q = 0.003  Daily active users are rising",
        "2026-11-09     1  anomaly      -          -          Render failures spiked for iOS users",
        '2026-11-09     2  opportunity  p < 0.001  q < 0.001  Prompt "Help me turn my demo into a polished hit" '
        "completes 27% more renders",
    ]


def test_search_filters_and_full_details(hitcraft):
    anomaly = hitcraft("insights", "search", "--segment", "platform=ios", "--since", "2026-11-09", "--full")
    assert anomaly.exit_code == 0, anomaly.output
    assert anomaly.stdout.splitlines()[1:] == [
        "2026-11-09     1  anomaly      -          -          Render failures spiked for iOS users",
        "    On 2026-11-09 61.6% of 703 iOS renders failed against 12.2% expected.",
        "    → investigate: Check the iOS render service logs for 2026-11-09.",
        "",
    ]
    prompt = hitcraft("insights", "search", "polished", "--type", "opportunity", "--until", "2026-11-09", "--full")
    assert "    → campaign: Email intermediate users who have not tried the polish prompt." in prompt.stdout
    assert (
        "→ ab_test: Feature the polish prompt first in the prompt list. (hypothesis: Featuring the prompt raises"
        " completion; metric production_completion_rate; detectable effect 0.02; 3,900 users per arm)"
    ) in " ".join(prompt.stdout.split())  # wrapped at 110 characters
    assert len(hitcraft("insights", "search", "--metric", "dau", "--limit", "1").stdout.splitlines()) == 2

    rejected = hitcraft("insights", "search", "--rejected")
    assert rejected.stdout.splitlines()[1] == (
        "2026-11-10     -  risk         p = 0.20   q = 0.31   Beginners churn more  [rejected: q = 0.31 above 0.10]"
    )
    assert len(hitcraft("insights", "search", "--all").stdout.splitlines()) == 5
    nothing = hitcraft("insights", "search", "--type", "success")
    assert (nothing.exit_code, nothing.stdout) == (0, "(no insight matches)\n")


def test_search_mistakes_and_an_empty_library_are_one_line_errors(hitcraft, warehouse_url, monkeypatch):
    for args, message in [
        (["--type", "win"], "--type 'win' is not one of opportunity, risk, success, anomaly, trend"),
        (["--since", "2026-11-10", "--until", "2026-11-01"], "--since 2026-11-10 is after --until 2026-11-01"),
        (["--since", "yesterday"], "--since 'yesterday' is not a date"),
        (["--rejected", "--all"], "--rejected and --all exclude each other"),
    ]:
        result = hitcraft("insights", "search", *args)
        assert isinstance(result.exception, UserError) and message in str(result.exception), result.output
    with ask_database(warehouse_url, "hitcraft_cli_no_insights", seeded=False) as empty_url:
        monkeypatch.setenv("HITCRAFT_DATABASE_URL", empty_url)
        result = CliRunner().invoke(app, ["insights", "search"])
    assert isinstance(result.exception, UserError)
    assert str(result.exception) == "no insights yet: materialize insights/insights (`hitcraft demo` or a backfill)"


@pytest.fixture
def claude(monkeypatch):
    with MessagesApi() as api:
        for name, value in {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": api.url,
                            "HITCRAFT_CLAUDE_MODEL": "claude-test", "HITCRAFT_CLAUDE_MAX_RETRIES": "0",
                            "HITCRAFT_CLAUDE_TIMEOUT_S": "10"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        yield api


def test_ask_answers_with_tool_results_and_sources(hitcraft, claude):
    peak_sql = (
        "select metric_date, value from daily_metrics where metric = 'render_failure_rate' order by value desc limit 1"
    )
    claude.reply(
        [
            text_block("Let me look that up."),
            tool_use_block("toolu_1", "run_sql", {"sql": peak_sql}),
            tool_use_block("toolu_2", "search_insights", {"segment": "platform=ios"}),
            tool_use_block("toolu_3", "run_sql", {"sql": "select payload from raw.events"}),
        ],
        stop_reason="tool_use",
    )
    answer = "Render failures peaked at 61.6 % [1] on 2026-11-09: iOS renders failed against 12.2 % expected [2]."
    claude.reply([text_block(answer)])

    result = hitcraft("ask", "When did render failures peak, and why?")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        answer,
        "",
        "Sources:",
        f"[1] run_sql: {peak_sql} (1 row(s))",
        '[2] search_insights: {"segment": "platform=ios"} (1 row(s))',
        "[3] run_sql: select payload from raw.events (error: QueryError: permission denied for schema raw)",
    ]
    [first, second] = [body for _, _, body in claude.requests]
    assert first["messages"][0]["content"] == "When did render failures peak, and why?"
    results = {r["tool_use_id"]: r for r in second["messages"][-1]["content"]}
    assert "2026-11-09,0.616" in results["toolu_1"]["content"]
    assert "anomaly:render_failure_rate:platform=ios" in results["toolu_2"]["content"]
    assert results["toolu_3"]["is_error"] is True and "secret" not in results["toolu_3"]["content"]


def test_ask_without_a_key_or_when_claude_fails_exits_1(hitcraft, claude, monkeypatch):
    claude.replies.append((529, error_body("overloaded", "overloaded_error"), 0.0))
    failed = hitcraft("ask", "How many users?")
    assert failed.exit_code == 1 and failed.stderr.startswith("error: Claude could not answer (")

    monkeypatch.setenv("ANTHROPIC_API_KEY", "")  # set, not removed: a .env file must not fill it in
    no_key = hitcraft("ask", "How many users?")
    assert no_key.exit_code == 1 and no_key.stdout == ""
    assert no_key.stderr.startswith("error: Claude is not configured") and "ANTHROPIC_API_KEY" in no_key.stderr
    assert len(claude.requests) == 1
