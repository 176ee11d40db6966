"""Alerts: settings, messages and delivery of anomaly alerts and run-failure notices (e-mail over SMTP or to the
outbox, plus an optional Slack-compatible webhook). No Dagster here; the once-per-flag bookkeeping in the warehouse
is in `alert_log`."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from hitcraft_assets.reports.email import (
    EmailConfigError,
    EmailDeliveryError,
    build_message,
    deliver,
)
from hitcraft_assets.reports.formatting import format_interval, format_metric_value, format_number, metric_label
from hitcraft_assets.settings import (  # noqa: F401 (the settings of this area, re-exported for its users)
    DEFAULT_DAGSTER_URL,
    DEFAULT_MAX_AGE_DAYS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MIN_SEVERITY,
    WEBHOOK_TIMEOUT_S,
    AlertConfigError,
    AlertSettings,
    alert_settings,
)
from hitcraft_assets.store.alert_log import AlertRun, AnomalyFlag, handle_pending_flags

logger = logging.getLogger(__name__)

#: channel names as recorded in insights.alerts_sent: e-mail over SMTP, e-mail written to the outbox, webhook
EMAIL, OUTBOX, WEBHOOK = "email", "outbox", "webhook"


class WebhookError(RuntimeError):
    """The webhook could not be reached or answered with a non-2xx status (the URL, a secret, is never shown)."""


def alert_settings_from_env(environ: Mapping[str, str] | None = None) -> AlertSettings:
    """The alert settings (`settings.alert_settings`): `environ` is read instead of the process environment and
    `.env`. Raises AlertConfigError / EmailConfigError naming the variable."""
    return alert_settings(environ)


def reporting_today(now: datetime | None = None) -> date:
    """Today in the reporting time zone (`HITCRAFT_REPORTING_TIMEZONE`), against which flag ages are measured."""
    from hitcraft_assets import settings

    return settings.reporting_today(now)


# ------------------------------------------------------------------------------------------------- messages
@dataclass(frozen=True)
class AlertMessage:
    """One alert in every form: e-mail subject, plain text and HTML, and the webhook's text (Slack mrkdwn)."""

    subject: str
    text: str
    html: str
    webhook_text: str


def anomaly_alert_message(flag: AnomalyFlag, settings: AlertSettings) -> AlertMessage:
    """The alert of one flag: metric, day, segment, value vs expected and its normal range, severity, direction, the
    likely root cause and the segments flagged with it. Event-derived text (segment values, root cause) is escaped
    in the HTML and the webhook text and kept on one line in the subject."""
    label = metric_label(flag.metric)
    how = {"up": "unusually high", "down": "unusually low"}.get(flag.direction or "", "unusual")
    where = f" for {flag.segment}" if flag.segment else ""
    severity = format_number(flag.severity, 1, signed=True)
    subject = f"[HitCraft alert] {label} {how} on {flag.metric_date}{where} (z {severity})"
    interval = format_interval(
        format_metric_value(flag.metric, flag.lower_bound), format_metric_value(flag.metric, flag.upper_bound)
    )
    facts = [
        ("Value", format_metric_value(flag.metric, flag.value)),
        (
            "Expected",
            format_metric_value(flag.metric, flag.expected) + (f" (normal range {interval})" if interval else ""),
        ),
        ("Severity", f"robust z = {severity} (alert threshold {settings.min_severity:g})"),
        ("Direction", flag.direction or "n/a"),
    ]
    if flag.root_cause:
        facts.append(("Likely root cause", _one_line(flag.root_cause)))
    segments = [
        f"{s.segment}: {format_metric_value(s.metric, s.value)} vs {format_metric_value(s.metric, s.expected)} "
        f"expected (z {format_number(s.severity, 1, signed=True)})"
        for s in flag.segments
    ]
    link = f"{settings.dagster_url}/assets/ml/anomaly_flags"
    headline = f"{label} was {how} on {flag.metric_date} ({flag.segment or 'all users'})."
    text_lines = [headline, ""] + [f"{name}: {value}" for name, value in facts]
    if segments:
        text_lines += ["", "Segments flagged the same day:"] + [f"- {_one_line(s)}" for s in segments]
    text_lines += ["", f"Anomaly flags in Dagster: {link}"]
    text = "\n".join(text_lines) + "\n"
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{_h(name)}</th><td>{_h(value)}</td></tr>'
        for name, value in facts
    )
    segment_html = (
        "<p>Segments flagged the same day:</p><ul>" + "".join(f"<li>{_h(s)}</li>" for s in segments) + "</ul>"
        if segments
        else ""
    )
    body = (
        f"<p><strong>{_h(headline)}</strong></p><table>{rows}</table>{segment_html}"
        f'<p><a href="{_h(link)}">Anomaly flags in Dagster</a></p>'
    )
    return AlertMessage(_header(subject), text, _html_page(subject, body), _webhook_text(subject, text))


def run_failure_message(
    job_name: str,
    run_id: str,
    error: str | None,
    step_errors: Sequence[tuple[str | None, str]],
    settings: AlertSettings,
    partition: str | None = None,
) -> AlertMessage:
    """The operator's notice of a failed run: job, run id, partition, the run's error and each failed step's error
    (first lines), and a link to the run in the Dagster UI."""
    link = f"{settings.dagster_url}/runs/{run_id}"
    what = f"job {job_name}" + (f", partition {partition}" if partition else "")
    subject = f"[HitCraft] Run failed: {job_name}" + (f" ({partition})" if partition else "") + f" {run_id[:8]}"
    headline = f"Dagster run {run_id} ({what}) failed."
    steps = [(step or "run", _first_lines(message)) for step, message in step_errors]
    text_lines = [headline, ""]
    if error:
        text_lines += [f"Error: {_first_lines(error)}"]
    if steps:
        text_lines += ["", "Failed steps:"] + [f"- {step}: {message}" for step, message in steps]
    text_lines += ["", f"Open the run: {link}"]
    text = "\n".join(text_lines) + "\n"
    body = f"<p><strong>{_h(headline)}</strong></p>"
    if error:
        body += f"<p>Error:</p><pre>{_h(_first_lines(error))}</pre>"
    if steps:
        body += "<p>Failed steps:</p><ul>" + "".join(
            f"<li><code>{_h(step)}</code><pre>{_h(message)}</pre></li>" for step, message in steps
        )
        body += "</ul>"
    body += f'<p><a href="{_h(link)}">Open the run in Dagster</a></p>'
    return AlertMessage(_header(subject), text, _html_page(subject, body), _webhook_text(subject, text))


def send_pending_alerts(settings: AlertSettings, url: str | None = None, today: date | None = None) -> AlertRun:
    """Alert every pending flag once (see `store.alert_log.pending_flags`): by e-mail to `settings.recipients` and to
    the webhook. Flags older than `settings.max_age_days` before `today` (default: today in the reporting time zone)
    are recorded as 'skipped_old' and never sent. A failed delivery is recorded as 'failed' with its error and retried
    on the next call (only the channels that failed) until `settings.max_attempts`."""
    today = today or reporting_today()

    def deliver(flag: AnomalyFlag, skip: tuple[str, ...]) -> Delivery:
        return notify(anomaly_alert_message(flag, settings), settings.recipients, settings, skip=skip)

    run = handle_pending_flags(
        url,
        deliver,
        min_severity=settings.min_severity,
        max_attempts=settings.max_attempts,
        oldest=today - timedelta(days=settings.max_age_days),
    )
    if run.sent or run.failed or run.skipped_old:
        logger.info("anomaly alerts: %s", run.summary())
    return run


# ------------------------------------------------------------------------------------------------- delivery
@dataclass(frozen=True)
class Delivery:
    """What one notification did: `delivered` channels (email | outbox | webhook) and `errors` by channel."""

    delivered: tuple[str, ...]
    errors: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return not self.errors


def notify(
    message: AlertMessage, recipients: Sequence[str], settings: AlertSettings, skip: Sequence[str] = ()
) -> Delivery:
    """Send `message` by e-mail to `recipients` (SMTP, or the outbox when no SMTP host is set) and to the webhook
    when one is configured; channels in `skip` (already delivered earlier) are left out. A failing channel does not
    stop the other: its error is returned."""
    delivered: list[str] = []
    errors: dict[str, str] = {}
    if EMAIL not in skip and OUTBOX not in skip:
        try:
            smtp = replace(settings.smtp, recipients=tuple(recipients))
            email = build_message(message.subject, smtp.sender, smtp.recipients, message.text, message.html)
            delivered.append(EMAIL if deliver(email, smtp, settings.outbox_dir).method == "smtp" else OUTBOX)
        except (EmailDeliveryError, EmailConfigError) as exc:
            errors[EMAIL] = str(exc)
    if settings.webhook_url and WEBHOOK not in skip:
        try:
            post_webhook(settings.webhook_url, message.webhook_text, settings.webhook_timeout_s)
            delivered.append(WEBHOOK)
        except WebhookError as exc:
            errors[WEBHOOK] = str(exc)
    return Delivery(tuple(delivered), errors)


def post_webhook(url: str, text: str, timeout_s: float = WEBHOOK_TIMEOUT_S) -> None:
    """POST {"text": text} as JSON to a Slack-compatible incoming webhook. Raises WebhookError (naming the host,
    never the URL, whose path is the secret) when it cannot be reached, times out or answers non-2xx."""
    import httpx

    host = urlsplit(url).netloc or "?"
    try:
        response = httpx.post(url, json={"text": text}, timeout=timeout_s)
    except httpx.TimeoutException as exc:
        raise WebhookError(f"webhook at {host} timed out after {timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise WebhookError(
            f"webhook at {host} unreachable ({type(exc).__name__}: {str(exc).replace(url, host)})"
        ) from exc
    if not response.is_success:
        raise WebhookError(f"webhook at {host} answered {response.status_code}: {_one_line(response.text)[:200]}")
    logger.info("alert posted to the webhook at %s", host)


# ------------------------------------------------------------------------------------------------- helpers
def _one_line(text) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _first_lines(text: str, lines: int = 12, chars: int = 2000) -> str:
    """The head of an error message (a stack trace belongs in the Dagster UI, not in a mail)."""
    return "\n".join(str(text).strip().splitlines()[:lines])[:chars]


def _header(text: str) -> str:
    """A header value: one line (build_message rejects line breaks), at most 200 characters."""
    line = _one_line(text)
    return line if len(line) <= 200 else line[:199] + "…"


def _h(text) -> str:
    return html.escape(str(text), quote=True)


def _slack_escape(text: str) -> str:
    """Slack's three control characters: `<` and `>` would make links and @channel mentions, `&` entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _webhook_text(subject: str, text: str) -> str:
    """Chat text: the subject in bold, then the plain-text body, with Slack's control characters escaped."""
    return _slack_escape(f"*{_header(subject)}*\n{text}")


def _html_page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{_h(_header(title))}</title></head>'
        f'<body style="font-family:sans-serif">{body}</body></html>'
    )
