"""Experiments and AI attribution end to end on the sample: 56 days of the default scenario loaded into raw.events,
the dbt models built (with their tests), the Dagster assets materialized, the CLI read.

The planted experiments are found (the win shipped, the A/A test not, the broken one flagged by SRM first), the
readout's numbers equal statsmodels' two-proportion test on the same users counted in SQL, and the render-v4
rollout regression is found in android only."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
from statsmodels.stats import proportion as sm_proportion
from testkit.experiment_warehouse import ANCHOR, MODELS, load_sample, sample_days

from hitcraft_assets.store import warehouse

LAST = ANCHOR - timedelta(days=1)


def _materialize(assets, url, days):
    from hitcraft_assets.defs.resources import WarehouseResource

    result = dg.materialize(
        assets,
        resources={"warehouse": WarehouseResource(database_url=url)},
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": str(days[0]), "dagster/asset_partition_range_end": str(days[-1])},
    )
    errors = [e.step_failure_data.error.to_string() for e in result.all_events if e.is_step_failure]
    assert result.success, "\n".join(errors)
    return result


@pytest.fixture(scope="module")
def built(warehouse_url, dbt):
    from hitcraft_assets.defs.experiments.assets import generation_attribution, readouts

    conn = warehouse.connect(warehouse_url)
    with conn.cursor() as cur:
        for schema in ("raw", "staging", "intermediate", "marts", "experiments"):
            cur.execute(f"drop schema if exists {schema} cascade")
    conn.commit()
    days = sample_days()
    load_sample(conn, days)
    conn.commit()
    conn.close()
    build = dbt("build", "--select", MODELS, vars={"min_date": str(days[0]), "max_date": str(days[-1])})
    result = _materialize([readouts, generation_attribution], warehouse_url, [LAST - timedelta(days=2), LAST])
    return {"dbt": build.stdout, "result": result, "url": warehouse_url}


def _sql(url, sql, params=None):
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def test_dbt_models_and_their_tests_pass(built):
    assert "ERROR=0" in built["dbt"] and "FAIL" not in built["dbt"].split("Done.")[-1]
    two_variants = _sql(built["url"], "select count(*) from marts.experiment_exposures where is_excluded")[0][0]
    exposed = _sql(built["url"], "select count(*) from marts.experiment_exposures")[0][0]
    outcomes = _sql(built["url"], "select count(*) from marts.experiment_user_outcomes")[0][0]
    assert exposed > 10_000 and outcomes == exposed - two_variants


def test_decisions_srm_first_and_checks(built):
    rows = dict(
        _sql(
            built["url"], "select experiment, decision from experiments.experiment_summaries where as_of = %s", (LAST,)
        )
    )
    assert rows["download_cta_v2"] == "ship"
    assert rows["assistant_greeting_aa"] != "ship"
    ((summary, trustworthy, segment),) = _sql(
        built["url"],
        "select summary, trustworthy, srm_segment from experiments.experiment_summaries"
        " where as_of = %s and experiment = 'onboarding_checklist'",
        (LAST,),
    )
    assert not trustworthy and segment == "platform = web" and summary.startswith("UNTRUSTWORTHY: sample-ratio")
    checks = {c.check_name: c for c in built["result"].get_asset_check_evaluations()}
    assert not checks["experiment_srm"].passed
    assert checks["experiment_srm"].metadata["flagged"].value == "onboarding_checklist"
    assert checks["exposure_consistency"].passed
    meta = built["result"].get_asset_materialization_events()[-1].materialization.metadata
    assert meta  # every materialization says what it produced


def test_readout_equals_statsmodels_on_the_same_users(built):
    ((n_a, x_a, n_b, x_b),) = _sql(
        built["url"],
        """select sum(case when variant_name = 'control' then 1 else 0 end),
                  sum(case when variant_name = 'control' and downloads > 0 then 1 else 0 end),
                  sum(case when variant_name = 'big_button' then 1 else 0 end),
                  sum(case when variant_name = 'big_button' and downloads > 0 then 1 else 0 end)
           from marts.experiment_user_outcomes
           where experiment_name = 'download_cta_v2' and window_ends_at < %s""",
        (ANCHOR,),
    )
    ((n_c, n_v, eff, lo, hi, p),) = _sql(
        built["url"],
        "select n_control, n_variant, abs_effect, ci_low, ci_high, p_value from experiments.readouts"
        " where as_of = %s and experiment = 'download_cta_v2' and metric = 'download_conversion'",
        (LAST,),
    )
    assert (n_c, n_v) == (n_a, n_b)
    _, p_sm = sm_proportion.test_proportions_2indep(x_b, n_b, x_a, n_a, method="wald", compare="diff")
    lo_sm, hi_sm = sm_proportion.confint_proportions_2indep(x_b, n_b, x_a, n_a, method="wald", compare="diff")
    assert eff == pytest.approx(x_b / n_b - x_a / n_a, rel=1e-9)
    assert (lo, hi, p) == pytest.approx((lo_sm, hi_sm, p_sm), rel=1e-9)


def test_render_rollout_regression_is_found_in_android_only(built):
    rows = _sql(
        built["url"],
        "select segment_value, effect, did from experiments.ai_rollouts where as_of = %s and version = 'render-v4'",
        (LAST,),
    )
    effects = {seg: (effect, did) for seg, effect, did in rows}
    assert effects["android"][0] == "worse" and effects["android"][1] > 0.1
    assert effects["web"][0] == "none" and effects["ios"][0] == "none"
    ap8 = dict(
        _sql(
            built["url"],
            "select segment_value, effect from experiments.ai_rollouts where as_of = %s and version = 'ap-8'",
            (LAST,),
        )
    )
    assert ap8["all"] == "better"
    models = dict(
        _sql(
            built["url"],
            "select value, failure_rate from experiments.ai_outcomes"
            " where as_of = %s and dimension = 'model' and generation_type = 'render'",
            (LAST,),
        )
    )
    assert models["render-v4"] > models["render-v3"]


def test_cli_lists_shows_and_plans(built, monkeypatch):
    from typer.testing import CliRunner

    from hitcraft_assets.cli import app

    monkeypatch.setenv("HITCRAFT_DATABASE_URL", built["url"])
    runner = CliRunner()
    listed = runner.invoke(app, ["experiments", "list"])
    assert listed.exit_code == 0 and "onboarding_checklist" in listed.output
    shown = runner.invoke(app, ["experiments", "show", "onboarding_checklist"])
    assert shown.exit_code == 0 and "UNTRUSTWORTHY" in shown.output
    planned = runner.invoke(app, ["experiments", "plan", "--metric", "download_conversion", "--mde", "0.05"])
    assert planned.exit_code == 0 and "users per arm" in planned.output
    bad = runner.invoke(app, ["experiments", "plan", "--metric", "nope", "--mde", "0.05"])
    assert bad.exit_code != 0
