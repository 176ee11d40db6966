"""Once per flag: which anomaly flags were alerted (table `insights.alerts_sent`), which are pending, and the record
of each delivery (the delivery itself is `reports.alerts`). Each flag is handled in a transaction of its own that
holds its alert row locked while it is delivered, so two sensor ticks (or a tick and a CLI run) never send the same
flag twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from hitcraft_assets.store import warehouse
from hitcraft_assets.store.warehouse import Table

logger = logging.getLogger(__name__)

ALERTS_SENT = Table(
    "insights",
    "alerts_sent",
    (
        ("metric_date", "date not null"),
        ("metric", "text not null"),
        ("segment_type", "text not null"),
        ("segment_value", "text not null"),
        ("status", "text not null"),  # 'sent' | 'skipped_old' | 'failed' (retried until max attempts)
        ("channels", "text"),  # delivered channels, comma-separated: email | outbox, webhook
        ("attempts", "integer not null"),
        ("severity", "double precision"),
        ("error", "text"),  # the last failed attempt's errors by channel
        ("sent_at", "timestamptz"),  # when the status was set
    ),
    ("metric_date", "metric", "segment_type", "segment_value"),
)


@dataclass(frozen=True)
class AnomalyFlag:
    """One row of ml.anomaly_flags; a product-wide flag carries the segment flags of its metric and day."""

    metric_date: date
    metric: str
    segment_type: str
    segment_value: str
    value: float | None = None
    expected: float | None = None
    lower_bound: float | None = None
    upper_bound: float | None = None
    severity: float | None = None
    direction: str | None = None
    root_cause: str | None = None
    segments: tuple[AnomalyFlag, ...] = ()
    #: channels that already got this flag on an earlier, partly failed attempt
    delivered: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[date, str, str, str]:
        return (self.metric_date, self.metric, self.segment_type, self.segment_value)

    @property
    def segment(self) -> str | None:
        """'platform = ios' for a segment flag, None for a product-wide one."""
        return None if self.segment_type == "all" else f"{self.segment_type} = {self.segment_value}"


SENT, SKIPPED_OLD, FAILED = "sent", "skipped_old", "failed"
_FLAGS = "ml.anomaly_flags"
_FLAG_COLUMNS = ", ".join(
    ["metric_date", "metric", "segment_type", "segment_value", "value", "expected", "lower_bound", "upper_bound"]
    + ["severity", "direction", "root_cause"]
)
_KEY = "metric_date = %s and metric = %s and segment_type = %s and segment_value = %s"


@dataclass
class AlertRun:
    """What one pass did, by flag key: sent, recorded as too old, failed (with the errors), or left alone because
    another pass handled it meanwhile. `retry`: failed flags with attempts left."""

    sent: list[AnomalyFlag] = field(default_factory=list)
    skipped_old: list[AnomalyFlag] = field(default_factory=list)
    failed: list[tuple[AnomalyFlag, str]] = field(default_factory=list)
    retry: list[AnomalyFlag] = field(default_factory=list)
    already_handled: int = 0

    def summary(self) -> str:
        parts = [f"{len(self.sent)} alert(s) sent" + (f" ({_names(self.sent)})" if self.sent else "")]
        if self.skipped_old:
            parts.append(f"{len(self.skipped_old)} flag(s) too old, recorded as skipped")
        if self.failed:
            errors = "; ".join(f"{flag.metric} {flag.metric_date}: {error}" for flag, error in self.failed)
            parts.append(f"{len(self.failed)} failed ({len(self.retry)} will be retried): {errors}")
        return ", ".join(parts)


def ensure_alert_log(url: str | None = None) -> None:
    """Create schema `insights` and table `insights.alerts_sent` if missing (under the same lock as other writers'
    first DDL)."""
    with warehouse.connection(url) as conn:
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext('hitcraft.create_tables'))")
            cur.execute(f'create schema if not exists "{ALERTS_SENT.schema}"')
            cur.execute(ALERTS_SENT.ddl())
        conn.commit()


def pending_flags(url: str | None, min_severity: float, max_attempts: int = 3) -> list[AnomalyFlag]:
    """Flags of ml.anomaly_flags worth an alert (is_anomaly, |severity| >= `min_severity`) without a 'sent' or
    'skipped_old' row and with fewer than `max_attempts` failed attempts, oldest day first. Product-wide flags
    always; a segment flag only when its metric is not alerted product-wide that day, else it is listed in that
    alert (`segments`, strongest first)."""
    if not warehouse.table_exists(_FLAGS, url):
        return []
    ensure_alert_log(url)
    worthy = f"select {_FLAG_COLUMNS} from {_FLAGS} where is_anomaly and abs(severity) >= %(min)s"
    rows = warehouse.read_frame(
        f"""
        with worthy as ({worthy})
        select w.*, a.channels
        from worthy w
        left join {ALERTS_SENT.qualified} a using (metric_date, metric, segment_type, segment_value)
        where (a.status is null or (a.status = 'failed' and a.attempts < %(max)s))
          and (w.segment_type = 'all' or not exists (
                select 1 from worthy p
                where p.segment_type = 'all' and p.metric = w.metric and p.metric_date = w.metric_date))
        order by w.metric_date, abs(w.severity) desc, w.metric, w.segment_type, w.segment_value
        """,
        {"min": min_severity, "max": max_attempts},
        url,
    )
    if rows.empty:
        return []
    product_wide = rows[rows["segment_type"] == "all"]
    segments = warehouse.read_frame(
        f"""
        select * from ({worthy}) w
        where segment_type <> 'all' and metric_date = any(%(days)s)
        order by abs(severity) desc, segment_type, segment_value
        """,
        {"min": min_severity, "days": sorted(set(product_wide["metric_date"]))},
        url,
    )
    by_day_metric: dict[tuple, list[AnomalyFlag]] = {}
    for record in segments.to_dict("records"):
        by_day_metric.setdefault((record["metric_date"], record["metric"]), []).append(_flag(record))
    flags = []
    for record in rows.to_dict("records"):
        delivered = tuple(c for c in (record.pop("channels") or "").split(",") if c)
        attached = (
            by_day_metric.get((record["metric_date"], record["metric"]), []) if record["segment_type"] == "all" else []
        )
        flags.append(_flag(record, segments=tuple(attached), delivered=delivered))
    return flags


def handle_pending_flags(
    url: str | None,
    deliver: Callable[[AnomalyFlag, tuple[str, ...]], Any],
    *,
    min_severity: float,
    max_attempts: int,
    oldest: date,
) -> AlertRun:
    """Deliver every pending flag once with `deliver(flag, channels_already_delivered)` (which returns an outcome
    with `ok`, `delivered` and `errors`), recording each outcome; flags of days before `oldest` are recorded as
    skipped, never delivered."""
    run = AlertRun()
    flags = pending_flags(url, min_severity, max_attempts)
    if not flags:
        return run
    with warehouse.connection(url) as conn:
        for flag in flags:
            _handle(conn, flag, flag.metric_date < oldest, max_attempts, deliver, run)
    return run


def _handle(conn, flag: AnomalyFlag, too_old: bool, max_attempts: int, deliver, run: AlertRun) -> None:
    """One flag in one transaction: claim its row (insert if missing, then lock it), re-check its status under the
    lock, deliver, record. A concurrent pass waits on the lock and then finds the flag handled."""
    key = list(flag.key)
    with conn, conn.cursor() as cur:  # `with conn`: commit on success, roll back on an exception
        cur.execute(
            f"insert into {ALERTS_SENT.qualified} (metric_date, metric, segment_type, segment_value, status, attempts, "
            "severity) values (%s, %s, %s, %s, 'failed', 0, %s) on conflict do nothing",
            [*key, flag.severity],
        )
        cur.execute(f"select status, attempts, channels from {ALERTS_SENT.qualified} where {_KEY} for update", key)
        status, attempts, channels = cur.fetchone()
        if status in (SENT, SKIPPED_OLD) or attempts >= max_attempts:
            run.already_handled += 1
            return
        if too_old:
            cur.execute(
                f"update {ALERTS_SENT.qualified} set status = %s, sent_at = now() where {_KEY}", [SKIPPED_OLD, *key]
            )
            run.skipped_old.append(flag)
            return
        done = tuple(c for c in (channels or "").split(",") if c)
        outcome = deliver(flag, done)
        delivered = done + outcome.delivered
        error = "; ".join(f"{channel}: {message}" for channel, message in outcome.errors.items()) or None
        cur.execute(
            f"update {ALERTS_SENT.qualified} set status = %s, channels = %s, attempts = attempts + 1, error = %s, "
            f"severity = %s, sent_at = now() where {_KEY}",
            [SENT if outcome.ok else FAILED, ",".join(delivered) or None, error, flag.severity, *key],
        )
    if outcome.ok:
        run.sent.append(flag)
    else:
        logger.warning("alert for %s %s %s failed: %s", flag.metric, flag.metric_date, flag.segment or "", error)
        run.failed.append((flag, error))
        if attempts + 1 < max_attempts:
            run.retry.append(flag)


def _flag(record: dict, **extra) -> AnomalyFlag:
    values = {k: (None if _missing(v) else v) for k, v in record.items()}
    for name in ("value", "expected", "lower_bound", "upper_bound", "severity"):
        values[name] = None if values[name] is None else float(values[name])
    return AnomalyFlag(**values, **extra)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _names(flags: list[AnomalyFlag]) -> str:
    return ", ".join(f"{f.metric} {f.metric_date}" + (f" [{f.segment}]" if f.segment else "") for f in flags[:5]) + (
        ", …" if len(flags) > 5 else ""
    )
