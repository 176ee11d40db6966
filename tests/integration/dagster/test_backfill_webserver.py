"""`hitcraft backfill` against a real Dagster webserver application (the dagster-webserver ASGI app over real
DagsterInstances in two temporary HITCRAFT_HOMEs, sqlite storage, served in process): it refuses a webserver of
another home, and says why a backfill failed (each failed step's error)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import httpx
import pytest

from hitcraft_assets.cli import backfill

MIXPANEL_401 = "Mixpanel export failed: 401 Unauthorized: Invalid username or secret (service account)"


@dg.asset
def raw_events_like() -> None:
    from hitcraft_assets.mixpanel.client import MixpanelError

    raise MixpanelError(MIXPANEL_401)


@dg.asset
def fine_asset() -> int:
    return 1


def _home(root: Path, name: str) -> tuple[Path, Path]:
    """A HITCRAFT_HOME with its instance in <home>/dagster (as `hitcraft` lays it out), sqlite storage."""
    home = root / name
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home, dagster_home


@pytest.fixture
def webservers(tmp_path, monkeypatch):
    """Two homes; a webserver application for each, reachable as http://<name>.test through httpx.post."""
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import EmptyWorkspaceTarget
    from dagster_webserver.app import create_app_from_workspace_process_context
    from starlette.testclient import TestClient

    homes, clients = {}, {}
    with ExitStack() as stack:
        for name in ("home-a", "home-b"):
            home, dagster_home = _home(tmp_path, name)
            instance = stack.enter_context(dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))))
            context = stack.enter_context(WorkspaceProcessContext(instance, EmptyWorkspaceTarget()))
            clients[f"{name}.test"] = stack.enter_context(
                TestClient(create_app_from_workspace_process_context(context))
            )
            homes[name] = (home, dagster_home, instance)

        def post(url, **kwargs):
            kwargs.pop("timeout", None)
            parts = urlsplit(url)
            return clients[parts.hostname].post(parts.path, **kwargs)

        monkeypatch.setattr(httpx, "post", post)
        yield homes


def test_a_webserver_of_another_home_is_refused_naming_both_homes(webservers):
    home_a, dagster_home_a, instance_a = webservers["home-a"]
    home_b, dagster_home_b, instance_b = webservers["home-b"]

    # both instances empty: told apart by the webserver's DAGSTER_HOME
    assert backfill.instance_mismatch("http://home-a.test", instance_a, dagster_home_a) is None
    message = backfill.instance_mismatch("http://home-a.test", instance_b, dagster_home_b)
    assert message and f"HITCRAFT_HOME {home_a.resolve()}" in message and f"HITCRAFT_HOME {home_b.resolve()}" in message
    assert message.startswith("the Dagster webserver at http://home-a.test serves the instance of HITCRAFT_HOME")

    # with runs: told apart by the run storage (this home's newest run is unknown over there)
    dg.materialize([fine_asset], instance=instance_b)
    assert backfill.instance_mismatch("http://home-a.test", instance_b, dagster_home_b) is not None
    assert backfill.instance_mismatch("http://home-b.test", instance_b, dagster_home_b) is None
    dg.materialize([fine_asset], instance=instance_a)
    assert backfill.instance_mismatch("http://home-b.test", instance_a, dagster_home_a) is not None
    assert backfill.instance_mismatch("http://home-a.test", instance_a, dagster_home_a) is None


def test_the_cli_refuses_before_launching_anything(webservers, monkeypatch):
    """`_check_instance` as `hitcraft backfill` calls it, with this home = home-b and the UI of home-a."""
    from hitcraft_assets.cli import platform, runtime
    from hitcraft_assets.cli.common import UserError

    home_b, dagster_home_b, instance_b = webservers["home-b"]
    monkeypatch.setattr(runtime, "dagster_home", lambda: dagster_home_b)
    monkeypatch.setattr(dg.DagsterInstance, "get", staticmethod(lambda: instance_b))
    launched = []
    monkeypatch.setattr(backfill, "launch", lambda *a, **k: launched.append(a))

    with pytest.raises(UserError, match="serves the instance of HITCRAFT_HOME .*home-a.*not this one"):
        platform._check_instance("http://home-a.test")
    platform._check_instance("http://home-b.test")
    assert launched == []


def test_a_failed_backfill_names_each_failed_steps_error(webservers):
    _, _, instance = webservers["home-a"]
    result = dg.materialize(
        [raw_events_like, fine_asset], instance=instance, tags={"dagster/backfill": "bf1"}, raise_on_error=False
    )
    assert not result.success
    dg.materialize([fine_asset], instance=instance, tags={"dagster/backfill": "other"})

    lines = backfill.failure_details("http://home-a.test", "bf1")

    assert lines == [f"step raw_events_like failed: MixpanelError: {MIXPANEL_401}"]


def test_the_progress_signal_of_a_backfill_reads_its_runs_and_steps(webservers):
    """`wait` treats any change of this as progress; here the real GraphQL answers it."""
    _, _, instance = webservers["home-a"]
    dg.materialize([fine_asset], instance=instance, tags={"dagster/backfill": "bf2"})

    ((run_id, status, steps_succeeded, materializations, steps),) = backfill.activity("http://home-a.test", "bf2")

    assert (status, steps_succeeded, materializations) == ("SUCCESS", 1, 1)
    assert steps == (("fine_asset", "SUCCESS"),)
    assert backfill.activity("http://home-a.test", "no-such-backfill") == ()
    assert isinstance(backfill.unhealthy_daemons("http://home-a.test"), list)
