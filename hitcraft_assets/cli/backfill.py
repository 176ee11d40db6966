"""Backfills through the Dagster instance (GraphQL on the webserver), with progress and a summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

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


def wait(
    url: str,
    backfill_id: str,
    report: Callable[[str], None],
    *,
    poll_s: float = 3.0,
    timeout_s: float = 3600,
    rows_so_far: Callable[[], int] | None = None,
) -> BackfillProgress:
    """Poll until the backfill ends, reporting partitions done, rows loaded and elapsed time on change."""
    started = time.monotonic()
    last_line = ""
    while True:
        p = progress(url, backfill_id)
        rows = f", {rows_so_far():,} raw rows loaded" if rows_so_far else ""
        line = (
            f"[{time.monotonic() - started:5.0f}s] backfill {p.status.lower()}: "
            f"{p.materialized}/{p.targeted} asset partitions materialized, {p.in_progress} in progress, "
            f"{p.failed} failed{rows}"
        )
        if line.split("] ", 1)[1] != last_line:
            report(line)
            last_line = line.split("] ", 1)[1]
        if p.status in DONE:
            return p
        if time.monotonic() - started > timeout_s:
            raise BackfillError(f"backfill {backfill_id} still {p.status} after {timeout_s:.0f}s")
        time.sleep(poll_s)


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
