"""A loaded machine makes `hitcraft backfill` / `demo` slower, never failed: the waits for `dagster dev` and for a
backfill have no fixed deadline. Time is a fake clock here (each sleep advances it), so nothing depends on the
speed of the machine running the tests."""

from __future__ import annotations

import pytest

from hitcraft_assets.cli import backfill, runtime


class FakeTime:
    """Stands in for the `time` module of the code under test: sleep() advances monotonic() at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _progress(status: str, materialized: int, targeted: int = 100) -> backfill.BackfillProgress:
    return backfill.BackfillProgress(status=status, materialized=materialized, targeted=targeted, in_progress=1)


def test_a_backfill_slower_than_an_hour_that_keeps_progressing_is_waited_for(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(backfill, "time", clock)
    polls = iter(
        [_progress("REQUESTED", i) for i in range(100)] + [_progress("COMPLETED_SUCCESS", 100)]
    )  # one more partition every poll
    monkeypatch.setattr(backfill, "progress", lambda url, backfill_id: next(polls))
    monkeypatch.setattr(backfill, "activity", lambda url, backfill_id: (), raising=False)
    lines: list[str] = []

    result = backfill.wait("http://ui", "b1", lines.append, poll_s=120)  # 100 polls × 2 min = 3 h 20 min

    assert result.status == "COMPLETED_SUCCESS" and result.materialized == 100
    assert clock.now - 1000.0 > 3 * 3600
    assert lines[0].endswith("backfill requested: 0/100 asset partitions materialized, 1 in progress, 0 failed")
    assert "100/100" in lines[-1]


def test_runs_working_inside_one_partition_count_as_progress(monkeypatch):
    """One long dbt step: the partition counts stand still for hours while steps and materializations move."""
    clock = FakeTime()
    monkeypatch.setattr(backfill, "time", clock)
    monkeypatch.setenv("HITCRAFT_BACKFILL_STALL_MINUTES", "30")
    polls = iter([_progress("REQUESTED", 0)] * 200 + [_progress("COMPLETED_SUCCESS", 100)])
    monkeypatch.setattr(backfill, "progress", lambda url, backfill_id: next(polls))
    ticks = iter(range(10_000))
    monkeypatch.setattr(backfill, "activity", lambda url, backfill_id: (("run1", "STARTED", next(ticks)),))

    result = backfill.wait("http://ui", "b1", lambda line: None, poll_s=60)  # 200 min without a new partition

    assert result.status == "COMPLETED_SUCCESS"


def test_a_backfill_without_any_progress_is_given_up_after_the_stall_limit_and_says_so(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(backfill, "time", clock)
    monkeypatch.setenv("HITCRAFT_BACKFILL_STALL_MINUTES", "90")
    monkeypatch.setattr(backfill, "progress", lambda url, backfill_id: _progress("REQUESTED", 7))
    monkeypatch.setattr(backfill, "activity", lambda url, backfill_id: (), raising=False)
    monkeypatch.setattr(backfill, "unhealthy_daemons", lambda url: ["BACKFILL"], raising=False)
    lines: list[str] = []

    with pytest.raises(backfill.BackfillError, match=r"made no progress for 90 min") as raised:
        backfill.wait("http://ui", "b1", lines.append, poll_s=60)

    assert 90 * 60 <= clock.now - 1000.0 < 92 * 60
    message = str(raised.value)
    assert "still REQUESTED" in message and "http://ui/runs/b/b1" in message
    assert "HITCRAFT_BACKFILL_STALL_MINUTES" in message and "daemons not running: BACKFILL" in message
    assert any("(no change for" in line for line in lines)  # the user sees it standing still meanwhile


class FakeProcess:
    pid = 4242

    def __init__(self, exits_after_polls: int | None = None) -> None:
        self.polls, self.exits_after, self.returncode = 0, exits_after_polls, None

    def poll(self):
        self.polls += 1
        if self.exits_after is not None and self.polls > self.exits_after:
            self.returncode = 1
        return self.returncode


def test_dagster_dev_is_waited_for_while_it_runs_and_the_wait_says_what_it_waits_for(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(runtime, "time", clock)
    states = iter(
        [(False, "the Dagster webserver to answer on http://h:1")] * 120
        + [(False, "code location hitcraft to load (its code server starts and imports the assets)")] * 600
        + [(True, "")]
    )
    monkeypatch.setattr(runtime, "webserver_state", lambda url: next(states))
    lines: list[str] = []

    runtime.wait_until_ready("http://h:1", FakeProcess(), lines.append)  # 12 min at one poll a second

    assert clock.now - 1000.0 >= 720
    assert "waiting for the Dagster webserver to answer on http://h:1" in lines[0]
    assert any("waiting for code location hitcraft to load" in line for line in lines)
    assert len(lines) < 30  # on change and once a minute, not every poll


def test_dagster_dev_start_up_ends_when_its_process_exits(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime, "time", FakeTime())
    monkeypatch.setattr(runtime, "webserver_state", lambda url: (False, "code location hitcraft to load"))

    with pytest.raises(RuntimeError, match=r"dagster dev exited with code 1 while waiting for code location"):
        runtime.wait_until_ready("http://h:1", FakeProcess(exits_after_polls=5), lambda line: None, log_path=tmp_path)


def test_dagster_dev_context_waits_past_the_old_three_minutes(monkeypatch, tmp_path):
    """Through `dagster_dev` itself (the process is a fake; the start-up takes 10 min of fake time)."""
    import hitcraft_assets.defs.dbt.project as dbt_project

    clock = FakeTime()
    monkeypatch.setenv("HITCRAFT_HOME", str(tmp_path))
    monkeypatch.setattr(runtime, "time", clock)
    monkeypatch.setattr(runtime, "apply_environment", lambda: {})
    monkeypatch.setattr(dbt_project, "prepare_manifest", lambda: None)
    monkeypatch.setattr(runtime, "port_in_use", lambda host, port: False)
    monkeypatch.setattr(runtime.subprocess, "Popen", lambda *a, **k: FakeProcess())
    monkeypatch.setattr(runtime, "_stop", lambda process: None)
    ready_at = clock.now + 600
    monkeypatch.setattr(runtime, "webserver_ready", lambda url: clock.now >= ready_at)
    monkeypatch.setattr(
        runtime,
        "webserver_state",
        lambda url: (clock.now >= ready_at, "" if clock.now >= ready_at else "code location hitcraft to load"),
        raising=False,
    )

    with runtime.dagster_dev(port=3999, quiet=True) as server:
        assert server.url == "http://127.0.0.1:3999"
    assert clock.now >= ready_at
