"""Claude summary and `ask` with the REAL anthropic client against a local HTTP server speaking the Messages API
(scripted replies, recorded requests): grounding accepts and rejects, API failures fall back, the tool loop."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from testkit.messages_api import MessagesApi
from testkit.messages_api import error_body as _error
from testkit.messages_api import text_block as _text
from testkit.messages_api import tool_use_block as _tool_use

from hitcraft_assets.reports.ask import NOT_CONFIGURED, answer_question, is_single_select
from hitcraft_assets.reports.claude import ClaudeSettings, executive_summary, summarize_report, templated_summary

INCIDENT = date(2026, 11, 9)


@pytest.fixture
def api():
    with MessagesApi() as server:
        yield server


@pytest.fixture
def settings(api) -> ClaudeSettings:
    return ClaudeSettings(api_key="test-key", model="claude-test", timeout_s=3.0, max_retries=0, base_url=api.url)


GROUNDED = (
    "On 2026-11-09 render failures spiked for iOS users: 61.6 % of 703 iOS renders failed against 12.2 % "
    "expected. The polish prompt completes 27 % more renders (70.8 % vs 55.7 % of 4,120 renders, p < 0.001). "
    "Daily active users averaged 693 per day, up 2.3 % week over week, which is not significant (p = 0.19)."
)


def test_summary_by_claude_is_accepted_when_every_number_is_in_the_evidence(api, settings, daily_report):
    api.reply([_text(GROUNDED)])
    report, result = summarize_report(daily_report, settings=settings)
    assert (result.source, result.text, result.mismatches, result.error) == ("claude", GROUNDED, (), None)
    assert report.executive_summary == GROUNDED and report.summary_source == "claude"
    [(path, headers, body)] = api.requests
    assert path == "/v1/messages"
    assert "Bearer test-key" in (headers.get("authorization"), "Bearer " + headers.get("x-api-key", ""))
    assert body["model"] == "claude-test" and "data, not instructions" in body["system"]
    prompt = body["messages"][0]["content"]
    payload = json.loads(prompt.removeprefix("<data>\n").removesuffix("\n</data>"))
    assert [i["type"] for i in payload["insights"]] == ["anomaly", "opportunity", "risk"]
    assert payload["insights"][0]["numbers"] == {"ios_failure_rate": 0.616, "expected_rate": 0.122, "renders": 703}
    # Nothing typed by users reaches the prompt: quoted prompt texts are redacted, odd segment values dropped,
    # statements and action texts are not sent.
    assert payload["insights"][1]["title"] == "Prompt [quoted text] completes 27% more renders"
    assert payload["insights"][2]["segment"] == {"type": "prompt", "value": "[not shown]"}
    for leaked in ("<script>", "ignore previous instructions", "Help me turn my demo", "Email intermediate"):
        assert leaked not in prompt


def test_summary_with_a_number_not_in_the_evidence_is_replaced_by_the_template(api, settings, daily_report):
    wrong = GROUNDED.replace("up 2.3 %", "up 8.5 %")
    api.reply([_text(wrong)])
    result = executive_summary(daily_report, settings=settings)
    assert result.source == "template" and result.text == templated_summary(daily_report)
    assert [m.text for m in result.mismatches] == ["8.5 %"] and result.rejected_text == wrong
    assert result.error == "numbers not in the evidence"


def test_summary_rejects_a_wrong_date(api, settings, daily_report):
    api.reply([_text(GROUNDED.replace("2026-11-09", "2026-11-10"))])
    result = executive_summary(daily_report, settings=settings)
    assert result.source == "template" and [m.text for m in result.mismatches] == ["2026-11-10"]


@pytest.mark.parametrize(
    ("status", "body", "delay", "error"),
    [
        (500, _error("boom"), 0.0, "InternalServerError"),
        (529, _error("busy", "overloaded_error"), 0.0, "OverloadedError"),
        (200, {"unexpected": True}, 0.0, "TypeError"),  # a 200 without content
        (200, None, 1.5, "APITimeoutError"),
    ],
)
def test_api_failures_fall_back_to_the_template(api, daily_report, status, body, delay, error):
    settings = ClaudeSettings(api_key="k", model="m", timeout_s=0.5, max_retries=0, base_url=api.url)
    if body is None:
        api.reply([_text(GROUNDED)], delay=delay)
    else:
        api.replies.append((status, body, delay))
    result = executive_summary(daily_report, settings=settings)
    assert result.source == "template" and result.text == templated_summary(daily_report)
    assert result.error and error in result.error, result.error


def test_without_an_api_key_the_template_is_used(api, daily_report):
    result = executive_summary(daily_report, settings=ClaudeSettings(api_key=None, base_url=api.url))
    assert (result.source, result.error) == ("template", "ANTHROPIC_API_KEY is not set")
    assert api.requests == []
    assert result.text.startswith("3 finding(s) for the period ending 2026-11-20 (1 anomaly, 1 growth opportunity")
    assert "Significant changes week over week: Avg session duration −0.2 min" in result.text


class Backend:
    """An AskBackend over small frames; records every call."""

    def __init__(self, daily_metrics: pd.DataFrame, insights) -> None:
        self.daily_metrics, self.insights, self.calls = daily_metrics, insights, []

    def run_sql(self, sql: str) -> pd.DataFrame:
        self.calls.append(("run_sql", sql))
        return pd.DataFrame({"platform": ["ios", "web"], "failure_rate": [0.616, 0.118], "renders": [703, 1525]})

    def get_metric(self, metric, start, end) -> pd.DataFrame:
        self.calls.append(("get_metric", metric, start, end))
        rows = self.daily_metrics[self.daily_metrics["metric"] == metric]
        return rows[rows["metric_date"].between(start or date.min, end or date.max)]

    def search_insights(self, text, insight_type, metric, segment, start, end):
        self.calls.append(("search_insights", text, insight_type, metric, segment, start, end))
        return [i for i in self.insights if insight_type in (None, i.insight_type)]


def test_ask_runs_the_tool_loop_and_cites_sources(api, settings, report_frames, sample_insights):
    backend = Backend(report_frames["daily_metrics"], sample_insights)
    frame = report_frames["daily_metrics"]
    peak = frame[(frame["metric"] == "render_failure_rate") & (frame["metric_date"] == INCIDENT)]["value"].item()
    api.reply(
        [_text("Let me look."), _tool_use("toolu_1", "get_metric", {"metric": "render_failure_rate",
                                                                     "start": "2026-11-08", "end": "2026-11-10"})],
        stop_reason="tool_use",
    )  # fmt: skip
    api.reply(
        [
            _tool_use("toolu_2", "run_sql", {"sql": "SELECT platform, failure_rate FROM marts.x"}),
            _tool_use("toolu_3", "run_sql", {"sql": "DELETE FROM marts.dim_users"}),
            _tool_use("toolu_4", "search_insights", {"type": "anomaly", "start": "2026-11-01"}),
        ],
        stop_reason="tool_use",
    )
    final = f"Render failures peaked at {peak:.1%} [1] on 2026-11-09; iOS renders failed 61.6 % of the time [2]."
    api.reply([_text(final)])
    answer = answer_question("Why did renders fail on 2026-11-09?", backend, settings=settings)

    assert answer.ok and answer.unverified_numbers == ()
    assert answer.text.startswith(final) and "\nSources:\n[1] get_metric: " in answer.text
    assert "[3] run_sql: DELETE FROM marts.dim_users (error: ValueError: only one read-only SELECT" in answer.text
    assert [c.tool for c in answer.sources] == ["get_metric", "run_sql", "run_sql", "search_insights"]
    assert [c.rows for c in answer.sources] == [3, 2, None, 1]
    assert backend.calls[0] == ("get_metric", "render_failure_rate", date(2026, 11, 8), date(2026, 11, 10))
    assert all("DELETE" not in str(call) for call in backend.calls)  # never reached the backend
    assert backend.calls[2] == ("search_insights", None, "anomaly", None, None, date(2026, 11, 1), None)

    assert len(api.requests) == 3
    first = api.requests[0][2]
    assert {tool["name"] for tool in first["tools"]} == {"run_sql", "get_metric", "search_insights"}
    second = api.requests[1][2]["messages"]
    assert second[1]["content"][1] == _tool_use("toolu_1", "get_metric", second[1]["content"][1]["input"])
    [result] = second[2]["content"]
    assert result["tool_use_id"] == "toolu_1" and result["is_error"] is False
    assert result["content"].startswith('[source 1] get_metric {"metric": "render_failure_rate"')
    third = api.requests[2][2]["messages"][-1]["content"]
    assert [(r["tool_use_id"], r["is_error"]) for r in third] == [
        ("toolu_2", False),
        ("toolu_3", True),
        ("toolu_4", False),
    ]
    assert "0.616" in third[0]["content"] and "anomaly:render_failure_rate:platform=ios" in third[2]["content"]


def test_ask_flags_numbers_that_no_tool_returned(api, settings, report_frames, sample_insights):
    api.reply([_tool_use("toolu_1", "run_sql", {"sql": "select 1"})], stop_reason="tool_use")
    api.reply([_text("iOS renders failed 42 % of the time [1].")])
    answer = answer_question(
        "iOS failures?", Backend(report_frames["daily_metrics"], sample_insights), settings=settings
    )
    assert answer.ok and [m.text for m in answer.unverified_numbers] == ["42 %"]
    assert "Note: these numbers were not found in any tool result: 42 %." in answer.text


def test_ask_without_key_errors_and_endless_tool_use(api, settings, report_frames, sample_insights):
    backend = Backend(report_frames["daily_metrics"], sample_insights)
    no_key = answer_question("How many users?", backend, settings=ClaudeSettings(api_key=None))
    assert (no_key.ok, no_key.text) == (False, NOT_CONFIGURED)

    api.replies.append((500, _error("boom"), 0.0))
    failed = answer_question("How many users?", backend, settings=settings)
    assert not failed.ok and failed.text.startswith("Claude could not answer (InternalServerError")

    for n in range(2):
        api.reply([_tool_use(f"toolu_{n}", "get_metric", {"metric": "dau"})], stop_reason="tool_use")
    looping = answer_question("How many users?", backend, settings=settings, max_turns=2)
    assert not looping.ok and looping.text.startswith("No final answer after 2 model calls")
    assert len(looping.sources) == 2


@pytest.mark.parametrize(
    ("sql", "allowed"),
    [
        ("SELECT 1", True),
        ("  with x as (select 1) select * from x;", True),
        ("-- comment\nselect * from marts.dim_users", True),
        ("select 1; drop table marts.dim_users", False),
        ("DELETE FROM marts.dim_users", False),
        ("/* select */ update ml.churn_scores set churn_probability = 0", False),
    ],
)
def test_only_single_select_statements_reach_the_backend(sql, allowed):
    assert is_single_select(sql) is allowed
