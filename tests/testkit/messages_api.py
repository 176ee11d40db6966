"""A local HTTP server speaking the Anthropic Messages API (POST /v1/messages) for tests with the REAL anthropic
client: scripted replies in order, every request recorded. Shared by the report and CLI tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MessagesApi:
    """POST /v1/messages answered from `replies` ((status, body, delay_s) each, in order); `requests` records
    (path, headers, body) of every call. `with MessagesApi() as api:` runs it for the block."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict, float]] = []
        self.requests: list[tuple[str, dict, dict]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                api.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, reply, delay = api.replies.pop(0) if api.replies else (500, error_body("no reply left"), 0)
                if self.path.split("?")[0] != "/v1/messages":
                    status, reply = 404, error_body("not found", "not_found_error")
                time.sleep(delay)
                payload = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> MessagesApi:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def reply(self, content: list[dict], stop_reason: str = "end_turn", status: int = 200, delay: float = 0.0):
        body = {
            "id": f"msg_{len(self.replies)}",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 20},
        }
        self.replies.append((status, body, delay))


def error_body(message: str, kind: str = "api_error") -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


def text_block(text: str) -> dict:
    return {"type": "text", "text": text}


def tool_use_block(use_id: str, name: str, arguments: dict) -> dict:
    return {"type": "tool_use", "id": use_id, "name": name, "input": arguments}
