"""The ML assets materialized by Dagster on a 63-day sample-Mixpanel backfill find the planted effects.

Raw days are loaded through the real client and loader, the dbt models are built, then the ML assets run as real
Dagster materializations (daily ones as one partition-range run). Asserted: the planted iOS render incident is
flagged on its day with root cause platform = ios and no other product-wide day is flagged; the churn model beats
its logistic baseline on held-out users and the fast-churning channel (tiktok) scores highest; stem adoption
trends up; personas cover every active user. The insights and daily reports surface the planted effects: the
incident (with its root cause) on its day, and on the last day the better-converting prompt, the songwriter
drop-off, the stem-separation success and the fast-churning channel in the report's top 5.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import dagster as dg
import pandas as pd
import pytest
from testkit.sample_client import sample_client

from hitcraft_assets.mixpanel.ingest import load_days
from hitcraft_assets.store import warehouse
from hitcraft_assets.store.raw_events import ensure_schema

pytestmark = pytest.mark.slow

ANCHOR = date(2026, 6, 1)
DAYS = [ANCHOR - timedelta(days=63 - i) for i in range(63)]  # ANCHOR-63 .. ANCHOR-1
INCIDENT = ANCHOR - timedelta(days=12)
NOW = datetime(2026, 6, 8, 4, tzinfo=UTC)  # every late event of the window has arrived
FLAG_DAYS = DAYS[-30:]
SCORE_DAYS = DAYS[-3:]
WEEK = date(2026, 5, 18)  # a Monday inside the window


def _materialize(assets, url, **kwargs):
    from hitcraft_assets.defs.resources import WarehouseResource

    result = dg.materialize(
        assets, resources={"warehouse": WarehouseResource(database_url=url)}, raise_on_error=False, **kwargs
    )
    errors = [e.step_failure_data.error.to_string() for e in result.all_events if e.is_step_failure]
    assert result.success, "\n".join(errors)
    return result


def _range_tags(days):
    return {"dagster/asset_partition_range_start": str(days[0]), "dagster/asset_partition_range_end": str(days[-1])}


@pytest.fixture(scope="module")
def ml(warehouse_url, dbt):
    from hitcraft_assets.defs.ml.anomalies import anomaly_flags
    from hitcraft_assets.defs.ml.churn import churn_model, churn_scores
    from hitcraft_assets.defs.ml.personas import user_segments
    from hitcraft_assets.defs.ml.trends import metric_trends

    conn = warehouse.connect(warehouse_url)
    with conn.cursor() as cur:
        cur.execute("drop schema if exists raw cascade; drop schema if exists staging cascade;")
        cur.execute("drop schema if exists intermediate cascade;")
        cur.execute("drop schema if exists marts cascade; drop schema if exists ml cascade")
    conn.commit()
    ensure_schema(conn)
    with sample_client(anchor=ANCHOR, now=NOW) as client:
        load_days(conn, client, DAYS, project_today=NOW.date(), reporting_tz="UTC", source="sample", client_version="t")
    # dbt's own tests run in tests/integration/dbt; here the models are inputs
    dbt("run", "--select", "tag:daily", vars={"min_date": str(DAYS[0]), "max_date": str(DAYS[-1])})
    dbt("run", "--exclude", "tag:daily")  # the whole-table marts (metrics, users, funnels, cohorts, prompts)

    strict = {"ops": {"ml__anomaly_flags": {"config": {"metric_thresholds": {"render_failure_rate": 50.0}}}}}
    runs = {
        # run config: a per-metric threshold above the incident's z silences it (replaced by the default run below)
        "strict": _materialize([anomaly_flags], warehouse_url, partition_key=str(INCIDENT), run_config=strict),
        "model": _materialize([churn_model], warehouse_url),
        "daily": _materialize([anomaly_flags, metric_trends], warehouse_url, tags=_range_tags(FLAG_DAYS)),
        "scores": _materialize([churn_scores], warehouse_url, tags=_range_tags(SCORE_DAYS)),
        "week": _materialize([user_segments], warehouse_url, partition_key=str(WEEK)),
        # a day after the data: nothing to judge, nothing flagged, no failure
        "empty": _materialize([anomaly_flags], warehouse_url, partition_key=str(ANCHOR + timedelta(days=3))),
    }

    def q(sql, params=None):
        return warehouse.read_frame(sql, params, warehouse_url)

    yield runs, q
    conn.close()


def _metadata(result, key):
    (materialization,) = [
        e.materialization for e in result.get_asset_materialization_events() if e.materialization.asset_key == key
    ]
    return {k: v.value for k, v in materialization.metadata.items()}


def test_incident_flagged_with_its_root_cause_and_no_other_day(ml):
    runs, q = ml
    flags = q("select * from ml.anomaly_flags where segment_type = 'all' and is_anomaly")
    assert set(flags["metric_date"]) == {INCIDENT}, flags[["metric_date", "metric", "severity"]]
    failure = flags[flags["metric"] == "render_failure_rate"].iloc[0]
    assert failure["direction"] == "up"
    assert (failure["root_cause_segment_type"], failure["root_cause_segment_value"]) == ("platform", "ios")
    assert "platform = ios" in failure["root_cause"]
    completion = flags[flags["metric"] == "production_completion_rate"]
    assert completion.empty or completion.iloc[0]["root_cause_segment_value"] == "ios"
    prompts = q("select count(*) as n from ml.anomaly_root_causes where segment_type = 'prompt'")
    assert prompts["n"].iloc[0] > 0 or completion.empty  # the completion rate is explained by prompt too
    causes = q(
        "select * from ml.anomaly_root_causes where metric = 'render_failure_rate' and segment_type = 'platform'"
        " order by rank"
    )
    assert causes.iloc[0]["segment_value"] == "ios" and causes.iloc[0]["contribution_share"] > 0.8
    judged = q("select count(*) as n from ml.anomaly_flags where segment_type = 'all' and severity is not null")
    assert judged["n"].iloc[0] > 20 * 15  # most metric-days of the 30-day window were judged, not skipped
    checks = {c.check_name: c.passed for c in runs["daily"].get_asset_check_evaluations()}
    assert checks["anomaly_flag_volume"] and checks["anomaly_intervals_valid"]


def test_sensitivity_is_run_config(ml):
    runs, _ = ml
    meta = _metadata(runs["strict"], dg.AssetKey(["ml", "anomaly_flags"]))
    assert "render_failure_rate" not in meta["flagged"] and "production_completion_rate" in meta["flagged"]


def test_a_day_without_data_flags_nothing(ml):
    runs, q = ml
    rows = q("select count(*) as n from ml.anomaly_flags where metric_date = %(d)s", {"d": ANCHOR + timedelta(days=3)})
    assert rows["n"].iloc[0] == 0
    assert _metadata(runs["empty"], dg.AssetKey(["ml", "anomaly_flags"]))["flags"] == 0


def test_churn_model_beats_baseline_and_is_stored(ml):
    runs, q = ml
    meta = _metadata(runs["model"], dg.AssetKey(["ml", "churn_model"]))
    print("churn model held-out:", {k: meta[k] for k in ("roc_auc", "baseline_roc_auc", "pr_auc", "brier")})
    assert meta["roc_auc"] > meta["baseline_roc_auc"]
    assert meta["promoted"] is True
    versions = q(
        "select version, promoted, feature_list, octet_length(model_bytes) as size from ml.churn_model_versions"
    )
    assert len(versions) == 1 and versions["promoted"].iloc[0] and versions["size"].iloc[0] > 1000
    assert "days_since_last_active" in " ".join(versions["feature_list"].iloc[0])


def test_fast_churning_channel_scores_highest(ml):
    _, q = ml
    by_channel = q(
        "select u.acquisition_channel, avg(s.churn_probability) as mean_score, count(*) as n"
        " from ml.churn_scores s join marts.dim_users u using (user_key)"
        " where s.score_date = %(d)s and u.acquisition_channel is not null"
        " group by 1 order by 2 desc",
        {"d": SCORE_DAYS[-1]},
    )
    assert by_channel.iloc[0]["acquisition_channel"] == "tiktok", by_channel
    stored = q(
        "select segment_value from ml.churn_risk_by_segment where score_date = %(d)s"
        " and segment_type = 'acquisition_channel' order by mean_churn_probability desc limit 1",
        {"d": SCORE_DAYS[-1]},
    )
    assert stored["segment_value"].iloc[0] == "tiktok"
    scores = q(
        "select score_date, count(*) as n, min(churn_probability) as lo, max(churn_probability) as hi"
        " from ml.churn_scores group by 1 order by 1"
    )
    assert list(scores["score_date"]) == SCORE_DAYS
    assert (scores["lo"] >= 0).all() and (scores["hi"] <= 1).all()


def test_stem_adoption_trends_up_and_forecasts_exist(ml):
    _, q = ml
    trend = q(
        "select * from ml.metric_trends where metric = 'stems_adoption_rate' and as_of = %(d)s and window_days = 28",
        {"d": FLAG_DAYS[-1]},
    )
    assert trend["trend"].iloc[0] == "increasing" and trend["p_value"].iloc[0] < 0.05
    forecasts = q(
        "select metric, count(*) as n from ml.metric_forecasts where as_of = %(d)s group by 1", {"d": FLAG_DAYS[-1]}
    )
    assert set(forecasts["n"]) == {30} and "dau" in set(forecasts["metric"])


def test_personas_cover_active_users(ml):
    runs, q = ml
    summary = q("select * from ml.persona_summary where week_start = %(w)s", {"w": WEEK})
    assert 3 <= len(summary) <= 8 and summary["persona"].is_unique
    assert abs(summary["share"].sum() - 1) < 1e-6
    checks = {c.check_name: c.passed for c in runs["week"].get_asset_check_evaluations()}
    assert checks["personas_cover_active_users"]


def test_cli_reads_the_ml_outputs(ml, warehouse_url, monkeypatch):
    from typer.testing import CliRunner

    from hitcraft_assets.cli import app

    monkeypatch.setenv("HITCRAFT_DATABASE_URL", warehouse_url)
    runner = CliRunner()
    flagged = runner.invoke(app, ["ml", "flags", "--date", str(INCIDENT)])
    assert flagged.exit_code == 0, flagged.output
    assert "render_failure_rate" in flagged.output and "platform = ios" in flagged.output
    churn = runner.invoke(app, ["ml", "churn", "--top", "3"])
    assert churn.exit_code == 0 and "tiktok" in churn.output
    assert runner.invoke(app, ["ml", "personas", "--week", str(WEEK)]).exit_code == 0
    assert runner.invoke(app, ["ml", "trends", "--date", str(FLAG_DAYS[-1])]).exit_code == 0


# ---------------------------------------------------------------------------------------------- insights, reports
REPORT_DAYS = DAYS[-13:]  # the incident day's eve .. the last day
CALM = ANCHOR - timedelta(days=4)
LAST_WEEK, LAST_MONTH = date(2026, 5, 25), date(2026, 5, 1)  # complete Monday-Sunday week and month in the data


@pytest.fixture(scope="module")
def reports(ml, warehouse_url):
    from testkit.alert_servers import SmtpInbox

    from hitcraft_assets.defs.insights.insights import insights
    from hitcraft_assets.defs.insights.reports import daily_report, monthly_review, weekly_digest

    inbox = SmtpInbox().start()
    send = {"config": {"max_age_days": 100_000, "claude_summary": False}}
    quiet = {"config": {"send_email": False, "claude_summary": False}}
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(inbox.port), "SMTP_SECURITY": "none",
           "HITCRAFT_REPORT_RECIPIENTS": "growth@example.com, data@example.com"}  # fmt: skip
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in env.items():
                mp.setenv(name, value)
            runs = {
                "insights": _materialize([insights], warehouse_url, tags=_range_tags(REPORT_DAYS)),
                "incident": _materialize(
                    [daily_report],
                    warehouse_url,
                    partition_key=str(INCIDENT),
                    run_config={"ops": {"insights__daily_report": send}},
                ),  # fmt: skip
                "calm": _materialize(
                    [daily_report],
                    warehouse_url,
                    partition_key=str(CALM),
                    run_config={"ops": {"insights__daily_report": quiet}},
                ),  # fmt: skip
                "last": _materialize(
                    [daily_report],
                    warehouse_url,
                    partition_key=str(DAYS[-1]),
                    run_config={"ops": {"insights__daily_report": send}},
                ),  # fmt: skip
                "week": _materialize(
                    [weekly_digest],
                    warehouse_url,
                    partition_key=str(LAST_WEEK),
                    run_config={"ops": {"insights__weekly_digest": quiet}},
                ),  # fmt: skip
                "month": _materialize(
                    [monthly_review],
                    warehouse_url,
                    partition_key=str(LAST_MONTH),
                    run_config={"ops": {"insights__monthly_review": quiet}},
                ),  # fmt: skip
            }
    finally:
        inbox.stop()
    yield runs, inbox


def _selected(warehouse_url, day):
    frame = warehouse.read_frame(
        "select * from insights.insight_library where as_of = %(d)s and status = 'selected' order by rank",
        {"d": day},
        warehouse_url,
    )
    return frame.set_index("key")


def test_incident_day_report_leads_with_the_incident_and_its_root_cause(reports, warehouse_url):
    runs, _ = reports
    top = _selected(warehouse_url, INCIDENT).head(3)
    incident = top.loc["anomaly:render_failure_rate"]
    assert (incident["segment_type"], incident["segment_value"]) == ("platform", "ios")
    report = _metadata(runs["incident"], dg.AssetKey(["insights", "daily_report"]))["report"]
    assert "Render failure rate" in report and "platform = ios" in report
    checks = {c.check_name: c.passed for c in runs["insights"].get_asset_check_evaluations()}
    assert checks == {"insight_numbers_grounded": True, "insight_generators_ran": True}


def test_calm_day_has_no_anomaly(reports, warehouse_url):
    calm = _selected(warehouse_url, CALM)
    assert len(calm) and not (calm["insight_type"] == "anomaly").any(), calm[["insight_type", "title"]]


PLANTED = {  # the scenario's lasting effects: key -> insight type
    "prompt_outlier:prd_polish_hit": "opportunity",
    "early_dropoff:role=songwriter": "risk",
    "feature_retention:stem_separation": "success",
    "channel_quality:tiktok": "risk",
}


def test_last_day_report_leads_with_the_planted_effects(reports, warehouse_url):
    from hitcraft_assets.reports.daily import DAILY_LATER_TYPES, headline_insights
    from hitcraft_assets.store import insight_library

    runs, _ = reports
    last = _selected(warehouse_url, DAYS[-1])
    print(last[["rank", "insight_type", "title", "score", "novelty", "q_value", "days_running"]].to_string())
    assert last.loc[list(PLANTED), "insight_type"].to_dict() == PLANTED
    assert "early_dropoff:all" not in last.index  # the songwriters explain it
    day = insight_library.to_insights(insight_library.read(warehouse_url, DAYS[-1], DAYS[-1]))
    assert set(PLANTED) <= {i.key for i in headline_insights(day, 5, DAILY_LATER_TYPES)}  # the report's top 5
    report = _metadata(runs["last"], dg.AssetKey(["insights", "daily_report"]))["report"]
    for key in PLANTED:
        assert last.loc[key, "title"] in report, key
    # running insights are merged, not repeated: a key selected on consecutive days carries its first day
    assert (last["days_running"] > 1).any() and (pd.to_datetime(last["first_seen"]).dt.date < DAYS[-1]).any()
    rejected = warehouse.read_frame(
        "select count(*) as n from insights.insight_library where status = 'rejected' and reason is not null",
        None,
        warehouse_url,
    )
    assert rejected["n"].iloc[0] > 0  # candidates that did not make it are stored with the reason


def test_reports_are_written_and_e_mailed(reports, hitcraft_home):
    runs, inbox = reports
    folder = hitcraft_home / "reports"
    for kind, day in (("daily", INCIDENT), ("daily", CALM), ("weekly", LAST_WEEK + timedelta(days=6)),
                      ("monthly", date(2026, 5, 31))):  # fmt: skip
        html = (folder / kind / f"hitcraft-{kind}-{day}.html").read_text()
        parser = _Tags()
        parser.feed(html)
        assert parser.counts["html"] == 1 and parser.counts["img"] >= 1, (kind, parser.counts)
        pdf = (folder / kind / f"hitcraft-{kind}-{day}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 1
    assert sorted(inbox.subjects()) == sorted(
        _metadata(runs[r], dg.AssetKey(["insights", "daily_report"]))["report"].splitlines()[0].lstrip("# ")
        for r in ("incident", "last")
    )
    recipients, message = inbox.messages[0]
    assert sorted(recipients) == ["data@example.com", "growth@example.com"]
    assert any(part.get_filename(failobj="").endswith(".pdf") for part in message.iter_attachments())
    assert _metadata(runs["calm"], dg.AssetKey(["insights", "daily_report"]))["delivery"].startswith("not sent")


def test_cli_searches_insights_and_builds_a_report(reports, warehouse_url, hitcraft_home, monkeypatch):
    from typer.testing import CliRunner

    from hitcraft_assets.cli import app

    monkeypatch.setenv("HITCRAFT_DATABASE_URL", warehouse_url)
    runner = CliRunner()
    found = runner.invoke(app, ["insights", "search", "render failure", "--type", "anomaly"])
    assert found.exit_code == 0 and str(INCIDENT) in found.output, found.output
    built = runner.invoke(app, ["report", "daily", "--date", str(DAYS[-1]), "--no-claude"])
    assert built.exit_code == 0, built.output
    assert (hitcraft_home / "reports" / "daily" / f"hitcraft-daily-{DAYS[-1]}.pdf").exists()


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def handle_starttag(self, tag, attrs):
        self.counts[tag] += 1
