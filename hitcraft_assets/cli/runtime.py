"""Process environment for Dagster (instance home, storage URL) and the `dagster dev` process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from hitcraft_assets import settings
from hitcraft_assets.store import warehouse


def dagster_home() -> Path:
    """$HITCRAFT_HOME/dagster, holding a link to the repo's dagster.yaml (Dagster reads it from DAGSTER_HOME)."""
    home = settings.hitcraft_home() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    source = settings.REPO_ROOT / "dagster.yaml"
    if not link.exists() or (link.is_symlink() and link.resolve() != source.resolve()):
        link.unlink(missing_ok=True)
        try:
            link.symlink_to(source)
        except OSError:  # filesystems without symlinks
            shutil.copyfile(source, link)
    return home


def dagster_environment() -> dict[str, str]:
    """Environment variables every Dagster process of this platform needs (values, not secrets)."""
    env = {
        "HITCRAFT_HOME": str(settings.hitcraft_home()),
        "DAGSTER_HOME": str(dagster_home()),
        "DAGSTER_PG_URL": warehouse.dagster_storage_url(),
        # Workers reach the already-running warehouse directly instead of each attaching to pgserver.
        "HITCRAFT_DATABASE_URL": warehouse.warehouse_url(),
        "PATH": settings.executable_search_path(Path(sys.executable).parent),  # dbt, dagster
    }
    return env


def apply_environment() -> dict[str, str]:
    env = dagster_environment()
    os.environ.update(env)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) == 0


def webserver_state(url: str) -> tuple[bool, str]:
    """(ready, what is still awaited): ready when the webserver answers and every code location has loaded.
    A code location that failed to load raises RuntimeError (waiting longer does not help)."""
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
    query += "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    try:
        r = httpx.post(f"{url}/graphql", json={"query": query}, timeout=30)
        entries = r.json()["data"]["workspaceOrError"]["locationEntries"]
    except (httpx.HTTPError, KeyError, TypeError, ValueError):
        return False, f"the Dagster webserver to answer on {url}"
    for entry in entries:
        error = entry.get("locationOrLoadError") or {}
        if error.get("__typename") == "PythonError":
            raise RuntimeError(f"code location {entry['name']} failed to load: {error.get('message')}")
    if not entries:
        return False, "the webserver to list its code locations"
    loading = [e["name"] for e in entries if not (e["loadStatus"] == "LOADED" and e["locationOrLoadError"])]
    if loading:
        return False, f"code location {', '.join(loading)} to load (its code server starts and imports the assets)"
    return True, ""


def webserver_ready(url: str) -> bool:
    """True when the webserver answers and the code location has loaded."""
    return webserver_state(url)[0]


def wait_until_ready(
    url: str,
    process: subprocess.Popen,
    report: Callable[[str], None],
    *,
    log_path: Path | None = None,
    poll_s: float = 1.0,
    remind_s: float = 60.0,
) -> None:
    """Wait for `dagster dev` to serve its code location for as long as its process is alive: on a loaded
    machine start-up takes minutes, never a reason to fail. Says what it waits for (again every `remind_s`);
    Ctrl-C stops the wait."""
    started = time.monotonic()
    said, said_at = "", started
    while True:
        ready, awaited = webserver_state(url)
        if ready:
            return
        if process.poll() is not None:
            raise RuntimeError(
                f"dagster dev exited with code {process.returncode} while waiting for {awaited}"
                + (f"; see {log_path}" if log_path else "")
            )
        now = time.monotonic()
        if awaited != said or now - said_at >= remind_s:
            report(
                f"[{now - started:5.0f}s] waiting for {awaited} (dagster dev pid {process.pid} is running; "
                "Ctrl-C stops)"
            )
            said, said_at = awaited, now
        time.sleep(poll_s)


def wait_for_webserver(url: str, report: Callable[[str], None], *, poll_s: float = 2.0) -> bool:
    """For a webserver started elsewhere: False when nothing answers at `url`; else wait (as long as it keeps
    answering) until its code location has loaded, and True."""
    ready, awaited = webserver_state(url)
    if ready:
        return True
    if awaited.startswith("the Dagster webserver to answer"):
        return False
    started = time.monotonic()
    report(f"the webserver at {url} is starting: waiting for {awaited} (Ctrl-C stops)")
    while not ready:
        time.sleep(poll_s)
        ready, now_awaited = webserver_state(url)
        if now_awaited.startswith("the Dagster webserver to answer"):
            raise RuntimeError(f"the webserver at {url} stopped answering while it was starting")
        if now_awaited and now_awaited != awaited:
            report(f"[{time.monotonic() - started:5.0f}s] waiting for {now_awaited}")
            awaited = now_awaited
    return True


@dataclass
class DagsterDev:
    url: str
    process: subprocess.Popen
    log_path: Path | None


@contextmanager
def dagster_dev(
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    quiet: bool = False,
    report: Callable[[str], None] | None = None,
) -> Iterator[DagsterDev]:
    """Run `dagster dev` (webserver + daemon) with this platform's environment until the code location
    has loaded (however long that takes while it runs); stops it (its whole process group) on exit."""
    from hitcraft_assets.cli.common import say

    port = port or free_port(host)
    if port_in_use(host, port):
        raise RuntimeError(f"port {port} on {host} is already in use (is `hitcraft dev` running? use --port)")
    # PGAPPNAME: the UI's, daemon's and runs' connections say "dagster" in pg_stat_activity (dbt's say "dbt")
    env = settings.process_environment(**apply_environment(), PGAPPNAME="dagster")
    from hitcraft_assets.defs.dbt.project import prepare_manifest

    prepare_manifest()  # once here, not in every Dagster process
    log_path = settings.hitcraft_home() / "dagster-dev.log"
    out = open(log_path, "ab") if quiet else None
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(settings.REPO_ROOT / "workspace.yaml"),
            "-h",
            host,
            "-p",
            str(port),
        ],
        cwd=settings.REPO_ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if quiet else None,
        start_new_session=True,
    )
    url = f"http://{host}:{port}"
    try:
        wait_until_ready(url, process, report or say, log_path=log_path if quiet else None)
        yield DagsterDev(url, process, log_path if quiet else None)
    finally:
        _stop(process)
        if out:
            out.close()


def _stop(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGINT to dagster dev's process group (it shuts down its webserver, daemon and code servers), then SIGKILL to
    whatever of the group is left after `grace_s` or when the user interrupts the shutdown itself. Waits for the whole
    group, not only its leader: dagster dev exits once its webserver and daemon have, while their code servers may
    still hold connections to the embedded database, which then would not stop."""
    group = process.pid  # start_new_session: the leader's pid is the group's id
    deadline = time.monotonic() + grace_s
    try:
        if process.poll() is None:
            os.killpg(group, signal.SIGINT)
        process.wait(timeout=grace_s)
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.2)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        pass
    except ProcessLookupError:
        return
    if _group_alive(group) or process.poll() is None:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    kill_deadline = time.monotonic() + 10  # SIGKILL cannot be refused; this only waits for the kernel
    while _group_alive(group) and time.monotonic() < kill_deadline:
        time.sleep(0.1)


def _group_alive(group: int) -> bool:
    """Whether a process of the group still runs (exited ones waiting to be reaped by init do not count)."""
    import psutil

    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def interrupt_on_termination() -> None:
    """Ctrl-C and SIGTERM (systemd, containers, `kill`) both raise KeyboardInterrupt, so the cleanup
    (dagster dev, the embedded database) runs either way, even where SIGINT was inherited as ignored."""

    def _raise(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise)
