"""Churn model: XGBoost trained on stacked past cutoffs, evaluated on a later, time-separated cutoff against a
standardized logistic-regression baseline; promotion gate; scoring with risk tiers and plain-word reasons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hitcraft_assets.analytics.churn_features import (
    DEFAULT_CONFIG,
    ONE_HOT_SEPARATOR,
    ChurnConfig,
    align_features,
    build_churn_features,
    build_churn_labels,
    feature_columns,
    prepare_activity,
    prepare_users,
    to_day,
)
from hitcraft_assets.analytics.churn_reasons import top_reasons

MODEL_NAME = "xgboost"
BASELINE_NAME = "logistic_baseline"
RISK_TIERS = ("low", "medium", "high")


@dataclass(frozen=True)
class ChurnModelParams:
    """XGBoost settings; modest depth and a fixed seed so training is reproducible byte for byte."""

    n_estimators: int = 300
    max_depth: int = 4
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 5.0
    reg_lambda: float = 1.0
    random_state: int = 0
    n_jobs: int = 2


@dataclass(frozen=True)
class ChurnTrainingResult:
    """Output of `train_churn_model`.

    model_bytes: the XGBoost booster as JSON (Booster.save_raw("json")); load with `load_booster`.
    feature_list: feature columns in model order (pass to `score_users`).
    metrics: {"xgboost": {...}, "logistic_baseline": {...}}, each with roc_auc, pr_auc (average precision),
        brier, log_loss, base_rate (observed churn share) and n, all on the held-out eval cutoff.
    calibration: per model and predicted-probability decile of the eval population: model, decile (1..10),
        count, mean_predicted, observed_rate.
    train_size / eval_size: rows (user x cutoff) in the training stack / users at the eval cutoff.
    """

    model_bytes: bytes
    feature_list: tuple[str, ...]
    metrics: dict[str, dict[str, float]]
    calibration: pd.DataFrame
    train_size: int
    eval_size: int
    train_base_rate: float
    train_cutoffs: tuple[date, ...]
    eval_cutoff: date
    params: ChurnModelParams = field(default_factory=ChurnModelParams)


def build_training_frame(
    activity: pd.DataFrame, users: pd.DataFrame, cutoffs: Sequence[date], config: ChurnConfig = DEFAULT_CONFIG
) -> pd.DataFrame:
    """Features and labels of several cutoffs stacked: cutoff (datetime64 day), user_key, churned (0/1), then the
    `build_churn_features` columns (one-hot columns absent at a cutoff are 0). Inputs as in `build_churn_features`;
    every label window must be covered by the activity (see `build_churn_labels`)."""
    act, dims = prepare_activity(activity), prepare_users(users, config)
    frames = []
    for cutoff in sorted({to_day(c) for c in cutoffs}):
        features = build_churn_features(act, dims, cutoff, config)
        labels = build_churn_labels(act, cutoff, config)
        frame = labels.merge(features, on="user_key", how="inner", validate="one_to_one")
        frames.append(frame.assign(cutoff=cutoff))
    if not frames:
        raise ValueError("no cutoffs given")
    stacked = pd.concat(frames, ignore_index=True)
    one_hot = [c for c in feature_columns(stacked) if ONE_HOT_SEPARATOR in c]
    stacked[one_hot] = stacked[one_hot].fillna(0.0)
    first = ["cutoff", "user_key", "churned"]
    return stacked[first + [c for c in stacked.columns if c not in first]]


def suggest_cutoffs(
    activity: pd.DataFrame,
    config: ChurnConfig = DEFAULT_CONFIG,
    n_train: int = 4,
    step_days: int = 7,
    last_complete_day: date | None = None,
) -> tuple[list[date], date]:
    """Cutoffs that fit the data: eval = last_complete_day - horizon_days + 1 (its label window ends on that day;
    default: the last activity day); training cutoffs every `step_days` back from eval - horizon_days (label
    windows do not overlap the eval one), at most `n_train`, each with `active_window_days` of data before it.
    Returns (train_cutoffs ascending, eval_cutoff). ValueError when not even one training cutoff fits. Events
    arrive up to days late: pass a last_complete_day before the still-filling days."""
    dates = pd.to_datetime(activity["activity_date"])
    first = dates.min().normalize()
    last = to_day(last_complete_day) if last_complete_day is not None else dates.max().normalize()
    eval_cutoff = last - pd.Timedelta(days=config.horizon_days - 1)
    train = []
    cutoff = eval_cutoff - pd.Timedelta(days=config.horizon_days)
    while len(train) < n_train and cutoff - pd.Timedelta(days=config.active_window_days) >= first:
        train.append(cutoff.date())
        cutoff -= pd.Timedelta(days=step_days)
    if not train:
        raise ValueError(f"activity {first.date()}..{last.date()} is too short for a training and an eval cutoff")
    return sorted(train), eval_cutoff.date()


def train_churn_model(
    activity: pd.DataFrame,
    users: pd.DataFrame,
    train_cutoffs: Sequence[date],
    eval_cutoff: date,
    config: ChurnConfig = DEFAULT_CONFIG,
    params: ChurnModelParams = ChurnModelParams(),
) -> ChurnTrainingResult:
    """Train XGBoost on the stacked populations of `train_cutoffs`, evaluate it and a logistic baseline on
    `eval_cutoff`.

    activity, users: user_daily_activity and dim_users (see `build_churn_features`); the activity must cover the
    eval label window. Every training label window must end before the eval cutoff
    (train_cutoff + horizon_days <= eval_cutoff), else ValueError. ValueError too when the training or the eval
    population has a single class (AUC undefined). The baseline is StandardScaler + LogisticRegression on the
    same features (NaN imputed with the training median). Deterministic for the same inputs.
    """
    eval_day = to_day(eval_cutoff)
    train_days = sorted({to_day(c) for c in train_cutoffs})
    if not train_days:
        raise ValueError("no training cutoffs given")
    overlapping = [d.date() for d in train_days if d + pd.Timedelta(days=config.horizon_days) > eval_day]
    if overlapping:
        raise ValueError(
            f"training cutoffs {overlapping} have label windows ({config.horizon_days} days) reaching the eval "
            f"cutoff {eval_day.date()}: choose training cutoffs <= eval_cutoff - {config.horizon_days} days"
        )
    train = build_training_frame(activity, users, train_days, config)
    held_out = build_training_frame(activity, users, [eval_day], config)
    _require_two_classes(train["churned"], f"training population at {[d.date() for d in train_days]}")
    _require_two_classes(held_out["churned"], f"eval population at {eval_day.date()}")

    feature_list = tuple(feature_columns(train))
    x_train, y_train = align_features(train, feature_list), train["churned"].to_numpy()
    x_eval, y_eval = align_features(held_out, feature_list), held_out["churned"].to_numpy()

    model = xgb.XGBClassifier(
        tree_method="hist",
        objective="binary:logistic",
        eval_metric="logloss",
        n_estimators=params.n_estimators,
        max_depth=params.max_depth,
        learning_rate=params.learning_rate,
        subsample=params.subsample,
        colsample_bytree=params.colsample_bytree,
        min_child_weight=params.min_child_weight,
        reg_lambda=params.reg_lambda,
        random_state=params.random_state,
        n_jobs=params.n_jobs,
    )
    model.fit(x_train, y_train)
    baseline = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=5000),
    )
    baseline.fit(x_train.to_numpy(), y_train)

    predictions = {
        MODEL_NAME: model.predict_proba(x_eval)[:, 1],
        BASELINE_NAME: baseline.predict_proba(x_eval.to_numpy())[:, 1],
    }
    return ChurnTrainingResult(
        model_bytes=bytes(model.get_booster().save_raw(raw_format="json")),
        feature_list=feature_list,
        metrics={name: evaluate_churn_predictions(y_eval, p) for name, p in predictions.items()},
        calibration=pd.concat(
            [calibration_table(y_eval, p).assign(model=name) for name, p in predictions.items()], ignore_index=True
        )[["model", "decile", "count", "mean_predicted", "observed_rate"]],
        train_size=len(train),
        eval_size=len(held_out),
        train_base_rate=float(y_train.mean()),
        train_cutoffs=tuple(d.date() for d in train_days),
        eval_cutoff=eval_day.date(),
        params=params,
    )


def _require_two_classes(labels: pd.Series, what: str) -> None:
    counts = labels.value_counts()
    if len(counts) < 2:
        only = "churned" if (counts.index == 1).all() else "retained"
        raise ValueError(
            f"{what} has only {only} users (n={len(labels)}): ROC-AUC/PR-AUC are undefined; pick another cutoff"
        )


def evaluate_churn_predictions(y_true: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """roc_auc, pr_auc (average precision), brier, log_loss, base_rate and n for 0/1 labels and probabilities.
    ValueError for a single-class `y_true`."""
    y = np.asarray(y_true, dtype=int)
    p = np.clip(np.asarray(probability, dtype=float), 1e-7, 1 - 1e-7)
    _require_two_classes(pd.Series(y), "evaluation set")
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "base_rate": float(y.mean()),
        "n": float(len(y)),
    }


def calibration_table(y_true: np.ndarray, probability: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Equal-count bins of the predicted probability (ties split by order): decile (1..bins), count,
    mean_predicted, observed_rate."""
    p = np.asarray(probability, dtype=float)
    order = np.argsort(p, kind="stable")
    decile = np.empty(len(p), dtype=int)
    decile[order] = np.arange(len(p)) * bins // max(len(p), 1) + 1
    frame = pd.DataFrame({"decile": decile, "p": p, "y": np.asarray(y_true, dtype=float)})
    table = frame.groupby("decile").agg(count=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
    return table.reset_index()


def should_promote(
    candidate_metrics: dict[str, float],
    baseline_metrics: dict[str, float],
    current_metrics: dict[str, float] | None = None,
    tolerance: float = 0.005,
) -> tuple[bool, str]:
    """Promotion gate: (True, reason) only when the candidate's roc_auc and pr_auc are each at least the
    baseline's and the currently promoted model's (if any) minus `tolerance`. Compare metrics computed on the
    same eval population (re-score the current model with `evaluate_churn_predictions` on it)."""
    for name, reference in (("logistic baseline", baseline_metrics), ("current model", current_metrics)):
        if reference is None:
            continue
        for metric in ("roc_auc", "pr_auc"):
            if candidate_metrics[metric] < reference[metric] - tolerance:
                return False, (
                    f"{metric} {candidate_metrics[metric]:.4f} is below the {name}'s {reference[metric]:.4f} "
                    f"(tolerance {tolerance})"
                )
    against = "the baseline" + (" and the current model" if current_metrics is not None else "")
    return True, (
        f"roc_auc {candidate_metrics['roc_auc']:.4f}, pr_auc {candidate_metrics['pr_auc']:.4f}: not worse than "
        f"{against} (tolerance {tolerance})"
    )


def load_booster(model_bytes: bytes) -> xgb.Booster:
    """An XGBoost Booster from `ChurnTrainingResult.model_bytes`."""
    booster = xgb.Booster()
    booster.load_model(bytearray(model_bytes))
    return booster


def score_users(
    model_bytes: bytes,
    features: pd.DataFrame,
    feature_list: Sequence[str],
    tiers: tuple[float, float] = (0.3, 0.6),
    n_reasons: int = 3,
) -> pd.DataFrame:
    """Churn probability, risk tier and reasons per user.

    features: `build_churn_features` output (user_key plus feature columns) at the scoring cutoff (usually the
        day after the last complete day). Columns are aligned to `feature_list` with `align_features`.
    tiers: (medium_from, high_from) probability cut points: p < medium_from -> "low", p < high_from -> "medium",
        else "high".
    Returns user_key, churn_probability (float), risk_tier (str), reason_1..reason_<n_reasons> (str, "" when
    fewer features raise this user's risk): the largest positive XGBoost contributions (pred_contribs), one-hot
    columns of one attribute and windows of one measure grouped, in words with the user's values, e.g.
    "no active day in the last 12 days", "acquired via tiktok". Sorted by churn_probability descending.
    """
    medium_from, high_from = tiers
    if not 0.0 <= medium_from <= high_from <= 1.0:
        raise ValueError(f"tiers must satisfy 0 <= medium <= high <= 1, got {tiers}")
    booster = load_booster(model_bytes)
    feature_list = list(feature_list)
    if booster.feature_names is not None and list(booster.feature_names) != feature_list:
        raise ValueError("feature_list does not match the model's feature names")
    x = align_features(features, feature_list)
    reason_columns = [f"reason_{k + 1}" for k in range(n_reasons)]
    if x.empty:  # XGBoost returns a flat array for zero rows
        columns = ["user_key", "churn_probability", "risk_tier", *reason_columns]
        return pd.DataFrame({c: pd.Series(dtype=float if c == "churn_probability" else object) for c in columns})
    matrix = xgb.DMatrix(x.to_numpy(), feature_names=feature_list, missing=np.nan)
    probability = booster.predict(matrix).astype(float)
    contributions = booster.predict(matrix, pred_contribs=True)[:, :-1]  # last column is the bias
    tier = np.where(probability >= high_from, "high", np.where(probability >= medium_from, "medium", "low"))
    scores = pd.DataFrame(
        {"user_key": features["user_key"].astype(str).to_numpy(), "churn_probability": probability, "risk_tier": tier}
    )
    reasons = top_reasons(x, contributions, n_reasons)
    scores = pd.concat([scores, reasons], axis=1)
    return scores.sort_values(["churn_probability", "user_key"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def risk_by_segment(
    scores: pd.DataFrame,
    users: pd.DataFrame,
    segment_columns: Sequence[str] = ("role", "experience_level", "acquisition_channel", "platform", "country"),
) -> pd.DataFrame:
    """Scored users per segment.

    scores: `score_users` output (user_key, churn_probability, risk_tier). users: dim_users with user_key and
    the `segment_columns` (null/empty -> "unknown"; scored users absent from it are "unknown").
    Returns segment_type, segment_value, users, mean_churn_probability, high_risk_users, high_risk_share;
    sorted by segment_type, then mean_churn_probability descending.
    """
    dims = prepare_users(users, ChurnConfig(categorical_columns=tuple(segment_columns)))
    merged = scores[["user_key", "churn_probability", "risk_tier"]].merge(dims, on="user_key", how="left")
    merged["is_high"] = (merged["risk_tier"] == "high").astype(float)
    parts = []
    for column in segment_columns:
        grouped = merged.groupby(merged[column].fillna("unknown").rename("segment_value"))
        part = grouped.agg(
            users=("user_key", "size"),
            mean_churn_probability=("churn_probability", "mean"),
            high_risk_users=("is_high", "sum"),
        ).reset_index()
        parts.append(part.assign(segment_type=column))
    table = pd.concat(parts, ignore_index=True)
    table["high_risk_users"] = table["high_risk_users"].astype(int)
    table["high_risk_share"] = table["high_risk_users"] / table["users"]
    table = table.sort_values(["segment_type", "mean_churn_probability"], ascending=[True, False], kind="stable")
    columns = ["segment_type", "segment_value", "users", "mean_churn_probability", "high_risk_users"]
    return table[[*columns, "high_risk_share"]].reset_index(drop=True)
