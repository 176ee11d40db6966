"""The anomaly alert sensor and the run-failure sensor on an ephemeral Dagster instance, with a real SMTP server, a
real webhook and the embedded PostgreSQL."""

from datetime import timedelta

import dagster as dg
import pytest
from testkit.alerting import flag_row, sent_alerts, write_flags

from hitcraft_assets.defs.alerts.sensors import ANOMALY_FLAGS, anomaly_alert_sensor, run_failure_notice_sensor
from hitcraft_assets.defs.resources import WarehouseResource
from hitcraft_assets.reports.alerts import reporting_today

EVIL = '<script>alert("x")</script> <img src=x onerror=steal()> & co'


@pytest.fixture
def alert_env(monkeypatch, hitcraft_home, smtp, webhook):
    """Alerts by SMTP (plain, local) to the growth team, failures to the operator, and the webhook."""
    for name, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "alerts@hitcraft.example",
        "HITCRAFT_REPORT_RECIPIENTS": "reports@example.com",
        "HITCRAFT_ALERT_RECIPIENTS": "growth@example.com",
        "HITCRAFT_OPERATOR_RECIPIENTS": "oncall@example.com",
        "HITCRAFT_ALERT_WEBHOOK_URL": webhook.url,
        "HITCRAFT_DAGSTER_URL": "http://dagster.test:3000",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("SMTP_USERNAME", "SMTP_PASSWORD", "HITCRAFT_ALERT_MIN_SEVERITY", "HITCRAFT_ALERT_MAX_AGE_DAYS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def _row(days_ago: int, metric: str, severity: float, segment=("all", "all")) -> dict:
    return flag_row(reporting_today() - timedelta(days=days_ago), metric, severity, segment)


def _materialize(instance: dg.DagsterInstance) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=ANOMALY_FLAGS, partition=None))


def _tick(instance, url: str, cursor: str | None = None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"warehouse": WarehouseResource(database_url=url)}
    )
    return anomaly_alert_sensor.evaluate_tick(context)


def test_sensors_are_running_by_default_and_launch_no_runs():
    repository = dg.Definitions(sensors=[anomaly_alert_sensor, run_failure_notice_sensor]).get_repository_def()
    assert {s.name: s.default_status for s in repository.sensor_defs} == {
        "anomaly_alert_sensor": dg.DefaultSensorStatus.RUNNING,
        "run_failure_notice_sensor": dg.DefaultSensorStatus.RUNNING,
    }
    assert all(not s.targets for s in repository.sensor_defs)


def test_each_flag_above_the_threshold_is_alerted_once(alert_env, warehouse_url, instance, smtp, webhook):
    write_flags(
        warehouse_url,
        [
            _row(1, "render_failure_rate", 22.3),
            _row(1, "render_failure_rate", 33.5, ("platform", "ios")),  # listed in the product-wide alert
            _row(2, "dau", -5.0),
            _row(1, "sessions", 3.9),  # below the threshold
            _row(10, "new_users", 9.0),  # older than 3 days: recorded, never sent
        ],
    )
    assert "No new materialization" in _tick(instance, warehouse_url).skip_message
    assert smtp.messages == [] and webhook.posts == []

    _materialize(instance)
    result = _tick(instance, warehouse_url)
    assert result.run_requests == [] and result.skip_message.startswith("2 alert(s) sent")
    assert "1 flag(s) too old" in result.skip_message
    subjects = sorted(s.strip() for s in smtp.subjects())
    assert len(subjects) == 2 and len(webhook.posts) == 2
    assert subjects[0].startswith("[HitCraft alert] Daily active users unusually low")
    assert subjects[1].startswith("[HitCraft alert] Render failure rate unusually high")
    assert all(recipients == ["growth@example.com"] for recipients, _ in smtp.messages)
    rendering = next(m for _, m in smtp.messages if "Render" in m["Subject"]).get_body(("plain",)).get_content()
    assert "- platform = ios: 30.0 % vs 12.0 % expected (z +33.5)" in rendering
    assert "http://dagster.test:3000/assets/ml/anomaly_flags" in rendering
    log = sent_alerts(warehouse_url)
    assert {key: row["status"] for key, row in log.items()} == {
        ("render_failure_rate", "all"): "sent",
        ("dau", "all"): "sent",
        ("new_users", "all"): "skipped_old",
    }
    assert log[("dau", "all")]["channels"] == "email,webhook"

    _materialize(instance)  # the next run of ml/anomaly_flags rewrites the same flags
    again = _tick(instance, warehouse_url, cursor=result.cursor)
    assert again.skip_message.startswith("0 alert(s) sent") and again.cursor != result.cursor
    assert len(smtp.messages) == 2 and len(webhook.posts) == 2


def test_a_failing_webhook_is_recorded_and_retried_on_the_next_tick(alert_env, warehouse_url, instance, smtp, webhook):
    write_flags(warehouse_url, [_row(1, "render_failure_rate", 22.3)])
    _materialize(instance)
    webhook.status = 500
    with pytest.raises(Exception, match=r"1 failed \(1 will be retried\).*answered 500"):
        _tick(instance, warehouse_url)
    row = sent_alerts(warehouse_url)[("render_failure_rate", "all")]
    assert (row["status"], row["channels"], row["attempts"]) == ("failed", "email", 1)
    assert "answered 500" in row["error"] and "s3cr3t" not in row["error"]

    webhook.status = 200  # the failed tick kept the cursor: the next one evaluates the same materialization
    result = _tick(instance, warehouse_url)
    assert result.skip_message.startswith("1 alert(s) sent")
    assert len(smtp.messages) == 1 and len(webhook.posts) == 1  # the e-mail is not sent twice
    row = sent_alerts(warehouse_url)[("render_failure_rate", "all")]
    assert (row["status"], row["channels"], row["attempts"], row["error"]) == ("sent", "email,webhook", 2, None)


def test_a_malicious_segment_value_is_escaped(alert_env, warehouse_url, instance, smtp, webhook):
    write_flags(warehouse_url, [_row(1, "production_completion_rate", -6.0, ("prompt", EVIL))])
    _materialize(instance)
    assert _tick(instance, warehouse_url).skip_message.startswith("1 alert(s) sent")
    [(_, mail)] = smtp.messages
    html = mail.get_body(("html",)).get_content()
    assert "<script" not in html and "<img" not in html
    assert (
        "prompt = &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &lt;img src=x onerror=steal()&gt; &amp; co" in html
    )
    assert EVIL in mail.get_body(("plain",)).get_content()
    [post] = webhook.posts
    assert "<script" not in post["text"] and "&lt;script&gt;" in post["text"]


def test_a_failed_run_notifies_the_operator(alert_env, instance, smtp, webhook):
    @dg.op
    def load_day():
        raise ValueError("Mixpanel answered 402 <payment required>")

    @dg.job
    def daily_ingest_job():
        load_day()

    tags = {"dagster/partition": "2026-11-09"}
    result = daily_ingest_job.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
    assert not result.success
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_notice_sensor",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    run_failure_notice_sensor(context)

    [(recipients, mail)] = smtp.messages
    assert recipients == ["oncall@example.com"]
    assert str(mail["Subject"]).strip() == f"[HitCraft] Run failed: daily_ingest_job (2026-11-09) {result.run_id[:8]}"
    text = mail.get_body(("plain",)).get_content()
    assert f"http://dagster.test:3000/runs/{result.run_id}" in text
    assert "- load_day: ValueError: Mixpanel answered 402 <payment required>" in text
    assert "402 &lt;payment required&gt;" in mail.get_body(("html",)).get_content()
    [post] = webhook.posts
    assert result.run_id in post["text"] and "&lt;payment required&gt;" in post["text"]
