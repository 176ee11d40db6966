"""E-mail delivery of a report: a MIME message (plain text + HTML alternative with inline charts, PDF attached)
sent over SMTP (STARTTLS, implicit TLS or plain) or, when no SMTP host is configured, written as an `.eml` file
into an outbox folder. Passwords never appear in logs, reprs or error messages."""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from hitcraft_assets.reports.daily import Report
from hitcraft_assets.reports.pdf import render_pdf
from hitcraft_assets.reports.rendering import render_html, render_text, report_images
from hitcraft_assets.settings import (  # noqa: F401 (the settings of this area, re-exported for its users)
    DEFAULT_PORTS,
    DEFAULT_SENDER,
    DEFAULT_SMTP_TIMEOUT_S,
    SECURITY_MODES,
    EmailConfigError,
    SmtpSettings,
    bare_address,
    parse_recipients,
    smtp_settings,
    valid_addresses,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = DEFAULT_SMTP_TIMEOUT_S


class EmailDeliveryError(RuntimeError):
    """Sending failed. `outbox_path`: where the unsent message was saved (None if saving failed too)."""

    def __init__(self, message: str, outbox_path: Path | None = None) -> None:
        super().__init__(message)
        self.outbox_path = outbox_path


@dataclass(frozen=True)
class DeliveryResult:
    """How a message went out: method 'smtp' (accepted / refused recipients) or 'outbox' (the `.eml` path)."""

    method: str
    recipients: tuple[str, ...]
    refused: tuple[str, ...] = ()
    path: Path | None = None


def smtp_settings_from_env(environ: Mapping[str, str] | None = None) -> SmtpSettings:
    """The report e-mail settings (`settings.smtp_settings`): `environ` is read instead of the process environment
    and `.env`. Raises EmailConfigError naming the variable."""
    return smtp_settings(environ)


def build_message(
    subject: str,
    sender: str,
    recipients: Sequence[str],
    text: str,
    html: str | None = None,
    *,
    inline_images: Iterable[tuple[str, bytes]] = (),
    attachments: Iterable[tuple[str, bytes, str]] = (),
) -> EmailMessage:
    """A MIME message: `text` (text/plain), `html` as the alternative with `inline_images` ((Content-ID
    without brackets, PNG bytes), referenced as `cid:<id>` in the HTML) as related parts, and `attachments`
    ((filename, bytes, 'maintype/subtype')). Header values with line breaks are rejected (ValueError)."""
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = subject
    message["From"] = sender
    if recipients:
        message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    message.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
        html_part = message.get_payload()[-1]
        for content_id, png in inline_images:
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{content_id}>")
    for filename, data, mime_type in attachments:
        maintype, subtype = mime_type.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def build_report_message(
    report: Report, sender: str, recipients: Sequence[str], *, pdf: bytes | None = None, subject: str | None = None
) -> EmailMessage:
    """The e-mail of a report: `render_text` as the text part, `render_html` with its charts as inline `cid:`
    images (mail clients block `data:` URIs), and the PDF (`pdf`, rendered when None) attached as
    'hitcraft-<kind>-<as_of>.pdf'. `subject` defaults to the report title."""
    content_ids = {key: make_msgid(idstring=key, domain="hitcraft.report")[1:-1] for key, _ in report_images(report)}
    html = render_html(report, image_source=lambda key, _png: "cid:" + content_ids[key])
    pdf_bytes = render_pdf(report) if pdf is None else pdf
    return build_message(
        subject or report.title,
        sender,
        recipients,
        render_text(report),
        html,
        inline_images=[(content_ids[key], png) for key, png in report_images(report)],
        attachments=[(f"hitcraft-{report.kind}-{report.as_of}.pdf", pdf_bytes, "application/pdf")],
    )


def deliver(
    message: EmailMessage, settings: SmtpSettings, outbox_dir: Path, *, ssl_context: ssl.SSLContext | None = None
) -> DeliveryResult:
    """Send `message` to `settings.recipients` over SMTP, or write it to `outbox_dir` as `.eml` when no host is
    configured. `ssl_context`: for STARTTLS/SSL (default: the system's verifying context).

    On failure the message is saved to the outbox and EmailDeliveryError is raised with a clear cause
    (cannot connect, timeout, TLS, login rejected, recipients refused) and the saved path; the password is
    never part of it. Recipients the server refuses while accepting others are returned in `refused`."""
    if not settings.host:
        path = write_outbox(message, outbox_dir)
        logger.info("no SMTP host configured: e-mail written to %s", path)
        return DeliveryResult("outbox", tuple(settings.recipients), path=path)
    if not settings.recipients:
        raise EmailConfigError("no recipients: set HITCRAFT_REPORT_RECIPIENTS")
    where = f"{settings.host}:{settings.port} ({settings.security})"
    try:
        refused = _send(message, settings, ssl_context)
    except Exception as exc:  # any failure: keep the message, then report the cause
        cause = _describe(exc, settings)
        try:
            saved = write_outbox(message, outbox_dir)
        except OSError as save_error:
            raise EmailDeliveryError(f"sending via {where} failed: {cause}; saving to the outbox failed too: "
                                     f"{save_error}") from exc  # fmt: skip
        logger.warning("sending via %s failed: %s; message saved to %s", where, cause, saved)
        raise EmailDeliveryError(f"sending via {where} failed: {cause}; message saved to {saved}", saved) from exc
    accepted = tuple(r for r in settings.recipients if r not in refused)
    logger.info("report e-mail sent via %s to %d recipient(s), %d refused", where, len(accepted), len(refused))
    return DeliveryResult("smtp", accepted, tuple(refused))


def write_outbox(message: EmailMessage, outbox_dir: Path) -> Path:
    """Write `message` as '<UTC timestamp>-<subject slug>.eml' into `outbox_dir` (created; written to a
    temporary name first, so a reader never sees half a file)."""
    outbox_dir = Path(outbox_dir)
    outbox_dir.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", str(message.get("Subject", "message")).lower()).strip("-")[:60] or "message"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = outbox_dir / f"{stamp}-{slug}.eml"
    partial = path.with_suffix(".eml.partial")
    partial.write_bytes(message.as_bytes(policy=policy.SMTP))
    partial.replace(path)
    return path


def _send(message: EmailMessage, settings: SmtpSettings, ssl_context: ssl.SSLContext | None) -> dict:
    context = ssl_context or ssl.create_default_context()
    if settings.security == "ssl":
        client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s, context=context)
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    with client:
        client.ehlo()
        if settings.security == "starttls":
            if not client.has_extn("starttls"):
                raise _NoStartTls()
            client.starttls(context=context)
            client.ehlo()
        if settings.username:
            client.login(settings.username, settings.password or "")
        return client.send_message(message, from_addr=_bare(settings.sender), to_addrs=list(settings.recipients))


class _NoStartTls(Exception):
    pass


def _describe(exc: Exception, settings: SmtpSettings) -> str:
    if isinstance(exc, _NoStartTls):
        return "the server does not offer STARTTLS (set SMTP_SECURITY=ssl or, on a trusted network, none)"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"login as SMTP_USERNAME was rejected ({exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return "the server does not support AUTH on this connection (check SMTP_SECURITY)"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"every recipient was refused: {', '.join(sorted(exc.recipients))}"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"sender {exc.sender!r} refused ({exc.smtp_code})"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"TLS failed: {exc}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"timed out after {settings.timeout_s:g} s"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {settings.host!r}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"the server closed the connection ({exc})"
    if isinstance(exc, smtplib.SMTPResponseException):  # SMTPConnectError, SMTPDataError, ...
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"the server answered {exc.smtp_code} {reply[:200]}"
    if isinstance(exc, OSError):  # refused, unreachable, reset
        return f"cannot connect ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"


_valid_addresses = valid_addresses
_bare = bare_address


def _domain(sender: str) -> str:
    bare = _bare(sender)
    try:
        return Address(addr_spec=bare).domain or "hitcraft.report"
    except (ValueError, IndexError):
        return "hitcraft.report"
