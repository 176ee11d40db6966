"""Experiment and AI attribution tables (schema `experiments`, written by defs/experiments) and the readers of
the experiment and AI marts."""

from __future__ import annotations

from hitcraft_assets.store import warehouse
from hitcraft_assets.store.warehouse import Table

SCHEMA = "experiments"

READOUTS = Table(
    SCHEMA,
    "readouts",
    (
        ("as_of", "date not null"),
        ("experiment", "text not null"),
        ("metric", "text not null"),
        ("variant", "text not null"),
        ("label", "text"),
        ("kind", "text"),
        ("guardrail", "boolean"),
        ("higher_is_better", "boolean"),
        ("control", "text"),
        ("n_control", "integer"),
        ("n_variant", "integer"),
        ("control_mean", "double precision"),
        ("variant_mean", "double precision"),
        ("abs_effect", "double precision"),
        ("rel_effect", "double precision"),
        ("ci_low", "double precision"),
        ("ci_high", "double precision"),
        ("rel_ci_low", "double precision"),
        ("rel_ci_high", "double precision"),
        ("p_value", "double precision"),
        ("cuped_abs_effect", "double precision"),
        ("cuped_ci_low", "double precision"),
        ("cuped_ci_high", "double precision"),
        ("variance_reduction", "double precision"),
        ("seq_ci_low", "double precision"),
        ("seq_ci_high", "double precision"),
        ("seq_p_value", "double precision"),
        ("p_adjusted", "double precision"),
        ("significant", "boolean"),
        ("direction", "text"),
    ),
    ("as_of", "experiment", "metric", "variant"),
)

SUMMARIES = Table(
    SCHEMA,
    "experiment_summaries",
    (
        ("as_of", "date not null"),
        ("experiment", "text not null"),
        ("control", "text"),
        ("variants", "jsonb"),  # variant -> exposed users
        ("excluded_users", "integer"),
        ("first_exposure", "date"),
        ("last_exposure", "date"),
        ("status", "text"),
        ("srm_p_value", "double precision"),
        ("srm_segment", "text"),
        ("srm_segment_p_value", "double precision"),
        ("trustworthy", "boolean"),
        ("decision", "text"),
        ("reason", "text"),
        ("summary", "text"),
        ("winner", "text"),
        ("primary_metric", "text"),
        ("needed_users_per_arm", "integer"),
        ("users_per_arm_now", "integer"),
        ("expected_date", "date"),
    ),
    ("as_of", "experiment"),
)

AI_OUTCOMES = Table(
    SCHEMA,
    "ai_outcomes",
    (
        ("as_of", "date not null"),
        ("dimension", "text not null"),  # model | prompt_version | capability | intent
        ("generation_type", "text not null"),
        ("value", "text not null"),
        ("generations", "integer"),
        ("users", "integer"),
        ("completion_rate", "double precision"),
        ("failure_rate", "double precision"),
        ("download_rate", "double precision"),
        ("latency_p50_ms", "double precision"),
        ("latency_p95_ms", "double precision"),
        ("likes_ratio", "double precision"),
        ("like_rate", "double precision"),
    ),
    ("as_of", "dimension", "generation_type", "value"),
)

AI_ROLLOUTS = Table(
    SCHEMA,
    "ai_rollouts",
    (
        ("as_of", "date not null"),
        ("generation_type", "text not null"),
        ("column_name", "text not null"),
        ("version", "text not null"),
        ("previous", "text"),
        ("rollout_day", "date"),
        ("outcome", "text"),
        ("segment_type", "text not null"),
        ("segment_value", "text not null"),
        ("treated_pre", "double precision"),
        ("treated_post", "double precision"),
        ("control_pre", "double precision"),
        ("control_post", "double precision"),
        ("did", "double precision"),
        ("ci_low", "double precision"),
        ("ci_high", "double precision"),
        ("p_value", "double precision"),
        ("treated_users", "integer"),
        ("control_users", "integer"),
        ("significant", "boolean"),
        ("effect", "text"),
    ),
    ("as_of", "generation_type", "column_name", "version", "segment_type", "segment_value"),
)

AI_ANOMALIES = Table(
    SCHEMA,
    "ai_model_anomalies",
    (
        ("metric_date", "date not null"),
        ("metric", "text not null"),
        ("model", "text not null"),
        ("value", "double precision"),
        ("expected", "double precision"),
        ("severity", "double precision"),
        ("direction", "text"),
        ("is_anomaly", "boolean"),
        ("guard", "text"),
    ),
    ("metric_date", "metric", "model"),
)

HYPOTHESES = Table(
    SCHEMA,
    "hypotheses",
    (
        ("hypothesis_id", "text not null"),  # the recommending insight's key
        ("created_on", "date not null"),
        ("metric", "text not null"),  # the insight's metric (daily metric catalogue)
        ("hypothesis", "text"),
        ("action", "text"),
        ("predicted_effect", "double precision"),  # the recommendation's minimum detectable effect
        ("users_per_arm", "integer"),
        ("experiment", "text"),  # the experiment that tests it, once one runs
        ("linked_on", "date"),
    ),
    ("hypothesis_id",),
)


# ------------------------------------------------------------------------------------------------ readers
def exposures(url: str | None = None):
    return warehouse.read_frame(
        "select experiment_name, user_key, variant_name, first_exposed_at, first_exposure_date, exposure_events,"
        " variants_seen, is_excluded, platform, role, experience_level, utm_source"
        " from marts.experiment_exposures",
        url=url,
    )


def outcomes(url: str | None = None):
    from decimal import Decimal

    frame = warehouse.read_frame("select * from marts.experiment_user_outcomes", url=url)
    for c in frame.columns:  # numeric sums may arrive as Decimal
        if (
            frame[c].dtype == object
            and len(frame)
            and isinstance(frame[c].dropna().iloc[0] if frame[c].notna().any() else None, Decimal)
        ):
            frame[c] = frame[c].astype(float)
    return frame


def generations(since=None, url: str | None = None):
    frame = warehouse.read_frame(
        "select generation_id, generation_type, user_key, event_date, platform, role, experience_level, utm_source,"
        " model, prompt_version, prompt_id, capability, intent, latency_ms, outcome, is_success, is_failure,"
        " downloaded, liked, disliked from marts.ai_generations"
        + (" where event_date >= %(since)s" if since is not None else ""),
        {"since": since},
        url,
    )
    for c in ("latency_ms",):
        frame[c] = frame[c].astype(float)
    return frame


def has_readouts(url: str | None = None) -> bool:
    return warehouse.table_exists(SUMMARIES.qualified, url)


def latest_summaries(as_of=None, url: str | None = None):
    """The newest summary of each experiment (on or before `as_of`)."""
    return warehouse.read_frame(
        "select distinct on (experiment) * from experiments.experiment_summaries"
        + (" where as_of <= %(d)s" if as_of is not None else "")
        + " order by experiment, as_of desc",
        {"d": as_of},
        url,
    )


def readout_rows(experiment: str, as_of, url: str | None = None):
    return warehouse.read_frame(
        "select * from experiments.readouts where experiment = %(e)s and as_of = %(d)s order by variant, metric",
        {"e": experiment, "d": as_of},
        url,
    )


def ai_outcomes(as_of=None, url: str | None = None):
    return warehouse.read_frame(
        "select * from experiments.ai_outcomes where as_of = "
        + ("%(d)s" if as_of is not None else "(select max(as_of) from experiments.ai_outcomes)")
        + " order by dimension, generation_type, value",
        {"d": as_of},
        url,
    )


def ai_rollouts(as_of=None, url: str | None = None):
    return warehouse.read_frame(
        "select * from experiments.ai_rollouts where as_of = "
        + ("%(d)s" if as_of is not None else "(select max(as_of) from experiments.ai_rollouts)")
        + " order by rollout_day, version, segment_type <> 'all', segment_value",
        {"d": as_of},
        url,
    )


def hypotheses(url: str | None = None):
    if not warehouse.table_exists(HYPOTHESES.qualified, url):
        return None
    return warehouse.read_frame("select * from experiments.hypotheses order by created_on, hypothesis_id", url=url)


# ------------------------------------------------------------------------------------------------ writers
def write_day(table: Table, frame, day, day_column: str = "as_of", url: str | None = None) -> int:
    """Replace `table`'s rows of `day` by `frame`."""
    if day_column not in table.column_names:
        raise ValueError(f"{table.qualified} has no column {day_column!r}")
    return warehouse.replace_rows(table, frame, where=f'"{day_column}" = %(d)s', params={"d": day}, url=url)


def upsert_hypotheses(frame, url: str | None = None) -> int:
    """Add new hypotheses and keep the experiment links of known ones (rows are replaced whole)."""
    return warehouse.replace_rows(HYPOTHESES, frame, url=url)


def planning_frame(days: int = 7, as_of=None, url: str | None = None):
    """Per user active in the `days` days ending `as_of` (default: the newest event day), the outcome counts of
    experiment_user_outcomes over those days: the current traffic and variance a test would see."""
    return warehouse.read_frame(
        """
        with bounds as (
            select coalesce(cast(%(as_of)s as date), max(event_date)) as last_day from staging.stg_events
        )
        select
            e.user_key,
            count(distinct e.event_date) as active_days,
            count(*) as events,
            sum(case when e.event = 'Render Started' then 1 else 0 end) as renders_started,
            sum(case when e.event = 'Render Completed' then 1 else 0 end) as renders_completed,
            sum(case when e.event = 'Render Failed' then 1 else 0 end) as renders_failed,
            sum(case when e.event = 'Production Downloaded' then 1 else 0 end) as downloads,
            sum(case when e.event = 'Message Sent' then 1 else 0 end) as messages,
            sum(case when e.event = 'Message Liked' then 1 else 0 end) as likes,
            sum(case when e.event = 'Message Disliked' then 1 else 0 end) as dislikes,
            sum(case when e.event = 'Subscription Started' then 1 else 0 end) as subscriptions,
            (select last_day from bounds) as last_day
        from staging.stg_events as e
        where e.user_key is not null
          and e.event_date > (select last_day from bounds) - %(days)s
          and e.event_date <= (select last_day from bounds)
        group by e.user_key
        """,
        {"as_of": as_of, "days": int(days)},
        url,
    )
