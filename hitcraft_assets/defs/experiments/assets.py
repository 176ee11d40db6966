"""experiments/readouts and ai/generation_attribution: daily assets over the dbt experiment and AI marts."""

from datetime import timedelta

import dagster as dg

from hitcraft_assets import settings
from hitcraft_assets.defs.dbt.assets import model_key
from hitcraft_assets.defs.ml import common
from hitcraft_assets.defs.resources import WarehouseResource
from hitcraft_assets.store import experiments as store

EXPOSURES = model_key("experiment_exposures")
OUTCOMES = model_key("experiment_user_outcomes")
GENERATIONS = model_key("ai_generations")
READOUTS_KEY = dg.AssetKey(["experiments", "readouts"])
AI_KEY = dg.AssetKey(["ai", "generation_attribution"])
ATTRIBUTION_DAYS = 28  # outcomes by model / prompt version / capability / intent over the trailing 28 days
MAX_TWO_VARIANT_SHARE = 0.01  # more users exposed to two variants than this: assignment is not sticky


def _daily(group: str) -> dict:
    return {**common.daily_asset_kwargs(), "group_name": group}


@dg.asset(
    key=READOUTS_KEY,
    deps=[EXPOSURES, OUTCOMES],
    kinds={"pandas", "postgres"},
    check_specs=[
        dg.AssetCheckSpec(
            "experiment_srm",
            asset=READOUTS_KEY,
            description="no experiment's split of users mismatches its design (chi-square)",
        ),
        dg.AssetCheckSpec(
            "exposure_consistency",
            asset=READOUTS_KEY,
            description="sticky assignment and outcomes exactly for the exposed, non-excluded users",
        ),
    ],
    **_daily("experiments"),
)
def readouts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """For each day of the partition window and each experiment exposed by then: per metric (seed
    experiment_metrics) and variant against control, the effect with fixed-horizon, CUPED and always-valid
    intervals, Benjamini-Hochberg over the metrics, the sample-ratio-mismatch test and the decision (ship / stop /
    keep running, with the date the needed sample is expected). Tables experiments.readouts and
    experiments.experiment_summaries, replaced for the window's days."""
    import pandas as pd

    from hitcraft_assets.analytics.experiments.metrics import experiment_designs
    from hitcraft_assets.analytics.experiments.readout import read_experiment

    cfg = settings.experiment_settings()
    designs = experiment_designs()  # seed experiment_designs: designed split and primary metric
    url = warehouse.url()
    days = common.window_days(context)
    exposures = store.exposures(url)
    outcomes = store.outcomes(url)
    summaries, rows = [], []
    for day in days:
        started = exposures[pd.to_datetime(exposures["first_exposure_date"]).dt.date <= day]
        for name in sorted(started["experiment_name"].unique()):
            design = designs.get(name)
            r = read_experiment(
                name,
                exposures,
                outcomes,
                day,
                alpha=cfg.alpha,
                srm_alpha=cfg.srm_alpha,
                expected_shares=design.weights if design else None,
                primary_metric=design.primary_metric if design else None,
            )
            summaries.append(_summary_row(r))
            rows.extend({**m, "as_of": day} for m in r.metric_rows())
    summary = pd.DataFrame(summaries, columns=store.SUMMARIES.column_names)
    readout = pd.DataFrame(rows).reindex(columns=store.READOUTS.column_names)
    where = "as_of between %(a)s and %(b)s"
    window = {"a": days[0], "b": days[-1]}
    from hitcraft_assets.store import warehouse as wh

    wh.replace_rows(store.SUMMARIES, summary, where=where, params=window, url=url)
    written = wh.replace_rows(store.READOUTS, readout, where=where, params=window, url=url)
    n_hyp, n_linked = _hypotheses(url, summary, days[-1])
    last = summary[summary["as_of"] == days[-1]] if len(summary) else summary
    flagged = last[~last["trustworthy"].astype(bool)] if len(last) else last
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "date_range": f"{days[0]}..{days[-1]}",
            "experiments": len(last),
            "decisions": dg.MetadataValue.md(
                common.table_markdown(
                    last[
                        [
                            "experiment",
                            "status",
                            "decision",
                            "srm_p_value",
                            "trustworthy",
                            "users_per_arm_now",
                            "needed_users_per_arm",
                            "expected_date",
                        ]
                    ]
                    if len(last)
                    else last
                )
            ),
            "srm_flagged": ", ".join(flagged["experiment"]) if len(flagged) else "none",
            "hypotheses": n_hyp,
            "hypotheses_linked_to_an_experiment": n_linked,
        }
    )
    yield dg.AssetCheckResult(
        check_name="experiment_srm",
        passed=len(flagged) == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "flagged": ", ".join(flagged["experiment"]) if len(flagged) else "none",
            "details": dg.MetadataValue.md(
                common.table_markdown(
                    flagged[["experiment", "srm_p_value", "srm_segment", "srm_segment_p_value", "summary"]]
                    if len(flagged)
                    else flagged
                )
            ),
            "srm_alpha": cfg.srm_alpha,
        },
        description="a flagged experiment's results are untrustworthy (its readout says so first)",
    )
    yield _consistency_check(exposures, outcomes)


def _hypotheses(url: str, summary, as_of) -> tuple[int, int]:
    """Store the insight library's recommended A/B tests as hypotheses and link those an experiment now tests."""
    from hitcraft_assets.analytics.experiments.hypotheses import hypotheses_from_insights, link_hypotheses
    from hitcraft_assets.store import insight_library

    library = insight_library.read(url) if insight_library.exists(url) else None
    frame = hypotheses_from_insights(library, store.hypotheses(url))
    if frame.empty:
        return 0, 0
    frame = link_hypotheses(frame, store.latest_summaries(as_of, url) if len(summary) else summary, as_of)
    store.upsert_hypotheses(frame, url)
    return len(frame), int(frame["experiment"].notna().sum())


def _summary_row(r) -> dict:
    return {
        "as_of": r.as_of,
        "experiment": r.experiment,
        "control": r.control,
        "variants": r.variants,
        "excluded_users": r.excluded_users,
        "first_exposure": r.first_exposure,
        "last_exposure": r.last_exposure,
        "status": r.status,
        "srm_p_value": r.srm.p_value,
        "srm_segment": r.srm.segment,
        "srm_segment_p_value": r.srm.segment_p_value,
        "trustworthy": r.trustworthy,
        "decision": r.decision,
        "reason": r.reason,
        "summary": r.summary(),
        "winner": r.winner,
        "primary_metric": r.primary_metric,
        "needed_users_per_arm": r.needed_users_per_arm,
        "users_per_arm_now": r.users_per_arm_now,
        "expected_date": r.expected_date,
    }


def _consistency_check(exposures, outcomes) -> dg.AssetCheckResult:
    total = len(exposures)
    two = int(exposures["is_excluded"].astype(bool).sum()) if total else 0
    kept = exposures[~exposures["is_excluded"].astype(bool)] if total else exposures
    kept_keys = set(zip(kept["experiment_name"], kept["user_key"]))
    out_keys = set(zip(outcomes["experiment_name"], outcomes["user_key"]))
    share = two / total if total else 0.0
    problems = []
    if share > MAX_TWO_VARIANT_SHARE:
        problems.append(f"{share:.1%} of exposed users saw two variants (> {MAX_TWO_VARIANT_SHARE:.0%})")
    if out_keys - kept_keys:
        problems.append(f"{len(out_keys - kept_keys)} outcome rows without a kept exposure")
    if kept_keys - out_keys:
        problems.append(f"{len(kept_keys - out_keys)} kept exposures without an outcome row")
    return dg.AssetCheckResult(
        check_name="exposure_consistency",
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "exposed_users": total,
            "two_variant_users": two,
            "two_variant_share": share,
            "outcome_rows": len(outcomes),
            "problems": "; ".join(problems) or "none",
        },
    )


@dg.asset(key=AI_KEY, deps=[GENERATIONS], kinds={"pandas", "postgres"}, **_daily("ai"))
def generation_attribution(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """AI attribution from marts.ai_generations: as of the window's last day, outcome metrics (completion, failure,
    latency p50/p95, likes ratio, download rate) by model, prompt version, capability and intent over the trailing
    28 days, and each detected rollout (a version first seen on a day) compared by difference in differences with
    users still on the previous version, overall and per platform; for every day of the window, per-model anomaly
    flags on failure rate and latency. Tables experiments.ai_outcomes, ai_rollouts, ai_model_anomalies."""
    import pandas as pd

    from hitcraft_assets.analytics import ai_attribution as ai
    from hitcraft_assets.store import warehouse as wh

    url = warehouse.url()
    days = common.window_days(context)
    last = days[-1]
    gen = store.generations(since=days[0] - timedelta(days=56 + ATTRIBUTION_DAYS), url=url)
    gen = gen[pd.to_datetime(gen["event_date"]).dt.date <= last]
    recent = gen[pd.to_datetime(gen["event_date"]).dt.date > last - timedelta(days=ATTRIBUTION_DAYS)]
    parts = []
    for dim in ai.DIMENSIONS:
        o = ai.outcomes_by(recent.dropna(subset=[dim]), [dim]).rename(columns={dim: "value"})
        parts.append(o.assign(dimension=dim, as_of=last))
    outcomes = pd.concat(parts, ignore_index=True).reindex(columns=store.AI_OUTCOMES.column_names)
    rollouts = ai.detect_rollouts(gen) if len(gen) else []
    did = [ai.rollout_did(gen, r) for r in rollouts]
    did = pd.concat([d for d in did if len(d)], ignore_index=True) if any(len(d) for d in did) else pd.DataFrame()
    did = (
        did.rename(columns={"column": "column_name"}).assign(as_of=last).reindex(columns=store.AI_ROLLOUTS.column_names)
    )
    flags = ai.model_anomalies(ai.daily_model_metrics(gen), days=days) if len(gen) else pd.DataFrame()
    flags = flags.rename(columns={"segment_value": "model"}).reindex(columns=store.AI_ANOMALIES.column_names)
    n_out = store.write_day(store.AI_OUTCOMES, outcomes, last, url=url)
    store.write_day(store.AI_ROLLOUTS, did, last, url=url)
    wh.replace_rows(
        store.AI_ANOMALIES,
        flags,
        where="metric_date between %(a)s and %(b)s",
        params={"a": days[0], "b": last},
        url=url,
    )
    worse = did[did["effect"] == "worse"] if len(did) else did
    better = did[did["effect"] == "better"] if len(did) else did
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n_out,
            "as_of": str(last),
            "generations": len(recent),
            "rollouts": dg.MetadataValue.md(
                common.table_markdown(
                    pd.DataFrame(
                        [
                            {
                                "type": r.generation_type,
                                "column": r.column,
                                "version": r.version,
                                "previous": r.previous,
                                "rollout_day": r.rollout_day,
                            }
                            for r in rollouts
                        ]
                    )
                )
            ),
            "regressions": dg.MetadataValue.md(
                common.table_markdown(
                    worse[["version", "segment_value", "outcome", "did", "p_value"]] if len(worse) else worse
                )
            ),
            "wins": dg.MetadataValue.md(
                common.table_markdown(
                    better[["version", "segment_value", "outcome", "did", "p_value"]] if len(better) else better
                )
            ),
            "model_anomalies": int(flags["is_anomaly"].astype(bool).sum()) if len(flags) else 0,
        }
    )
