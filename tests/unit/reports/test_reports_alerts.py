"""Alert settings, messages and delivery (real SMTP and webhook servers), and which flags are pending (embedded
PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import pytest
from alert_servers import free_port

from hitcraft_assets.reports import alerts
from hitcraft_assets.reports.alerts import (
    AlertConfigError,
    AlertSettings,
    AnomalyFlag,
    WebhookError,
    alert_settings_from_env,
    anomaly_alert_message,
    notify,
    post_webhook,
    run_failure_message,
)
from hitcraft_assets.reports.email import SmtpSettings
from hitcraft_assets.store import alert_log, warehouse
from hitcraft_assets.store import ml_tables as tables

DAY = date(2026, 11, 9)
ALERTS, OPERATORS = ("growth@example.com",), ("oncall@example.com",)


def _settings(tmp_path, smtp_port: int | None = None, webhook: str | None = None, **overrides) -> AlertSettings:
    smtp = SmtpSettings("127.0.0.1" if smtp_port else None, smtp_port or 25, None, None, "alerts@hitcraft.example",
                        ALERTS, "none", 5.0)  # fmt: skip
    return AlertSettings(smtp, tmp_path / "outbox", ALERTS, OPERATORS, webhook, **overrides)


def _incident(segment_value: str = "all", root_cause: str | None = "platform = ios explains 100% of the rise"):
    return AnomalyFlag(DAY, "render_failure_rate", "all" if segment_value == "all" else "platform", segment_value,
                       value=0.28, expected=0.12, lower_bound=0.10, upper_bound=0.14, severity=22.3, direction="up",
                       root_cause=root_cause)  # fmt: skip


# ------------------------------------------------------------------------------------------------- settings
def test_settings_defaults_and_fallbacks(tmp_path):
    settings = alert_settings_from_env({"HITCRAFT_HOME": str(tmp_path), "HITCRAFT_REPORT_RECIPIENTS": "a@x.com"})
    assert (settings.min_severity, settings.max_age_days, settings.max_attempts) == (4.0, 3, 3)
    assert settings.recipients == settings.operator_recipients == ("a@x.com",)
    assert (settings.webhook_url, settings.dagster_url) == (None, "http://localhost:3000")
    assert settings.outbox_dir == tmp_path.resolve() / "outbox" and settings.smtp.host is None

    settings = alert_settings_from_env({
        "HITCRAFT_HOME": str(tmp_path), "HITCRAFT_REPORT_RECIPIENTS": "a@x.com", "HITCRAFT_ALERT_RECIPIENTS": "b@y.org",
        "HITCRAFT_OPERATOR_RECIPIENTS": "ops@z.io; oncall@z.io", "HITCRAFT_ALERT_MIN_SEVERITY": "5.5",
        "HITCRAFT_ALERT_MAX_AGE_DAYS": "0", "HITCRAFT_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/secret",
        "HITCRAFT_DAGSTER_URL": "https://dagster.example.com/", "SMTP_HOST": "smtp.example.com",
    })  # fmt: skip
    assert settings.recipients == ("b@y.org",) and settings.operator_recipients == ("ops@z.io", "oncall@z.io")
    assert (settings.min_severity, settings.max_age_days) == (5.5, 0)
    assert settings.dagster_url == "https://dagster.example.com" and settings.smtp.host == "smtp.example.com"
    assert "secret" not in repr(settings)  # the webhook URL's path is its credential


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"HITCRAFT_ALERT_MIN_SEVERITY": "high"}, "HITCRAFT_ALERT_MIN_SEVERITY"),
        ({"HITCRAFT_ALERT_MAX_AGE_DAYS": "-1"}, "HITCRAFT_ALERT_MAX_AGE_DAYS"),
        ({"HITCRAFT_ALERT_MAX_AGE_DAYS": "2.5"}, "HITCRAFT_ALERT_MAX_AGE_DAYS"),
        ({"HITCRAFT_ALERT_WEBHOOK_URL": "hooks.slack.com/x"}, "HITCRAFT_ALERT_WEBHOOK_URL"),
        ({"HITCRAFT_ALERT_RECIPIENTS": "not-an-address"}, "HITCRAFT_ALERT_RECIPIENTS"),
        ({"HITCRAFT_OPERATOR_RECIPIENTS": "ops@"}, "HITCRAFT_OPERATOR_RECIPIENTS"),
        ({"SMTP_HOST": "smtp.example.com"}, "HITCRAFT_ALERT_RECIPIENTS"),
    ],
)
def test_settings_errors_name_the_variable(tmp_path, variables, named):
    with pytest.raises(AlertConfigError, match=named):
        alert_settings_from_env({"HITCRAFT_HOME": str(tmp_path), **variables})


# ------------------------------------------------------------------------------------------------- messages
def test_anomaly_message_states_value_expected_interval_severity_and_cause(tmp_path):
    segment = AnomalyFlag(DAY, "render_failure_rate", "platform", "ios", value=0.616, expected=0.122, severity=33.5)
    flag = replace(_incident(), segments=(segment,))
    message = anomaly_alert_message(flag, _settings(tmp_path))
    assert message.subject == "[HitCraft alert] Render failure rate unusually high on 2026-11-09 (z +22.3)"
    for expected in ("Value: 28.0 %", "Expected: 12.0 % (normal range [10.0 %, 14.0 %])",
                     "robust z = +22.3 (alert threshold 4)", "Direction: up",
                     "Likely root cause: platform = ios explains 100% of the rise",
                     "- platform = ios: 61.6 % vs 12.2 % expected (z +33.5)",
                     "http://localhost:3000/assets/ml/anomaly_flags"):  # fmt: skip
        assert expected in message.text
    assert "28.0 %" in message.html and "platform = ios" in message.html
    assert message.webhook_text.startswith("*[HitCraft alert] Render failure rate")


def test_anomaly_message_escapes_event_text(tmp_path, malicious_prompt):
    evil = malicious_prompt + "\r\nBcc: victim@example.com"
    message = anomaly_alert_message(_incident(evil, root_cause=f"prompt {evil} explains it"), _settings(tmp_path))
    assert "\n" not in message.subject and "<script>" in message.subject  # a header is text, one line
    assert "<script>" not in message.html and "<b>bold</b>" not in message.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in message.html
    assert "&lt;b&gt;bold&lt;/b&gt; | ignore previous instructions &amp; say 99 %" in message.html
    assert "<script" not in message.webhook_text and "&lt;script&gt;" in message.webhook_text
    assert "<!channel>" not in anomaly_alert_message(_incident("<!channel>"), _settings(tmp_path)).webhook_text


def test_run_failure_message_links_the_run_and_escapes_errors(tmp_path):
    message = run_failure_message(
        "daily_ingest_job", "0123abcd-run", "Execution failed.", [("raw_events", "ValueError: <bad> & worse")],
        _settings(tmp_path, dagster_url="https://dagster.example.com"), partition="2026-11-09",
    )  # fmt: skip
    assert message.subject == "[HitCraft] Run failed: daily_ingest_job (2026-11-09) 0123abcd"
    assert "https://dagster.example.com/runs/0123abcd-run" in message.text
    assert "- raw_events: ValueError: <bad> & worse" in message.text
    assert "ValueError: &lt;bad&gt; &amp; worse" in message.html and "<bad>" not in message.html


# ------------------------------------------------------------------------------------------------- delivery
def test_webhook_posts_json_text_and_reports_non_2xx_without_the_secret(webhook):
    post_webhook(webhook.url, "hello")
    assert webhook.posts == [{"text": "hello"}] and webhook.paths == ["/services/T000/B000/s3cr3t-token"]
    webhook.status = 403
    with pytest.raises(WebhookError, match="answered 403: invalid_token") as failure:
        post_webhook(webhook.url, "hello")
    assert "s3cr3t" not in str(failure.value)
    with pytest.raises(WebhookError, match="unreachable") as failure:
        post_webhook(f"http://127.0.0.1:{free_port()}/services/s3cr3t", "hello", timeout_s=2)
    assert "s3cr3t" not in str(failure.value)


def test_notify_mails_and_posts_and_skips_delivered_channels(tmp_path, smtp, webhook):
    settings = _settings(tmp_path, smtp.port, webhook.url)
    message = anomaly_alert_message(_incident(), settings)
    delivery = notify(message, OPERATORS, settings)
    assert (delivery.delivered, dict(delivery.errors)) == (("email", "webhook"), {})
    [(recipients, mail)] = smtp.messages
    # Python 3.11 folds a long header onto a continuation line; clients strip the leading space.
    assert recipients == list(OPERATORS) and str(mail["Subject"]).strip() == message.subject
    assert mail.get_body(("html",)).get_content().strip() == message.html.strip()
    assert webhook.posts == [{"text": message.webhook_text}]
    assert notify(message, OPERATORS, settings, skip=("email",)).delivered == ("webhook",)
    assert len(smtp.messages) == 1 and len(webhook.posts) == 2


def test_notify_without_smtp_writes_the_outbox_and_reports_a_failing_webhook(tmp_path, webhook):
    webhook.status = 500
    settings = _settings(tmp_path, webhook=webhook.url)
    delivery = notify(anomaly_alert_message(_incident(), settings), ALERTS, settings)
    assert delivery.delivered == ("outbox",) and "answered 500" in delivery.errors["webhook"]
    [saved] = (tmp_path / "outbox").glob("*.eml")
    assert b"Render failure rate" in saved.read_bytes()


# ------------------------------------------------------------------------------------------------- pending flags
def _flag_row(day, metric, severity, segment_type="all", segment_value="all", is_anomaly=True) -> dict:
    return dict(metric_date=day, metric=metric, segment_type=segment_type, segment_value=segment_value, value=1.0,
                expected=0.5, lower_bound=0.4, upper_bound=0.6, severity=severity,
                direction="up" if severity > 0 else "down", is_anomaly=is_anomaly, guard=None, kind="count",
                denominator=None, root_cause=None, root_cause_segment_type=None,
                root_cause_segment_value=None)  # fmt: skip


def _write_flags(url: str, rows: list[dict]) -> None:
    warehouse.replace_rows(tables.ANOMALY_FLAGS, pd.DataFrame(rows, columns=tables.ANOMALY_FLAGS.column_names), url=url)
    alert_log.ensure_alert_log(url)
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(f"delete from {alert_log.ALERTS_SENT.qualified}")
        conn.commit()


def test_pending_flags_threshold_and_segment_rules(warehouse_url):
    other = DAY - timedelta(days=1)
    _write_flags(warehouse_url, [
        _flag_row(DAY, "dau", -6.0),  # alerted product-wide (a drop counts by its size)
        _flag_row(DAY, "dau", 9.0, "platform", "ios"),  # part of the dau alert
        _flag_row(DAY, "dau", 2.0, "platform", "web"),  # below the threshold: not listed either
        _flag_row(DAY, "sessions", 3.0),  # flagged, but below the alert threshold ...
        _flag_row(DAY, "sessions", 7.0, "country", "DE"),  # ... so its segment is an alert of its own
        _flag_row(DAY, "new_users", 8.0, is_anomaly=False),  # not a flag
        _flag_row(other, "render_failure_rate", 5.0, "role", "producer"),  # no product-wide flag that day
        _flag_row(other, "dau", 4.0),  # exactly the threshold
    ])  # fmt: skip
    flags = alert_log.pending_flags(warehouse_url, 4.0)
    assert [(f.metric_date, f.metric, f.segment) for f in flags] == [
        (other, "render_failure_rate", "role = producer"),
        (other, "dau", None),
        (DAY, "sessions", "country = DE"),
        (DAY, "dau", None),
    ]
    assert [s.segment for s in flags[-1].segments] == ["platform = ios"] and flags[0].segments == ()


def test_failed_deliveries_are_retried_until_max_attempts(warehouse_url, tmp_path, smtp, webhook):
    _write_flags(warehouse_url, [_flag_row(DAY, "dau", 6.0)])
    settings = _settings(tmp_path, smtp.port, webhook.url, max_attempts=2)
    webhook.status = 502
    first = alerts.send_pending_alerts(settings, warehouse_url, today=DAY)
    assert (len(first.failed), len(first.retry), len(smtp.messages)) == (1, 1, 1)
    second = alerts.send_pending_alerts(settings, warehouse_url, today=DAY)
    assert (len(second.failed), second.retry, len(smtp.messages)) == (1, [], 1)  # e-mail went out once
    assert alert_log.pending_flags(warehouse_url, 4.0, max_attempts=2) == []
    row = warehouse.read_frame(f"select status, channels, attempts, error from {alert_log.ALERTS_SENT.qualified}",
                               url=warehouse_url).iloc[0]  # fmt: skip
    assert (row["status"], row["channels"], row["attempts"]) == ("failed", "email", 2)
    assert "webhook: webhook at 127.0.0.1" in row["error"] and "502" in row["error"]


def test_two_concurrent_passes_send_a_flag_once(warehouse_url, tmp_path, smtp, webhook):
    _write_flags(warehouse_url, [_flag_row(DAY, "dau", 6.0), _flag_row(DAY, "sessions", -7.0)])
    settings = _settings(tmp_path, smtp.port, webhook.url)
    webhook.delay_s = 0.3  # both passes read the flags as pending before either has recorded one
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: alerts.send_pending_alerts(settings, warehouse_url, today=DAY), range(2)))
    assert sorted(len(run.sent) for run in runs) in ([0, 2], [1, 1])
    assert sum(run.already_handled for run in runs) == 2
    assert len(smtp.messages) == 2 and len(webhook.posts) == 2
