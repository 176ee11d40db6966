"""ml/user_segments: weekly behavioural personas, their size and value, and migration between weeks."""

import pickle
from datetime import date, timedelta

import dagster as dg

from hitcraft_assets.defs.ml import common
from hitcraft_assets.defs.partitions import weekly_partitions
from hitcraft_assets.defs.resources import WarehouseResource
from hitcraft_assets.store import ml_tables as tables
from hitcraft_assets.store import warehouse as wh

SEGMENTS_KEY = dg.AssetKey(["ml", "user_segments"])
PROFILE_DAYS = 28
MIN_USERS = 50


@dg.asset(
    key=SEGMENTS_KEY,
    deps=[common.USER_DAILY_ACTIVITY, common.DIM_USERS],
    kinds={"scikit-learn", "pandas", "postgres"},
    partitions_def=weekly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=common.ML_GROUP,
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[dg.AssetCheckSpec("personas_cover_active_users", asset=SEGMENTS_KEY)],
)
def user_segments(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Personas of the users active in the 28 days up to the week's Sunday: KMeans on log-scaled behaviour
    (k in 3..8 by sampled silhouette, smallest cluster >= 3 % of users), named from the centroids ("power
    producer", "stem remixer", "one-time tryer" …); size and value per persona; a value-potential score per user;
    migration from the previous week measured with the previous week's model applied to both weeks (names of two
    independent fits are not comparable). Tables ml.user_personas, ml.persona_summary, ml.persona_migration,
    ml.persona_models."""
    from hitcraft_assets.store import marts

    window = context.partition_key_range
    first_week, last_week = date.fromisoformat(window.start), date.fromisoformat(window.end)
    url = warehouse.url()
    activity = marts.user_daily_activity(
        url, first_week - timedelta(days=PROFILE_DAYS + 7), last_week + timedelta(days=6)
    )
    users = marts.dim_users(url)
    first_day = min(activity["activity_date"]) if len(activity) else None
    metadata, checks = {}, []
    week_start = first_week
    while week_start <= last_week:
        metadata, check = _one_week(context, url, week_start, activity, users, first_day)
        checks.append(check)
        week_start += timedelta(days=7)
    # a range run records one result per run: the newest week's metadata, every week's check must pass
    failed = [c for c in checks if not c.passed]
    return dg.MaterializeResult(metadata=metadata, check_results=[failed[0] if failed else checks[-1]])


def _one_week(context, url: str, week_start: date, activity, users, first_day: date | None):
    import pandas as pd

    from hitcraft_assets.analytics.charts import bar_chart_png
    from hitcraft_assets.analytics.persona_value import persona_summary, value_potential
    from hitcraft_assets.analytics.personas import assign_personas, behaviour_profile, fit_personas, persona_migration

    as_of = week_start + timedelta(days=7)
    profile = behaviour_profile(activity, users, as_of, window_days=PROFILE_DAYS)
    if len(profile) < MIN_USERS:
        reason = f"only {len(profile)} users active in the 28 days before {as_of}: too few for personas"
        context.log.warning(reason)
        check = common.too_little_data(
            "personas_cover_active_users", reason, "no personas: too few active users", week=str(week_start)
        )
        return {"week": f"{week_start}..{week_start + timedelta(days=6)}", "skipped": reason}, check
    # The first weeks of a fresh warehouse see a partly empty 28-day window: kept, but marked.
    complete = first_day is not None and as_of - timedelta(days=PROFILE_DAYS) >= first_day
    model = fit_personas(profile)
    assignments = assign_personas(model, profile)
    potential = value_potential(profile, assignments)
    personas = assignments[["user_key", "persona", "confidence"]].merge(
        potential[["user_key", "value", "value_potential"]], on="user_key", how="left"
    )
    personas["week_start"] = week_start
    summary = persona_summary(profile, assignments).assign(week_start=week_start)

    # Migration against ONE model: last week's, refitted here (deterministic) so that it does not depend on
    # which week's run finished first; names of two independent fits are not comparable.
    previous_profile = behaviour_profile(activity, users, week_start, window_days=PROFILE_DAYS)
    if len(previous_profile) >= MIN_USERS:
        previous_model = fit_personas(previous_profile)
        migration = persona_migration(
            assign_personas(previous_model, previous_profile)[["user_key", "persona"]],
            assign_personas(previous_model, profile)[["user_key", "persona"]],
        ).assign(week_start=week_start)
    else:
        migration = pd.DataFrame(columns=tables.PERSONA_MIGRATION.column_names)

    week = {"w": week_start}
    where = "week_start = %(w)s"
    written = wh.replace_rows(
        tables.USER_PERSONAS, personas[tables.USER_PERSONAS.column_names], where=where, params=week, url=url
    )
    wh.replace_rows(
        tables.PERSONA_SUMMARY, summary[tables.PERSONA_SUMMARY.column_names], where=where, params=week, url=url
    )
    wh.replace_rows(
        tables.PERSONA_MIGRATION, migration[tables.PERSONA_MIGRATION.column_names], where=where, params=week, url=url
    )
    model_row = pd.DataFrame(
        [
            {
                "week_start": week_start,
                "k": model.k,
                "personas": [model.names[i] for i in range(model.k)],
                "criteria": model.criteria.to_dict(orient="records"),
                "model_pickle": pickle.dumps(model),
            }
        ]
    )
    wh.replace_rows(tables.PERSONA_MODELS, model_row, where=where, params=week, url=url)

    context.log.info(f"personas for week {week_start}: k={model.k}, {written} users, window complete: {complete}")
    chart = bar_chart_png(
        list(summary["persona"]), list(summary["share"]), f"Personas, week of {week_start}", as_percent=True
    )
    moved = migration[migration["from_persona"] != migration["to_persona"]].sort_values("users", ascending=False)
    metadata = {
        "dagster/row_count": written,
        "week": f"{week_start}..{week_start + timedelta(days=6)}",
        "profile_window_complete": bool(complete),
        "k": model.k,
        "k_criterion": dg.MetadataValue.md(common.table_markdown(model.criteria, floatfmt=".4f")),
        "personas": dg.MetadataValue.md(common.table_markdown(summary.drop(columns=["week_start"]))),
        "persona_sizes": dg.MetadataValue.md(common.png_markdown(chart, "persona sizes")),
        "largest_migrations": dg.MetadataValue.md(common.table_markdown(moved, max_rows=10)),
    }
    check = dg.AssetCheckResult(
        check_name="personas_cover_active_users",
        passed=bool(len(personas) == len(profile) and personas["persona"].notna().all()),
        metadata={"week": str(week_start), "profiled_users": len(profile), "assigned_users": len(personas)},
        description="every user active in the profile window has a persona",
    )
    return metadata, check
