"""Warehouse tables (schema `ml`) written by the ML assets; created on first write."""

from hitcraft_assets.warehouse import Table

SCHEMA = "ml"

ANOMALY_FLAGS = Table(
    SCHEMA,
    "anomaly_flags",
    (
        ("metric_date", "date not null"),
        ("metric", "text not null"),
        ("segment_type", "text not null"),  # 'all' for the product-wide series
        ("segment_value", "text not null"),
        ("value", "double precision"),
        ("expected", "double precision"),
        ("lower_bound", "double precision"),
        ("upper_bound", "double precision"),
        ("severity", "double precision"),  # signed robust z-score
        ("direction", "text"),
        ("is_anomaly", "boolean not null"),
        ("guard", "text"),
        ("kind", "text"),
        ("denominator", "double precision"),
        ("root_cause", "text"),
        ("root_cause_segment_type", "text"),
        ("root_cause_segment_value", "text"),
    ),
    ("metric_date", "metric", "segment_type", "segment_value"),
)

ANOMALY_ROOT_CAUSES = Table(
    SCHEMA,
    "anomaly_root_causes",
    (
        ("metric_date", "date not null"),
        ("metric", "text not null"),
        ("segment_type", "text not null"),
        ("segment_value", "text not null"),
        ("value", "double precision"),
        ("expected", "double precision"),
        ("contribution", "double precision"),
        ("contribution_share", "double precision"),
        ("rank", "integer"),
        ("size", "double precision"),
        ("size_share", "double precision"),
        ("excess_share", "double precision"),
        ("z", "double precision"),
        ("p_value", "double precision"),
        ("significant", "boolean"),
    ),
    ("metric_date", "metric", "segment_type", "segment_value"),
)

METRIC_TRENDS = Table(
    SCHEMA,
    "metric_trends",
    (
        ("as_of", "date not null"),
        ("metric", "text not null"),
        ("window_days", "integer not null"),
        ("window_start", "date"),
        ("n_days", "integer"),
        ("test", "text"),
        ("trend", "text"),
        ("p_value", "double precision"),
        ("sen_slope_per_day", "double precision"),
        ("sen_slope_pct_per_week", "double precision"),
        ("window_mean", "double precision"),
        ("note", "text"),
    ),
    ("as_of", "metric", "window_days"),
)

METRIC_PERIOD_CHANGES = Table(
    SCHEMA,
    "metric_period_changes",
    (
        ("as_of", "date not null"),
        ("metric", "text not null"),
        ("comparison", "text not null"),  # wow | mom
        ("kind", "text"),
        ("current", "double precision"),
        ("previous", "double precision"),
        ("abs_change", "double precision"),
        ("rel_change", "double precision"),
        ("ci_low", "double precision"),
        ("ci_high", "double precision"),
        ("abs_ci_low", "double precision"),
        ("abs_ci_high", "double precision"),
        ("p_value", "double precision"),
        ("test", "text"),
        ("n_current", "double precision"),
        ("n_previous", "double precision"),
        ("note", "text"),
    ),
    ("as_of", "metric", "comparison"),
)

METRIC_CHANGE_POINTS = Table(
    SCHEMA,
    "metric_change_points",
    (
        ("as_of", "date not null"),
        ("metric", "text not null"),
        ("change_date", "date not null"),
        ("mean_before", "double precision"),
        ("mean_after", "double precision"),
        ("abs_change", "double precision"),
        ("rel_change", "double precision"),
        ("days_before", "integer"),
        ("days_after", "integer"),
    ),
    ("as_of", "metric", "change_date"),
)

METRIC_FORECASTS = Table(
    SCHEMA,
    "metric_forecasts",
    (
        ("as_of", "date not null"),
        ("metric", "text not null"),
        ("forecast_date", "date not null"),
        ("forecast", "double precision"),
        ("lower_bound", "double precision"),
        ("upper_bound", "double precision"),
        ("model", "text"),
        ("level", "double precision"),
    ),
    ("as_of", "metric", "forecast_date"),
)

CHURN_MODEL_VERSIONS = Table(
    SCHEMA,
    "churn_model_versions",
    (
        ("version", "text not null"),  # trained_at as yyyymmddThhmmss plus a hash of the model bytes
        ("trained_at", "timestamptz not null"),
        ("train_cutoffs", "jsonb not null"),
        ("eval_cutoff", "date not null"),
        ("train_size", "integer not null"),
        ("eval_size", "integer not null"),
        ("metrics", "jsonb not null"),  # xgboost, logistic_baseline, current (re-scored on the same eval users)
        ("feature_list", "jsonb not null"),
        ("model_bytes", "bytea not null"),
        ("promoted", "boolean not null"),
        ("decision", "text not null"),
    ),
    ("version",),
)

CHURN_SCORES = Table(
    SCHEMA,
    "churn_scores",
    (
        ("score_date", "date not null"),  # scores use data up to and including this day
        ("user_key", "text not null"),
        ("churn_probability", "double precision not null"),
        ("risk_tier", "text not null"),
        ("reason_1", "text"),
        ("reason_2", "text"),
        ("reason_3", "text"),
        ("model_version", "text not null"),
    ),
    ("score_date", "user_key"),
)

USER_PERSONAS = Table(
    SCHEMA,
    "user_personas",
    (
        ("week_start", "date not null"),
        ("user_key", "text not null"),
        ("persona", "text not null"),
        ("confidence", "double precision"),
        ("value", "double precision"),
        ("value_potential", "double precision"),
    ),
    ("week_start", "user_key"),
)

PERSONA_SUMMARY = Table(
    SCHEMA,
    "persona_summary",
    (
        ("week_start", "date not null"),
        ("persona", "text not null"),
        ("users", "integer not null"),
        ("share", "double precision"),
        ("mean_active_days", "double precision"),
        ("productions_per_user", "double precision"),
        ("lyrics_completed_per_user", "double precision"),
        ("subscription_rate", "double precision"),
        ("value_per_user", "double precision"),
        ("value_share", "double precision"),
    ),
    ("week_start", "persona"),
)

PERSONA_MIGRATION = Table(
    SCHEMA,
    "persona_migration",
    (
        ("week_start", "date not null"),
        ("from_persona", "text not null"),
        ("to_persona", "text not null"),
        ("users", "integer not null"),
        ("share_of_from", "double precision"),
    ),
    ("week_start", "from_persona", "to_persona"),
)

PERSONA_MODELS = Table(
    SCHEMA,
    "persona_models",
    (
        ("week_start", "date not null"),
        ("k", "integer not null"),
        ("personas", "jsonb not null"),  # cluster names in cluster order
        ("criteria", "jsonb not null"),  # silhouette and smallest cluster share per k tried
        ("model_pickle", "bytea not null"),  # the fitted PersonaModel (scaler + centres), next week's reference
    ),
    ("week_start",),
)

CHURN_RISK_BY_SEGMENT = Table(
    SCHEMA,
    "churn_risk_by_segment",
    (
        ("score_date", "date not null"),
        ("segment_type", "text not null"),
        ("segment_value", "text not null"),
        ("users", "integer not null"),
        ("mean_churn_probability", "double precision"),
        ("high_risk_users", "integer"),
        ("high_risk_share", "double precision"),
    ),
    ("score_date", "segment_type", "segment_value"),
)
