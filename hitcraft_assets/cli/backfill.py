"""Backfills through the Dagster instance (GraphQL on the webserver), with progress and a summary."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx

_ASSET_NODES = "{ assetNodes { assetKey { path } isPartitioned partitionKeys } }"

_LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}"""

_STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      assetBackfillData {
        assetBackfillStatuses {
          __typename
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed
          }
          ... on UnpartitionedAssetStatus { assetKey { path } inProgress materialized failed }
        }
      }
    }
    ... on PythonError { message }
  }
}"""

DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class BackfillError(RuntimeError):
    pass


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise BackfillError("; ".join(e.get("message", str(e)) for e in body["errors"]))
    return body["data"]


def _keys_inside(keys: list[str], first: date, last: date) -> list[str]:
    """Day partitions inside first..last; for longer ones (weeks, months) those whose last day is inside it, so a
    week that started before `first` is built once its end is loaded, and one not over by `last` waits."""
    starts = [date.fromisoformat(k) for k in keys]
    ends = [nxt - timedelta(days=1) for nxt in starts[1:]]
    if starts:
        step = (starts[1] - starts[0]).days if len(starts) > 1 else 1
        month_end = (starts[-1] + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        ends.append(month_end if step >= 28 else starts[-1] + timedelta(days=step - 1))
    return [k for k, end in zip(keys, ends) if first <= end <= last]


def launch(url: str, first: date, last: date, *, title: str) -> str:
    """One backfill of every asset: daily-partitioned ones over first..last, weekly and monthly ones over the
    weeks and months that end in it, unpartitioned ones once. Single-run backfill policies make each range one run."""
    nodes = _graphql(url, _ASSET_NODES)["assetNodes"]
    selectors = []
    for node in nodes:
        selector: dict = {"assetKey": {"path": node["assetKey"]["path"]}}
        if node["isPartitioned"]:
            keys = _keys_inside(node["partitionKeys"], first, last)
            if not keys:
                continue  # e.g. no complete week in a short range
            selector["partitions"] = {"range": {"start": keys[0], "end": keys[-1]}}
        selectors.append(selector)
    params = {
        "partitionsByAssets": selectors,
        "title": title,
        "tags": [{"key": "hitcraft/launched-by", "value": "cli"}],
    }
    result = _graphql(url, _LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"backfill was not launched: {result.get('message', result['__typename'])}")
    return result["backfillId"]


@dataclass
class BackfillProgress:
    status: str
    materialized: int = 0
    targeted: int = 0
    failed: int = 0
    in_progress: int = 0
    per_asset: dict[str, str] = field(default_factory=dict)


def progress(url: str, backfill_id: str) -> BackfillProgress:
    data = _graphql(url, _STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if data["__typename"] != "PartitionBackfill":
        raise BackfillError(data.get("message", data["__typename"]))
    p = BackfillProgress(status=data["status"])
    for s in (data.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []:
        key = "/".join(s["assetKey"]["path"])
        if s["__typename"] == "AssetPartitionsStatusCounts":
            p.targeted += s["numPartitionsTargeted"]
            p.materialized += s["numPartitionsMaterialized"]
            p.failed += s["numPartitionsFailed"]
            p.in_progress += s["numPartitionsInProgress"]
            p.per_asset[key] = f"{s['numPartitionsMaterialized']}/{s['numPartitionsTargeted']}"
        else:
            p.targeted += 1
            p.materialized += int(s["materialized"])
            p.failed += int(s["failed"])
            p.in_progress += int(s["inProgress"])
            p.per_asset[key] = "done" if s["materialized"] else ("failed" if s["failed"] else "pending")
    return p


_ACTIVITY = """
query Activity($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    __typename
    ... on Runs {
      results {
        runId status
        stats { __typename ... on RunStatsSnapshot { stepsSucceeded stepsFailed materializations } }
        stepStats { stepKey status }
      }
    }
  }
}"""

_DAEMONS = "{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"


def activity(url: str, backfill_id: str) -> tuple:
    """What changes while a backfill's runs work: their statuses, steps started and finished, materializations."""
    data = _graphql(url, _ACTIVITY, {"id": backfill_id})["runsOrError"]
    state = []
    for run in data.get("results") or []:
        stats = run.get("stats") or {}
        steps = tuple(sorted((s["stepKey"], s["status"] or "") for s in run.get("stepStats") or []))
        state.append((run["runId"], run["status"], stats.get("stepsSucceeded"), stats.get("materializations"), steps))
    return tuple(sorted(state))


def unhealthy_daemons(url: str) -> list[str]:
    try:
        statuses = _graphql(url, _DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    except (BackfillError, httpx.HTTPError, KeyError, TypeError):
        return []
    return [d["daemonType"] for d in statuses if d["required"] and not d["healthy"]]


class BackfillStalled(BackfillError):
    """A backfill made no progress at all for the configured time (HITCRAFT_BACKFILL_STALL_MINUTES)."""


def wait(
    url: str,
    backfill_id: str,
    report: Callable[[str], None],
    *,
    poll_s: float = 3.0,
    stall_minutes: float | None = None,
    rows_so_far: Callable[[], int] | None = None,
) -> BackfillProgress:
    """Poll until the backfill ends, reporting partitions done, rows loaded and elapsed time on change. There is
    no deadline: a slow machine makes a backfill slower, not failed. Gives up only when nothing at all (backfill
    status, partitions, runs, steps, materializations, rows) changed for `stall_minutes` (default
    HITCRAFT_BACKFILL_STALL_MINUTES; 0 = never). Ctrl-C stops the wait; the backfill stays in the instance."""
    from hitcraft_assets import settings

    stall_s = 60 * (settings.backfill_stall_minutes() if stall_minutes is None else stall_minutes)
    started = time.monotonic()
    last_line, last_state, changed_at, last_reminder = "", None, started, started
    while True:
        p = progress(url, backfill_id)
        rows = rows_so_far() if rows_so_far else None
        state = (p.status, p.materialized, p.failed, p.in_progress, rows, activity(url, backfill_id))
        now = time.monotonic()
        if state != last_state:
            last_state, changed_at = state, now
        quiet_s = now - changed_at
        rows_text = f", {rows:,} raw rows loaded" if rows is not None else ""
        line = (
            f"backfill {p.status.lower()}: {p.materialized}/{p.targeted} asset partitions materialized, "
            f"{p.in_progress} in progress, {p.failed} failed{rows_text}"
        )
        if line != last_line or now - last_reminder >= 300:
            still = f" (no change for {quiet_s / 60:.0f} min)" if quiet_s >= 300 else ""
            report(f"[{now - started:5.0f}s] {line}{still}")
            last_line, last_reminder = line, now
        if p.status in DONE:
            return p
        if stall_s and quiet_s >= stall_s:
            daemons = unhealthy_daemons(url)
            hint = f"; daemons not running: {', '.join(daemons)}" if daemons else ""
            raise BackfillStalled(
                f"backfill {backfill_id} made no progress for {quiet_s / 60:.0f} min (still {p.status}, "
                f"{p.materialized}/{p.targeted} materialized, {p.in_progress} in progress{hint}); it stays in the "
                f"instance: {url}/runs/b/{backfill_id} (HITCRAFT_BACKFILL_STALL_MINUTES sets how long to wait)"
            )
        time.sleep(poll_s)


_FAILED_RUNS = """
query FailedRuns($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}], statuses: [FAILURE]}) {
    __typename
    ... on Runs { results { runId tags { key value } } }
    ... on PythonError { message }
  }
}"""

_RUN_FAILURES = """
query RunFailures($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey error { message cause { message } } }
        ... on RunFailureEvent { message }
        ... on EngineEvent { message error { message } }
      }
    }
    ... on PythonError { message }
  }
}"""


def _first_line(text: str | None, limit: int = 300) -> str:
    """The first line of an error, its exception class without the module path (`MixpanelError: 401 …`)."""
    line = next((part.strip() for part in (text or "").splitlines() if part.strip()), "")
    line = re.sub(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )", "", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def run_failures(url: str, run_id: str) -> list[str]:
    """Each failed step's error of a run (the user code's message, not Dagster's wrapper); when no step failed,
    why the run failed (e.g. it did not start)."""
    steps, run_reasons, engine_errors, cursor = [], [], [], None
    while True:
        data = _graphql(url, _RUN_FAILURES, {"runId": run_id, "cursor": cursor})["logsForRun"]
        if data["__typename"] != "EventConnection":
            return [f"run {run_id[:8]}: {_first_line(data.get('message'))}"]
        for event in data["events"]:
            kind = event["__typename"]
            if kind == "ExecutionStepFailureEvent":
                error = event.get("error") or {}
                message = (error.get("cause") or {}).get("message") or error.get("message")
                steps.append(f"step {event['stepKey']} failed: {_first_line(message)}")
            elif kind == "RunFailureEvent":
                run_reasons.append(_first_line(event.get("message")))
            elif kind == "EngineEvent" and event.get("error"):
                engine_errors.append(_first_line(event["error"].get("message")))
        if not data.get("hasMore"):
            break
        cursor = data["cursor"]
    if steps:
        return steps
    reason = "; ".join(dict.fromkeys(r for r in run_reasons + engine_errors if r)) or "no error recorded"
    return [f"run {run_id[:8]} failed: {reason}"]


def failure_details(url: str, backfill_id: str, *, limit: int = 10) -> list[str]:
    """Why a backfill failed: each failed step's error over the backfill's failed runs, without repeats."""
    data = _graphql(url, _FAILED_RUNS, {"id": backfill_id})["runsOrError"]
    if data["__typename"] != "Runs":
        return [f"(failed runs not available: {_first_line(data.get('message'))})"]
    lines: dict[str, None] = {}
    for run in data["results"]:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        if tags.get("dagster/will_retry") == "true":
            continue  # its retry tells the story
        for line in run_failures(url, run["runId"]):
            lines.setdefault(line, None)
    out = list(lines)
    return out[:limit] + ([f"… and {len(out) - limit} more"] if len(out) > limit else [])


_INSTANCE = """
{
  instance { info }
  runsOrError(limit: 1) { __typename ... on Runs { results { runId } } }
}"""

_HAS_RUN = "query HasRun($id: ID!) { runOrError(runId: $id) { __typename } }"


def _served_dagster_home(info: str | None) -> Path | None:
    """DAGSTER_HOME of the webserver's instance, from its instance info (the local artifact storage's folder)."""
    import yaml

    try:
        return Path(yaml.safe_load(info)["local_artifact_storage"]["config"]["base_dir"]).resolve()
    except (TypeError, KeyError, AttributeError, yaml.YAMLError):
        return None


def instance_mismatch(url: str, instance, dagster_home: Path) -> str | None:
    """None when the webserver at `url` serves `instance` (the two share run storage, or, while neither holds a
    run, the webserver's instance lives in `dagster_home`); else a message naming both homes."""
    data = _graphql(url, _INSTANCE)
    theirs_home = _served_dagster_home(data["instance"]["info"])
    ours = [r.run_id for r in instance.get_runs(limit=1)]
    theirs = [r["runId"] for r in (data["runsOrError"].get("results") or [])]
    if ours:
        shared = _graphql(url, _HAS_RUN, {"id": ours[0]})["runOrError"]["__typename"] == "Run"
    elif theirs:
        shared = instance.has_run(theirs[0])
    else:
        shared = None  # two empty instances: only their homes tell them apart
    if shared or (shared is None and theirs_home == dagster_home.resolve()):
        return None
    ours_text = f"HITCRAFT_HOME {dagster_home.resolve().parent} (DAGSTER_HOME {dagster_home.resolve()})"
    if theirs_home is None:
        theirs_text = "another Dagster instance (it does not show its DAGSTER_HOME)"
    elif theirs_home.name == "dagster":
        theirs_text = f"the instance of HITCRAFT_HOME {theirs_home.parent} (DAGSTER_HOME {theirs_home})"
    else:
        theirs_text = f"the instance in DAGSTER_HOME {theirs_home}"
    return (
        f"the Dagster webserver at {url} serves {theirs_text}, not this one, {ours_text}: stop it, start "
        "`hitcraft dev` for this home, or pass --url of this home's webserver (a backfill goes to the instance of "
        "the webserver it is sent to)"
    )


def missing_days(first: date, last: date) -> list[date]:
    """Days in first..last with no materialization of mixpanel/raw_events in the instance."""
    import dagster as dg

    from hitcraft_assets.defs.ingest.assets import RAW_EVENTS

    instance = dg.DagsterInstance.get()
    done = instance.get_materialized_partitions(RAW_EVENTS)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [d for d in days if d.isoformat() not in done]


@dataclass
class CheckTally:
    passed: int = 0
    failed: int = 0
    warned: int = 0
    failures: list[str] = field(default_factory=list)


def check_results(backfill_id: str) -> CheckTally:
    """Asset-check evaluations recorded by the backfill's runs."""
    import dagster as dg

    instance = dg.DagsterInstance.get()
    tally = CheckTally()
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    for run in runs:
        records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
        for record in records:
            evaluation = record.event_log_entry.dagster_event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if evaluation.passed:
                tally.passed += 1
            elif evaluation.severity == dg.AssetCheckSeverity.WARN:
                tally.warned += 1
                tally.failures.append(f"warn  {name}: {evaluation.description or ''}")
            else:
                tally.failed += 1
                tally.failures.append(f"ERROR {name}: {evaluation.description or ''}")
    return tally
