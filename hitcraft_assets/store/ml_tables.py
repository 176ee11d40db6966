"""Warehouse tables (schema `ml`) written by the ML assets; created on first write."""

from hitcraft_assets.store import warehouse
from hitcraft_assets.store.warehouse import Table

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


# Readers of the ML outputs (the CLI's `hitcraft ml`, the reports, later the API). Each returns a DataFrame.


def has_outputs(url: str | None = None) -> bool:
    """Whether any ML asset has written its tables yet."""
    return warehouse.table_exists(ANOMALY_FLAGS.qualified, url)


_NEWEST_DAY_COLUMNS = {
    ANOMALY_FLAGS.name: "metric_date",
    METRIC_TRENDS.name: "as_of",
    CHURN_SCORES.name: "score_date",
    PERSONA_SUMMARY.name: "week_start",
}


def newest_day(table: Table, url: str | None = None):
    """The newest day (or week start) that `table` holds, or None."""
    column = _NEWEST_DAY_COLUMNS[table.name]  # whitelisted: never a user string
    return warehouse.read_frame(f"select max({column}) as d from {table.qualified}", url=url)["d"].iloc[0]


def flags_on(day, url: str | None = None):
    """Anomalies flagged on a day, product-wide first, strongest first."""
    return warehouse.read_frame(
        "select metric, segment_type, segment_value, round(value::numeric, 4) as value,"
        " round(expected::numeric, 4) as expected, round(severity::numeric, 1) as z, direction, root_cause"
        " from ml.anomaly_flags where metric_date = %(d)s and is_anomaly order by segment_type <> 'all',"
        " abs(severity) desc",
        {"d": day},
        url,
    )


def significant_trends(day, url: str | None = None):
    return warehouse.read_frame(
        "select metric, window_days, trend, round(p_value::numeric, 4) as p_value,"
        " round(sen_slope_pct_per_week::numeric, 2) as pct_per_week, test from ml.metric_trends"
        " where as_of = %(d)s and trend in ('increasing', 'decreasing') order by p_value",
        {"d": day},
        url,
    )


def week_over_week(day, url: str | None = None):
    return warehouse.read_frame(
        "select metric, round(current::numeric, 4) as current, round(previous::numeric, 4) as previous,"
        " round((100 * rel_change)::numeric, 1) as pct, round((100 * ci_low)::numeric, 1) as ci_low,"
        " round((100 * ci_high)::numeric, 1) as ci_high, round(p_value::numeric, 4) as p_value"
        " from ml.metric_period_changes where as_of = %(d)s and comparison = 'wow' order by p_value",
        {"d": day},
        url,
    )


def churn_model_history(limit: int = 5, url: str | None = None):
    return warehouse.read_frame(
        "select version, promoted, eval_cutoff, train_size, eval_size,"
        " round((metrics->'xgboost'->>'roc_auc')::numeric, 4) as roc_auc,"
        " round((metrics->'logistic_baseline'->>'roc_auc')::numeric, 4) as baseline_roc_auc, decision"
        " from ml.churn_model_versions order by trained_at desc limit %(n)s",
        {"n": limit},
        url,
    )


def promoted_model(url: str) -> dict | None:
    """The currently promoted model version (newest promoted row), or None."""
    if not warehouse.table_exists("ml.churn_model_versions", url):
        return None
    rows = warehouse.read_frame(
        "select version, feature_list, model_bytes, metrics from ml.churn_model_versions where promoted"
        " order by trained_at desc limit 1",
        url=url,
    )
    if rows.empty:
        return None
    row = rows.iloc[0]
    return {
        "version": row["version"],
        "feature_list": list(row["feature_list"]),
        "model_bytes": bytes(row["model_bytes"]),
        "metrics": row["metrics"],
    }


def riskiest_users(day, limit: int, url: str | None = None):
    return warehouse.read_frame(
        "select user_key, round(churn_probability::numeric, 3) as p, risk_tier, reason_1, reason_2, reason_3"
        " from ml.churn_scores where score_date = %(d)s order by churn_probability desc limit %(n)s",
        {"d": day, "n": limit},
        url,
    )


def churn_risk_by_channel(day, url: str | None = None):
    return warehouse.read_frame(
        "select segment_value as channel, users, round(mean_churn_probability::numeric, 3) as mean_p,"
        " round(high_risk_share::numeric, 3) as high_share from ml.churn_risk_by_segment"
        " where score_date = %(d)s and segment_type = 'acquisition_channel' order by mean_p desc",
        {"d": day},
        url,
    )


def personas_of_week(week_start, url: str | None = None):
    return warehouse.read_frame(
        "select persona, users, round(share::numeric, 3) as share, round(mean_active_days::numeric, 1)"
        " as active_days, round(productions_per_user::numeric, 1) as productions,"
        " round(value_share::numeric, 3) as value_share from ml.persona_summary where week_start = %(w)s"
        " order by users desc",
        {"w": week_start},
        url,
    )


def persona_moves(week_start, limit: int = 10, url: str | None = None):
    return warehouse.read_frame(
        "select from_persona, to_persona, users, round(share_of_from::numeric, 3) as share_of_from"
        " from ml.persona_migration where week_start = %(w)s and from_persona <> to_persona"
        " order by users desc limit %(n)s",
        {"w": week_start, "n": limit},
        url,
    )
