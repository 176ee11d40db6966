"""Which anomaly flags are pending alerts, and their delivery record, on a real (embedded) PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from testkit.alerting import alert_settings, flag_row, sent_alerts, write_flags

from hitcraft_assets.reports import alerts
from hitcraft_assets.store import alert_log

DAY = date(2026, 11, 9)


def test_pending_flags_threshold_and_segment_rules(warehouse_url):
    other = DAY - timedelta(days=1)
    write_flags(warehouse_url, [
        flag_row(DAY, "dau", -6.0),  # alerted product-wide (a drop counts by its size)
        flag_row(DAY, "dau", 9.0, ("platform", "ios")),  # part of the dau alert
        flag_row(DAY, "dau", 2.0, ("platform", "web")),  # below the threshold: not listed either
        flag_row(DAY, "sessions", 3.0),  # flagged, but below the alert threshold ...
        flag_row(DAY, "sessions", 7.0, ("country", "DE")),  # ... so its segment is an alert of its own
        flag_row(DAY, "new_users", 8.0, is_anomaly=False),  # not a flag
        flag_row(other, "render_failure_rate", 5.0, ("role", "producer")),  # no product-wide flag that day
        flag_row(other, "dau", 4.0),  # exactly the threshold
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
    write_flags(warehouse_url, [flag_row(DAY, "dau", 6.0)])
    settings = alert_settings(tmp_path, smtp.port, webhook.url, max_attempts=2)
    webhook.status = 502
    first = alerts.send_pending_alerts(settings, warehouse_url, today=DAY)
    assert (len(first.failed), len(first.retry), len(smtp.messages)) == (1, 1, 1)
    second = alerts.send_pending_alerts(settings, warehouse_url, today=DAY)
    assert (len(second.failed), second.retry, len(smtp.messages)) == (1, [], 1)  # e-mail went out once
    assert alert_log.pending_flags(warehouse_url, 4.0, max_attempts=2) == []
    row = sent_alerts(warehouse_url)[("dau", "all")]
    assert (row["status"], row["channels"], row["attempts"]) == ("failed", "email", 2)
    assert "webhook: webhook at 127.0.0.1" in row["error"] and "502" in row["error"]


def test_two_concurrent_passes_send_a_flag_once(warehouse_url, tmp_path, smtp, webhook):
    write_flags(warehouse_url, [flag_row(DAY, "dau", 6.0), flag_row(DAY, "sessions", -7.0)])
    settings = alert_settings(tmp_path, smtp.port, webhook.url)
    webhook.delay_s = 0.3  # both passes read the flags as pending before either has recorded one
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: alerts.send_pending_alerts(settings, warehouse_url, today=DAY), range(2)))
    assert sorted(len(run.sent) for run in runs) in ([0, 2], [1, 1])
    assert sum(run.already_handled for run in runs) == 2
    assert len(smtp.messages) == 2 and len(webhook.posts) == 2
