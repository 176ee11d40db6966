"""A run that fails to start is launched again, with the run-retry and run-monitoring settings of the repo's
dagster.yaml, through Dagster's own machinery (a real DagsterInstance in a temp dir; sqlite storage instead of
the repo's PostgreSQL, a run launcher that fails its first launch, as a code server that does not answer in time
under load does)."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher

REPO_ROOT = Path(__file__).resolve().parents[3]
LOCATION = "retry_test"


@dg.asset
def retried_asset() -> int:
    return 1


@dg.asset
def failing_asset() -> int:
    raise RuntimeError("401 Unauthorized: a step failure, not a failure to start")


defs = dg.Definitions(assets=[retried_asset, failing_asset])


class FailsFirstLaunch(SyncInMemoryRunLauncher):
    """Runs in process; the first launch fails like a code server that did not answer in time."""

    launches = 0

    def launch_run(self, context) -> None:
        type(self).launches += 1
        if type(self).launches == 1:
            raise DagsterUserCodeUnreachableError("code server did not answer in time (machine under load)")
        super().launch_run(context)


def _repo_instance_settings() -> dict:
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    return {
        key: config[key] for key in ("concurrency", "run_retries", "run_monitoring", "code_servers") if key in config
    }


@pytest.fixture
def workspace(tmp_path):
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import instance_for_test
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

    FailsFirstLaunch.launches = 0
    overrides = {**_repo_instance_settings(), "run_launcher": {"module": __name__, "class": "FailsFirstLaunch"}}
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=__file__, attribute="defs", working_directory=str(REPO_ROOT)),
        location_name=LOCATION,
    )
    with instance_for_test(overrides=overrides, temp_dir=str(tmp_path)) as instance:
        with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as context:
            yield instance, context


def _submit(instance, context, asset: dg.AssetsDefinition) -> dg.DagsterRun:
    request = context.create_request_context()
    remote_job = request.get_code_location(LOCATION).get_repository("__repository__").get_full_job("__ASSET_JOB")
    job_def = defs.resolve_implicit_global_asset_job_def()
    run = instance.create_run_for_job(
        job_def=job_def.get_subset(asset_selection={asset.key}),
        asset_selection={asset.key},
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
    )
    instance.submit_run(run.run_id, request)  # queued (the repo's run queue)
    _queue_daemon_tick(context)
    return instance.get_run_by_id(run.run_id)


def _queue_daemon_tick(context) -> None:
    """What the run-queue daemon of `dagster dev` does: dequeue the queued runs and launch them."""
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:
        list(daemon.run_iteration(context))


def _retry_daemon_tick(instance, context) -> None:
    """What the auto-run-reexecution daemon of `dagster dev` does with newly failed runs."""
    from dagster._daemon.auto_run_reexecution.auto_run_reexecution import consume_new_runs_for_automatic_reexecution

    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    list(consume_new_runs_for_automatic_reexecution(context, records, logging.getLogger("retry-test")))
    _queue_daemon_tick(context)  # the retry is queued like any run


def test_the_repo_config_retries_runs_that_fail_to_start_but_not_failed_steps(workspace):
    instance, _ = workspace
    assert instance.run_retries_enabled and instance.run_retries_max_retries >= 1
    assert not instance.run_retries_retry_on_asset_or_op_failure
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_start_timeout_seconds > 180  # Dagster's default; too short under load
    assert instance.code_server_process_startup_timeout > 180


def test_a_run_whose_launch_fails_is_retried_and_succeeds(workspace):
    instance, context = workspace
    run = _submit(instance, context, retried_asset)
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert run.tags.get("dagster/will_retry") == "true"

    _retry_daemon_tick(instance, context)

    _, group = instance.get_run_group(run.run_id)
    retry = next(r for r in group if r.run_id != run.run_id)
    assert retry.parent_run_id == run.run_id and retry.tags["dagster/retry_number"] == "1"
    assert retry.status == dg.DagsterRunStatus.SUCCESS
    assert FailsFirstLaunch.launches == 2
    assert instance.get_latest_materialization_event(retried_asset.key).run_id == retry.run_id


def test_a_run_that_stays_starting_past_the_start_timeout_is_retried(workspace):
    from dagster._core.test_utils import freeze_time
    from dagster._daemon.monitoring.run_monitoring import monitor_starting_run
    from dagster._time import get_current_datetime

    instance, context = workspace
    FailsFirstLaunch.launches = 1  # the launch "succeeds" but the run worker never reports that it started
    run = instance.create_run_for_job(
        job_def=defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={retried_asset.key}),
        asset_selection={retried_asset.key},
        remote_job_origin=context.create_request_context()
        .get_code_location(LOCATION)
        .get_repository("__repository__")
        .get_full_job("__ASSET_JOB")
        .get_remote_origin(),
    )
    instance.report_dagster_event(
        dg.DagsterEvent(event_type_value=dg.DagsterEventType.PIPELINE_STARTING.value, job_name=run.job_name),
        run_id=run.run_id,
    )
    later = get_current_datetime().timestamp() + instance.run_monitoring_start_timeout_seconds + 1
    with freeze_time(later):
        monitor_starting_run(instance, instance.get_run_record_by_id(run.run_id), logging.getLogger("retry-test"))
    failed = instance.get_run_by_id(run.run_id)
    assert failed.status == dg.DagsterRunStatus.FAILURE
    assert failed.tags.get("dagster/failure_reason") == "START_TIMEOUT"
    assert failed.tags.get("dagster/will_retry") == "true"


def test_a_failed_step_is_not_retried(workspace):
    instance, context = workspace
    FailsFirstLaunch.launches = 1  # launches succeed from now on
    run = _submit(instance, context, failing_asset)
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert run.tags.get("dagster/will_retry") == "false"
    _retry_daemon_tick(instance, context)
    _, group = instance.get_run_group(run.run_id)
    assert [r.run_id for r in group] == [run.run_id]
