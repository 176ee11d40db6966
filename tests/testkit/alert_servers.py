"""Real local servers for the alert tests: an SMTP server (aiosmtpd, plain, no auth) and a Slack-style webhook
(http.server in a thread) that records every POST and answers with a status the test sets."""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpInbox:
    """A running aiosmtpd server on 127.0.0.1; `messages` holds (recipients, parsed message) of every mail."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    @property
    def port(self) -> int:
        return self.controller.port

    def start(self) -> SmtpInbox:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for _, message in self.messages]


class WebhookServer:
    """POST <any path> records the JSON body in `posts` and answers `status` (200 unless a test changes it)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.paths: list[str] = []
        self.status = 200
        self.delay_s = 0.0  # answer slowly (concurrency tests)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                hook.paths.append(self.path)
                time.sleep(hook.delay_s)
                if hook.status < 300:
                    hook.posts.append(body)  # only what was accepted counts as delivered
                payload = b"ok" if hook.status < 300 else b"invalid_token"
                self.send_response(hook.status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """A Slack-style URL whose path is the secret."""
        return f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/s3cr3t-token"

    def start(self) -> WebhookServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
