"""Anomaly flags written straight into the ML table, the alert log read back, and alert settings for the
local SMTP and webhook servers: the inputs and outputs of alert delivery."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from hitcraft_assets.reports.alerts import AlertSettings
from hitcraft_assets.reports.email import SmtpSettings
from hitcraft_assets.store import alert_log, warehouse
from hitcraft_assets.store import ml_tables as tables

ALERTS, OPERATORS = ("growth@example.com",), ("oncall@example.com",)
ROOT_CAUSE = "platform = ios explains 100% of the rise"


def flag_row(day: date, metric: str, severity: float, segment=("all", "all"), is_anomaly: bool = True) -> dict:
    """One anomaly_flags row: an upward (severity > 0) or downward move of 0.3 against 0.12 expected."""
    return {
        **dict.fromkeys(tables.ANOMALY_FLAGS.column_names),
        "metric_date": day,
        "metric": metric,
        "segment_type": segment[0],
        "segment_value": segment[1],
        "value": 0.3,
        "expected": 0.12,
        "lower_bound": 0.1,
        "upper_bound": 0.14,
        "severity": severity,
        "direction": "up" if severity > 0 else "down",
        "is_anomaly": is_anomaly,
        "kind": "count",
        "root_cause": ROOT_CAUSE if segment[0] == "all" else None,
    }


def write_flags(url: str, rows: list[dict]) -> None:
    """Replace the flags and forget every alert sent, so each test starts with these flags pending."""
    warehouse.replace_rows(tables.ANOMALY_FLAGS, pd.DataFrame(rows, columns=tables.ANOMALY_FLAGS.column_names), url=url)
    alert_log.ensure_alert_log(url)
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(f"delete from {alert_log.ALERTS_SENT.qualified}")
        conn.commit()


def sent_alerts(url: str) -> dict[tuple[str, str], dict]:
    """The alert log keyed by (metric, segment value)."""
    frame = warehouse.read_frame(
        f"select metric, segment_value, status, channels, attempts, error from {alert_log.ALERTS_SENT.qualified}",
        url=url,
    )
    return {(r["metric"], r["segment_value"]): r for r in frame.to_dict("records")}


def alert_settings(
    tmp_path: Path, smtp_port: int | None = None, webhook: str | None = None, **overrides
) -> AlertSettings:
    """Alerts to the growth team, failures to the operator; SMTP on a local port (or the outbox when None)."""
    smtp = SmtpSettings("127.0.0.1" if smtp_port else None, smtp_port or 25, None, None, "alerts@hitcraft.example",
                        ALERTS, "none", 5.0)  # fmt: skip
    return AlertSettings(smtp, tmp_path / "outbox", ALERTS, OPERATORS, webhook, **overrides)
