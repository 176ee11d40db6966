"""`hitcraft serve`: the analytics app (API + dashboard) on the warehouse; `demo` and `dev` start it beside the
Dagster UI through `app_server`."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import typer

from hitcraft_assets.cli.common import EmbeddedDatabase, say

WORKER_START_TIMEOUT_S = 600


def ensure_first_admin() -> str | None:
    """With no user yet, create `admin` and return its password (the only time it is shown); else None."""
    from hitcraft_assets.cli.users import add_user
    from hitcraft_assets.store import app_users

    app_users.ensure_schema()
    if app_users.count_users():
        return None
    return add_user("admin", "admin", actor="first start")


def announce(base: str) -> None:
    """The app's URLs and, on the first start, the admin's password (shown this once)."""
    password = ensure_first_admin()
    say(f"Analytics app: {base}/  (API docs: {base}/docs)")
    if password:
        say(f"  created user admin (role admin); password, shown once and stored hashed: {password}")
    else:
        say("  log in with your user (`hitcraft users list`; `hitcraft users password admin` sets a new password)")


@contextlib.contextmanager
def app_server(host: str, port: int) -> Iterator[str]:
    """The app served by uvicorn in a thread of this process until the block ends; yields its base URL once it
    answers (waiting as long as the server thread is alive: a loaded machine only makes this slower)."""
    import httpx
    import uvicorn

    from hitcraft_assets.app import create_app
    from hitcraft_assets.store import warehouse

    server = thread = None
    # everything here is undone on any exit, Ctrl-C while the app starts included: a connection left open (the app
    # opens its pool when it is created) would keep the embedded database from stopping
    try:
        server = uvicorn.Server(
            uvicorn.Config(create_app(), host=host, port=port, log_level="warning", access_log=False)
        )
        server.install_signal_handlers = lambda: None  # Ctrl-C belongs to the command that started us
        thread = threading.Thread(target=server.run, name="hitcraft-app", daemon=True)
        thread.start()
        base = f"http://{host}:{port}"
        while thread.is_alive() and not server.started:
            time.sleep(0.2)
        if not thread.is_alive():
            raise RuntimeError(f"the analytics app could not start on {host}:{port} (is the port taken? --app-port)")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{base}/api/v1/health", timeout=30)
        yield base
    finally:
        if server is not None:
            server.should_exit = True
        if thread is not None and thread.is_alive():
            thread.join(timeout=30)
        warehouse.close_pools()


@contextlib.contextmanager
def app_beside_dagster(host: str, port: int) -> Iterator[str | None]:
    """`app_server` for `demo` and `dev`: port 0 starts nothing, and a port already taken is said and skipped (the
    Dagster UI still comes up), not fatal. Yields the app's base URL or None."""
    if not port:
        yield None
        return
    with contextlib.ExitStack() as stack:
        try:
            base = stack.enter_context(app_server(host, port))
        except RuntimeError as exc:
            say(f"analytics app not started: {exc}")
            base = None
        yield base


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, min=1, max=65535, help="Port."),
    workers: int = typer.Option(
        1,
        min=1,
        max=64,
        help="Worker processes (one per core answers more requests at once; each keeps its own cache).",
    ),
) -> None:
    """Start the analytics app: the JSON API under /api/v1 (docs at /docs) and the dashboard. On the first start
    with no users it creates `admin` and prints its password once. Ctrl-C stops it."""
    import uvicorn

    from hitcraft_assets.app import create_app
    from hitcraft_assets.store import warehouse

    # the app's pool is closed before the embedded database is asked to stop (it stops only with no client left)
    with EmbeddedDatabase(), contextlib.ExitStack() as stack:
        stack.callback(warehouse.close_pools)
        announce(f"http://{host}:{port}")
        say("Ctrl-C stops it.")
        if workers == 1:
            uvicorn.run(create_app(), host=host, port=port, log_level="warning", access_log=False)
        else:  # each worker builds the app from the settings (the session key is shared through HITCRAFT_HOME)
            uvicorn.run(
                "hitcraft_assets.app:create_app",
                factory=True,
                workers=workers,
                # a worker builds the app (imports, database) before it answers: on a loaded machine that takes far
                # longer than uvicorn's 5 s, which would restart it forever
                timeout_worker_healthcheck=WORKER_START_TIMEOUT_S,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
            )
