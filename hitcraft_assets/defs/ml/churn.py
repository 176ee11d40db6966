"""ml/churn_model (weekly retrain with a promotion gate) and ml/churn_scores (daily scores with reasons)."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from hitcraft_assets import settings
from hitcraft_assets.defs.ml import common
from hitcraft_assets.defs.resources import WarehouseResource
from hitcraft_assets.store import ml_tables as tables
from hitcraft_assets.store import warehouse as wh

MODEL_KEY = dg.AssetKey(["ml", "churn_model"])
SCORES_KEY = dg.AssetKey(["ml", "churn_scores"])
#: Days at the end of the data still filling with late events (Mixpanel: up to 5 days; most within 1–2): the
#: held-out label window ends before them, so that not-yet-arrived activity does not count as churn.
LATE_DAYS = 3


@dg.asset(
    key=MODEL_KEY,
    deps=[common.USER_DAILY_ACTIVITY, common.DIM_USERS],
    kinds={"xgboost", "scikit-learn", "postgres"},
    group_name=common.ML_GROUP,
    check_specs=[dg.AssetCheckSpec("churn_model_promotion", asset=MODEL_KEY)],
)
def churn_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """XGBoost churn model trained on up to four weekly past cutoffs and evaluated on a later, time-separated
    cutoff (label: active in the 28 days before the cutoff, no core event in the next 14; the label window ends
    LATE_DAYS before the newest data, which may still receive late events), next to a logistic
    baseline and the currently promoted model re-scored on the same held-out users. Every version (model bytes,
    metrics, feature list) is kept in ml.churn_model_versions; a version worse than the baseline or the current
    model is stored but not promoted, and the check `churn_model_promotion` fails."""
    import pandas as pd

    from hitcraft_assets.analytics.charts import calibration_chart_png
    from hitcraft_assets.analytics.churn_features import build_churn_features, build_churn_labels
    from hitcraft_assets.analytics.churn_model import (
        evaluate_churn_predictions,
        score_users,
        should_promote,
        suggest_cutoffs,
        train_churn_model,
    )
    from hitcraft_assets.store import marts

    url = warehouse.url()
    activity = marts.user_daily_activity(url)
    users = marts.dim_users(url)
    if activity.empty:
        raise dg.Failure("marts.user_daily_activity is empty: materialize the dbt models first")
    try:
        last_complete = max(activity["activity_date"]) - timedelta(days=LATE_DAYS)
        train_cutoffs, eval_cutoff = suggest_cutoffs(activity, last_complete_day=last_complete)
    except ValueError as exc:
        # A young warehouse: say so and keep the promoted model (if any) rather than failing every run.
        reason = f"not trained: {exc} (a training and a held-out cutoff need about 60 days of activity)"
        context.log.warning(reason)
        return dg.MaterializeResult(
            metadata={"trained": False, "reason": reason},
            check_results=[common.too_little_data("churn_model_promotion", reason, "no new model: too little history")],
        )
    context.log.info(f"training on cutoffs {[str(c) for c in train_cutoffs]}, evaluating on {eval_cutoff}")
    result = train_churn_model(activity, users, train_cutoffs, eval_cutoff)
    metrics = dict(result.metrics)

    current = tables.promoted_model(url)
    if current is not None:
        features = build_churn_features(activity, users, eval_cutoff)
        labels = build_churn_labels(activity, eval_cutoff)
        scored = score_users(current["model_bytes"], features, current["feature_list"]).merge(labels, on="user_key")
        metrics["current"] = evaluate_churn_predictions(
            scored["churned"].to_numpy(), scored["churn_probability"].to_numpy()
        ) | {"version": current["version"]}
    promote, decision = should_promote(
        metrics["xgboost"], metrics["logistic_baseline"], metrics.get("current") if current else None
    )
    trained_at = datetime.now(UTC)
    version = f"{trained_at:%Y%m%dT%H%M%S}-{hashlib.sha256(result.model_bytes).hexdigest()[:8]}"
    row = pd.DataFrame(
        [
            {
                "version": version,
                "trained_at": trained_at.isoformat(),
                "train_cutoffs": [str(c) for c in result.train_cutoffs],
                "eval_cutoff": result.eval_cutoff,
                "train_size": result.train_size,
                "eval_size": result.eval_size,
                "metrics": json.loads(json.dumps(metrics, default=float)),
                "feature_list": list(result.feature_list),
                "model_bytes": result.model_bytes,
                "promoted": bool(promote),
                "decision": decision,
            }
        ]
    )
    wh.replace_rows(tables.CHURN_MODEL_VERSIONS, row, where="version = %(v)s", params={"v": version}, url=url)
    context.log.info(f"churn model {version}: {'promoted' if promote else 'NOT promoted'} ({decision})")

    comparison = pd.DataFrame(
        [{"model": name, **{k: v for k, v in m.items() if k != "version"}} for name, m in metrics.items()]
    )
    png = calibration_chart_png(result.calibration, title=f"Calibration on {result.eval_cutoff} (held out)")
    return dg.MaterializeResult(
        metadata={
            "trained": True,
            "version": version,
            "promoted": bool(promote),
            "decision": decision,
            "train_cutoffs": ", ".join(str(c) for c in result.train_cutoffs),
            "eval_cutoff": str(result.eval_cutoff),
            "train_size": result.train_size,
            "eval_size": result.eval_size,
            "features": len(result.feature_list),
            "roc_auc": float(metrics["xgboost"]["roc_auc"]),
            "pr_auc": float(metrics["xgboost"]["pr_auc"]),
            "brier": float(metrics["xgboost"]["brier"]),
            "base_rate": float(metrics["xgboost"]["base_rate"]),
            "baseline_roc_auc": float(metrics["logistic_baseline"]["roc_auc"]),
            "models_side_by_side": dg.MetadataValue.md(common.table_markdown(comparison, floatfmt=".4f")),
            "calibration": dg.MetadataValue.md(common.png_markdown(png, "calibration")),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="churn_model_promotion",
                passed=bool(promote),
                metadata={"decision": decision, "version": version},
                description="the new model is not worse than the logistic baseline or the promoted model",
            )
        ],
    )


@dg.asset(
    key=SCORES_KEY,
    deps=[MODEL_KEY, common.USER_DAILY_ACTIVITY, common.DIM_USERS],
    kinds={"xgboost", "pandas", "postgres"},
    check_specs=[dg.AssetCheckSpec("churn_scores_valid", asset=SCORES_KEY)],
    **common.daily_asset_kwargs(),
)
def churn_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """For each day of the window, every user active in the 28 days up to it scored by the promoted churn model
    with data through that day: probability, risk tier (low < 0.3 <= medium < 0.6 <= high) and the three
    strongest reasons in plain words. Tables ml.churn_scores and ml.churn_risk_by_segment (users, mean probability
    and high-risk share per role, experience, channel, platform, country), replaced for the window's days."""
    import pandas as pd

    from hitcraft_assets.analytics.churn_features import build_churn_features
    from hitcraft_assets.analytics.churn_model import risk_by_segment, score_users
    from hitcraft_assets.store import marts

    days = common.window_days(context)
    url = warehouse.url()
    model = tables.promoted_model(url)
    if model is None:
        reason = "no promoted churn model yet (ml/churn_model trains once about 60 days of activity exist)"
        context.log.warning(reason)
        return dg.MaterializeResult(
            metadata={"scored": False, "reason": reason, "date_range": f"{days[0]}..{days[-1]}"},
            check_results=[common.too_little_data("churn_scores_valid", reason, "no scores: no promoted model")],
        )
    # all history: the lifetime features (ever subscribed, ever rendered …) must match training
    activity = marts.user_daily_activity(url, None, days[-1])
    users = marts.dim_users(url)
    frames, risk_frames = [], []
    for day in days:
        features = build_churn_features(activity, users, day + timedelta(days=1))
        day_scores = score_users(model["model_bytes"], features, model["feature_list"]).assign(score_date=day)
        frames.append(day_scores)
        risk_frames.append(risk_by_segment(day_scores, users).assign(score_date=day))
    scores = pd.concat(frames, ignore_index=True).assign(model_version=model["version"])
    risks = pd.concat(risk_frames, ignore_index=True)
    written = wh.replace_rows(
        tables.CHURN_SCORES,
        scores[tables.CHURN_SCORES.column_names],
        where="score_date between %(first)s and %(last)s",
        params={"first": days[0], "last": days[-1]},
        url=url,
    )
    wh.replace_rows(
        tables.CHURN_RISK_BY_SEGMENT,
        risks[tables.CHURN_RISK_BY_SEGMENT.column_names],
        where="score_date between %(first)s and %(last)s",
        params={"first": days[0], "last": days[-1]},
        url=url,
    )
    latest = scores[scores["score_date"] == days[-1]]
    segments = risks[risks["score_date"] == days[-1]].drop(columns=["score_date"])
    tiers = latest["risk_tier"].value_counts().to_dict()
    context.log.info(f"churn scores {days[0]}..{days[-1]}: {written} rows; {days[-1]}: {tiers}")
    probabilities = scores["churn_probability"]
    valid = bool(probabilities.between(0, 1).all() and scores["risk_tier"].isin(["low", "medium", "high"]).all())
    channel_risk = segments[segments["segment_type"] == "acquisition_channel"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "date_range": f"{days[0]}..{days[-1]}",
            "model_version": model["version"],
            "users_scored_last_day": len(latest),
            "high_risk_last_day": int(tiers.get("high", 0)),
            "medium_risk_last_day": int(tiers.get("medium", 0)),
            "low_risk_last_day": int(tiers.get("low", 0)),
            "mean_probability_last_day": float(latest["churn_probability"].mean()) if len(latest) else 0.0,
            "risk_by_channel": dg.MetadataValue.md(common.table_markdown(channel_risk)),
            "riskiest_segments": dg.MetadataValue.md(
                common.table_markdown(segments.sort_values("mean_churn_probability", ascending=False), max_rows=10)
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="churn_scores_valid",
                passed=bool(valid and len(scores) > 0),
                metadata={"rows": len(scores), "min": float(probabilities.min()), "max": float(probabilities.max())},
                description="probabilities in [0, 1], tiers low/medium/high, at least one user scored",
            )
        ],
    )


churn_model_job = dg.define_asset_job("churn_model_retrain", selection=[MODEL_KEY])
churn_model_schedule = dg.ScheduleDefinition(
    name="weekly_churn_model",
    job=churn_model_job,
    cron_schedule="0 5 * * 1",  # Mondays 05:00, an hour after the daily ingest
    execution_timezone=settings.reporting_timezone(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
