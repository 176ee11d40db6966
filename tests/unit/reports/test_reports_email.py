"""E-mail delivery against a real local SMTP server (aiosmtpd): STARTTLS with a self-signed certificate made
here with `cryptography`, implicit TLS, plain SMTP with AUTH, the outbox, and clear errors."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import socket
import ssl
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from hitcraft_assets.reports.email import (
    EmailConfigError,
    EmailDeliveryError,
    SmtpSettings,
    build_report_message,
    deliver,
    parse_recipients,
    smtp_settings_from_env,
)
from hitcraft_assets.reports.pdf import render_pdf

# The plain-SMTP servers here require AUTH without TLS on purpose (aiosmtpd warns about it).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

USER, PASSWORD = "reports", "s3cret-Pa55"
RECIPIENTS = ("growth@example.com", "data@example.com")


class Inbox:
    """aiosmtpd handler keeping (mail_from, rcpt_tos, raw bytes, authenticated, tls) of every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes, bool, bool]] = []

    async def handle_DATA(self, server, session, envelope):
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session.authenticated, tls)
        )
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed CA-style certificate for 127.0.0.1 / localhost (cert path, key path). `cryptography` comes
    with great-expectations; without it the TLS tests are skipped and the plain SMTP ones still run."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def report_message_parts(daily_report) -> tuple:
    return daily_report, render_pdf(daily_report)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_context(certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def _client_context(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def _settings(port: int, security: str, password: str = PASSWORD, host: str | None = "127.0.0.1") -> SmtpSettings:
    return SmtpSettings(host, port, USER, password, "HitCraft <reports@hitcraft.example>", RECIPIENTS, security, 5.0)


def _serve(inbox: Inbox, **options) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), authenticator=_authenticator, **options)
    controller.start()
    return controller


def test_starttls_with_login_delivers_text_html_inline_charts_and_pdf(certificate, report_message_parts, tmp_path):
    report, pdf = report_message_parts
    inbox = Inbox()
    server = _serve(
        inbox,
        tls_context=_server_context(certificate),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
    )
    try:
        settings = _settings(server.port, "starttls")
        message = build_report_message(report, settings.sender, settings.recipients, pdf=pdf)
        result = deliver(message, settings, tmp_path / "outbox", ssl_context=_client_context(certificate))
    finally:
        server.stop()
    assert (result.method, result.recipients, result.refused) == ("smtp", RECIPIENTS, ())
    assert not (tmp_path / "outbox").exists()
    [(mail_from, rcpt_tos, raw, authenticated, tls)] = inbox.messages
    assert (mail_from, rcpt_tos, authenticated, tls) == ("reports@hitcraft.example", list(RECIPIENTS), True, True)
    received = email.message_from_bytes(raw, policy=policy.default)
    assert received["Subject"] == report.title and received["To"] == ", ".join(RECIPIENTS)
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "KEY METRICS SUMMARY" in text and "&lt;script&gt;" in html and "<script>" not in html
    # a long Content-ID header is folded: unfolded it starts with a space
    images = {
        part["Content-ID"].strip().strip("<>"): part.get_content() for part in received.walk() if part["Content-ID"]
    }
    assert len(images) == 5 and all(png.startswith(b"\x89PNG") for png in images.values())
    assert all(f'src="cid:{cid}"' in html for cid in images)
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "hitcraft-daily-2026-11-20.pdf"
    assert attachment.get_content_type() == "application/pdf" and attachment.get_content() == pdf


def test_wrong_password_is_a_clear_error_and_the_message_is_kept(certificate, report_message_parts, tmp_path):
    report, pdf = report_message_parts
    inbox = Inbox()
    server = _serve(inbox, tls_context=_server_context(certificate), require_starttls=True, auth_required=True)
    try:
        settings = _settings(server.port, "starttls", password="wrong-Pa55word")
        message = build_report_message(report, settings.sender, settings.recipients, pdf=pdf)
        with pytest.raises(EmailDeliveryError) as error:
            deliver(message, settings, tmp_path / "outbox", ssl_context=_client_context(certificate))
    finally:
        server.stop()
    assert "login as SMTP_USERNAME was rejected (535)" in str(error.value)
    assert "wrong-Pa55word" not in str(error.value) and "wrong-Pa55word" not in repr(settings)
    assert error.value.outbox_path.parent == tmp_path / "outbox" and error.value.outbox_path.suffix == ".eml"
    assert email.message_from_bytes(error.value.outbox_path.read_bytes())["Subject"] == report.title
    assert inbox.messages == []


def test_implicit_tls_with_auth(certificate, report_message_parts, tmp_path):
    report, pdf = report_message_parts
    inbox = Inbox()
    # aiosmtpd only counts STARTTLS as TLS for AUTH, so the implicit-TLS server may not require it.
    server = _serve(inbox, ssl_context=_server_context(certificate), auth_required=True, auth_require_tls=False)
    try:
        settings = _settings(server.port, "ssl")
        message = build_report_message(report, settings.sender, settings.recipients, pdf=pdf)
        assert deliver(message, settings, tmp_path, ssl_context=_client_context(certificate)).method == "smtp"
    finally:
        server.stop()
    assert [(authenticated, tls) for *_, authenticated, tls in inbox.messages] == [(True, True)]


def test_plain_smtp_with_auth(report_message_parts, tmp_path):
    report, pdf = report_message_parts
    inbox = Inbox()
    server = _serve(inbox, auth_required=True, auth_require_tls=False)
    try:
        settings = _settings(server.port, "none")
        message = build_report_message(report, settings.sender, settings.recipients, pdf=pdf)
        assert deliver(message, settings, tmp_path).method == "smtp"
    finally:
        server.stop()
    [(mail_from, rcpt_tos, raw, authenticated, tls)] = inbox.messages
    assert (rcpt_tos, authenticated, tls) == (list(RECIPIENTS), True, False)
    received = email.message_from_bytes(raw, policy=policy.default)
    assert next(received.iter_attachments()).get_content() == pdf


def test_starttls_required_but_not_offered(report_message_parts, tmp_path):
    report, pdf = report_message_parts
    server = _serve(Inbox(), auth_require_tls=False)  # no TLS context: no STARTTLS in EHLO
    try:
        settings = _settings(server.port, "starttls")
        with pytest.raises(EmailDeliveryError, match="does not offer STARTTLS"):
            deliver(build_report_message(report, settings.sender, RECIPIENTS, pdf=pdf), settings, tmp_path)
    finally:
        server.stop()


def test_unreachable_server_saves_to_outbox(report_message_parts, tmp_path):
    report, pdf = report_message_parts
    settings = _settings(_free_port(), "starttls")  # nothing listens there
    with pytest.raises(EmailDeliveryError, match=r"cannot connect .*message saved to") as error:
        deliver(build_report_message(report, settings.sender, RECIPIENTS, pdf=pdf), settings, tmp_path)
    assert error.value.outbox_path.exists()


def test_without_smtp_host_the_message_goes_to_the_outbox(report_message_parts, tmp_path):
    report, pdf = report_message_parts
    settings = smtp_settings_from_env({"HITCRAFT_REPORT_RECIPIENTS": "growth@example.com"})
    assert settings.host is None
    message = build_report_message(report, settings.sender, settings.recipients, pdf=pdf)
    result = deliver(message, settings, tmp_path / "outbox")
    assert result.method == "outbox" and result.path.parent == tmp_path / "outbox"
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [result.path.name]  # no partial file left
    saved = email.message_from_bytes(result.path.read_bytes(), policy=policy.default)
    assert saved["To"] == "growth@example.com"
    assert next(saved.iter_attachments()).get_content() == pdf


def test_settings_from_environment():
    settings = smtp_settings_from_env(
        {
            "SMTP_HOST": "smtp.example.com",
            "SMTP_USERNAME": "apikey",
            "SMTP_PASSWORD": "very-secret",
            "SMTP_SECURITY": "SSL",
            "SMTP_FROM": "Reports <reports@example.com>",
            "HITCRAFT_REPORT_RECIPIENTS": "a@example.com; B <b@example.com>, a@example.com",
        }
    )
    assert (settings.port, settings.security, settings.timeout_s) == (465, "ssl", 30.0)
    assert settings.recipients == ("a@example.com", "b@example.com")
    assert "very-secret" not in repr(settings) and "very-secret" not in str(settings)
    assert smtp_settings_from_env({}).port == 587
    login_sender = {"SMTP_USERNAME": "bot@example.com", "SMTP_PASSWORD": "x"}
    assert smtp_settings_from_env(login_sender).sender == "bot@example.com"
    for environ, variable in [
        ({"SMTP_SECURITY": "tls"}, "SMTP_SECURITY"),
        ({"SMTP_PORT": "abc"}, "SMTP_PORT"),
        ({"SMTP_TIMEOUT_S": "0"}, "SMTP_TIMEOUT_S"),
        ({"SMTP_HOST": "smtp.example.com"}, "HITCRAFT_REPORT_RECIPIENTS"),
        ({"SMTP_USERNAME": "x", "HITCRAFT_REPORT_RECIPIENTS": "a@example.com"}, "SMTP_PASSWORD"),
        ({"HITCRAFT_REPORT_RECIPIENTS": "not-an-address"}, "HITCRAFT_REPORT_RECIPIENTS"),
    ]:
        with pytest.raises(EmailConfigError, match=variable):
            smtp_settings_from_env(environ)
    assert parse_recipients("") == ()
