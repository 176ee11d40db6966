"""E-mail delivery of a report: a MIME message (plain text + HTML alternative with inline charts, PDF attached)
sent over SMTP (STARTTLS, implicit TLS or plain) or, when no SMTP host is configured, written as an `.eml` file
into an outbox folder. Passwords never appear in logs, reprs or error messages."""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path

from hitcraft_assets.reports.daily import Report
from hitcraft_assets.reports.pdf import render_pdf
from hitcraft_assets.reports.rendering import render_html, render_text, report_images

logger = logging.getLogger(__name__)

SECURITY_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_SENDER = "HitCraft Analytics <hitcraft-analytics@localhost>"
DEFAULT_TIMEOUT_S = 30.0


class EmailConfigError(ValueError):
    """An SMTP setting is missing or malformed; the message names the variable."""


class EmailDeliveryError(RuntimeError):
    """Sending failed. `outbox_path`: where the unsent message was saved (None if saving failed too)."""

    def __init__(self, message: str, outbox_path: Path | None = None) -> None:
        super().__init__(message)
        self.outbox_path = outbox_path


@dataclass(frozen=True)
class SmtpSettings:
    """SMTP delivery settings. `host` None: no server configured (messages go to the outbox)."""

    host: str | None
    port: int
    username: str | None
    password: str | None = field(repr=False)
    sender: str
    recipients: tuple[str, ...]
    security: str = "starttls"
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __repr__(self) -> str:  # never show the password
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, password={'***' if self.password else None}, "
            f"sender={self.sender!r}, recipients={len(self.recipients)})"
        )


@dataclass(frozen=True)
class DeliveryResult:
    """How a message went out: method 'smtp' (accepted / refused recipients) or 'outbox' (the `.eml` path)."""

    method: str
    recipients: tuple[str, ...]
    refused: tuple[str, ...] = ()
    path: Path | None = None


def smtp_settings_from_env(environ: Mapping[str, str] | None = None) -> SmtpSettings:
    """Settings from `SMTP_HOST`, `SMTP_PORT` (default by security: 587 / 465 / 25), `SMTP_USERNAME`,
    `SMTP_PASSWORD`, `SMTP_FROM` (default: the username when it is an address, else
    hitcraft-analytics@localhost), `SMTP_SECURITY` (starttls | ssl | none; default starttls), `SMTP_TIMEOUT_S`
    (default 30) and `HITCRAFT_REPORT_RECIPIENTS` (comma- or semicolon-separated addresses). `environ`: a
    mapping to read instead of the process environment (which then includes a `.env` file, as elsewhere).
    Raises EmailConfigError naming the variable when a value is malformed or when a host is set without
    recipients or with a username but no password."""
    if environ is None:
        from hitcraft_assets.settings import load_dotenv_once

        load_dotenv_once()
        environ = os.environ

    def get(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    security = (get("SMTP_SECURITY") or "starttls").lower()
    if security not in SECURITY_MODES:
        raise EmailConfigError(f"SMTP_SECURITY={security!r} must be one of {', '.join(SECURITY_MODES)}")
    port = _positive("SMTP_PORT", get("SMTP_PORT"), DEFAULT_PORTS[security], int)
    timeout_s = _positive("SMTP_TIMEOUT_S", get("SMTP_TIMEOUT_S"), DEFAULT_TIMEOUT_S, float)
    recipients = parse_recipients(get("HITCRAFT_REPORT_RECIPIENTS") or "")
    host, username, password = get("SMTP_HOST"), get("SMTP_USERNAME"), get("SMTP_PASSWORD")
    # Providers usually accept only a verified sender: an e-mail-shaped login is the best default.
    sender = get("SMTP_FROM") or (username if username and _valid_addresses([username]) else DEFAULT_SENDER)
    if not _valid_addresses([sender]):
        raise EmailConfigError(f"SMTP_FROM={sender!r} is not an e-mail address")
    if host and not recipients:
        raise EmailConfigError("SMTP_HOST is set but HITCRAFT_REPORT_RECIPIENTS is empty")
    if username and not password:
        raise EmailConfigError("SMTP_USERNAME is set but SMTP_PASSWORD is empty")
    return SmtpSettings(host, port, username, password, sender, recipients, security, timeout_s)


def parse_recipients(text: str) -> tuple[str, ...]:
    """'a@x.com, B <b@y.org>; c@z.io' -> ('a@x.com', 'b@y.org', 'c@z.io'). Raises EmailConfigError for an
    entry that is not an address."""
    entries = [entry.strip() for entry in re.split(r"[,;]", text) if entry.strip()]
    addresses = []
    for entry in entries:
        parsed = getaddresses([entry])
        if len(parsed) != 1 or not _valid_addresses([parsed[0][1]]):
            raise EmailConfigError(f"HITCRAFT_REPORT_RECIPIENTS: {entry!r} is not an e-mail address")
        addresses.append(parsed[0][1])
    return tuple(dict.fromkeys(addresses))


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


def _positive(name: str, raw: str | None, default, cast):
    if raw is None:
        return default
    try:
        value = cast(raw)
    except ValueError as exc:
        raise EmailConfigError(f"{name}={raw!r} is not a number") from exc
    if value <= 0:
        raise EmailConfigError(f"{name}={raw!r} must be > 0")
    return value


def _valid_addresses(addresses: Iterable[str]) -> bool:
    for address in addresses:
        bare = _bare(address)
        if not re.fullmatch(r"[^@\s<>,;]+@[^@\s<>,;]+", bare):
            return False
    return True


def _bare(address: str) -> str:
    return getaddresses([address])[0][1] if "<" in address else address.strip()


def _domain(sender: str) -> str:
    bare = _bare(sender)
    try:
        return Address(addr_spec=bare).domain or "hitcraft.report"
    except (ValueError, IndexError):
        return "hitcraft.report"
