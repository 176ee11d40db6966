"""serve_sample_mixpanel: run a WSGI app on a real loopback socket (uvicorn, HTTP/1.1, chunked streaming).

uvicorn's own WSGI interface buffers the whole body in an unbounded queue and is deprecated, so the WSGI app is
wrapped in a small ASGI adapter with back-pressure: the WSGI iterable runs in a worker thread and hands chunks
over a bounded queue. An exception raised mid-body (Fault kind "reset") propagates to uvicorn after the response
started, so uvicorn drops the connection without the terminating chunk and the client sees an incomplete body.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
import sys
import threading
from collections.abc import Iterator

import uvicorn

__all__ = ["WSGIToASGI", "serve_sample_mixpanel"]

_DONE = object()
logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)


class WSGIToASGI:
    """Minimal ASGI3 adapter for a streaming WSGI app (one worker thread per request, bounded hand-off)."""

    def __init__(self, wsgi_app, queue_chunks: int = 8):
        self.app = wsgi_app
        self.queue_chunks = queue_chunks

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(self.queue_chunks)
        started: dict = {}
        cancelled = threading.Event()
        environ = self._environ(scope, bytes(body))

        def start_response(status, headers, exc_info=None):
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]

        def put(item):
            fut = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            fut.result()

        def worker():
            result = None
            try:
                result = self.app(environ, start_response)
                for chunk in result:
                    if cancelled.is_set():
                        break
                    if chunk:
                        put(("data", bytes(chunk)))
                put(("end", None))
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop
                with contextlib.suppress(Exception):
                    put(("error", exc))
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        close()

        thread = threading.Thread(target=worker, daemon=True, name="sample-mixpanel-wsgi")
        thread.start()
        response_started = False
        try:
            while True:
                kind, payload = await queue.get()
                if not response_started and kind != "error":
                    await send(
                        {"type": "http.response.start", "status": started["status"], "headers": started["headers"]}
                    )
                    response_started = True
                if kind == "data":
                    await send({"type": "http.response.body", "body": payload, "more_body": True})
                elif kind == "end":
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                else:
                    raise payload
        finally:
            cancelled.set()
            # unblock a worker waiting on a full queue
            while not queue.empty():
                queue.get_nowait()

    @staticmethod
    def _environ(scope, body: bytes) -> dict:
        server = scope.get("server") or ("127.0.0.1", 80)
        env = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": scope.get("root_path", "").encode("utf8").decode("latin1"),
            "PATH_INFO": scope["path"].encode("utf8").decode("latin1"),
            "QUERY_STRING": scope["query_string"].decode("ascii"),
            "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
            "SERVER_NAME": server[0],
            "SERVER_PORT": str(server[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.get("scheme", "http"),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stdout,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in scope.get("headers", []):
            key = name.decode("latin1").upper().replace("-", "_")
            val = value.decode("latin1")
            if key == "CONTENT_TYPE":
                env["CONTENT_TYPE"] = val
            elif key == "CONTENT_LENGTH":
                continue
            else:
                k = "HTTP_" + key
                env[k] = env[k] + "," + val if k in env else val
        return env


@contextlib.contextmanager
def serve_sample_mixpanel(app, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> Iterator[str]:
    """Serve `app` (a WSGI app, e.g. SampleMixpanelApp) on a loopback port; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        WSGIToASGI(app),
        lifespan="off",
        log_level="critical",
        access_log=False,
        http="h11",
        loop="asyncio",
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  (uvicorn < 0.29)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True, name="sample-mixpanel-server"
    )
    thread.start()
    deadline = timeout
    import time

    t0 = time.monotonic()
    while not server.started:
        if not thread.is_alive() or time.monotonic() - t0 > deadline:
            sock.close()
            raise RuntimeError("sample Mixpanel server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
