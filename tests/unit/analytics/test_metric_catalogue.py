"""The metric catalogue file: valid, complete, and the one source of the lists that used to be typed in code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.metric_catalogue import CATALOGUE_PATH, CatalogueError, load_catalogue

DBT = CATALOGUE_PATH.parents[1]


def _base_columns(model: str) -> set[str]:
    """The columns of a daily-metrics model's `wide` CTE (the names catalogue expressions may use)."""
    sql = (DBT / "models" / "marts" / f"{model}.sql").read_text()
    start = sql.index("wide as (")
    select = sql[sql.index("select", start) : sql.index("from days as d", start)]
    return set(re.findall(r"(?:\bas |\.)(\w+)\s*,?\s*$", select, flags=re.M))


def test_every_metric_is_valid_and_its_expressions_name_base_counts():
    catalogue = load_catalogue()
    assert len(catalogue) >= 20
    product, segment = _base_columns("daily_metrics"), _base_columns("daily_metrics_by_segment")
    assert {"dau", "renders_started", "sessions"} <= product and "dau" in segment
    for metric in catalogue.values():
        names = set()
        for expression in (metric.value_sql, metric.numerator_sql, metric.denominator_sql):
            names |= set(re.findall(r"[a-z_]+", expression))
        assert names <= product, (metric.name, names - product)
        if metric.by_segment:
            assert names <= segment, (metric.name, names - segment)
        if metric.kind == "proportion":
            assert metric.numerator_sql and metric.denominator_sql and metric.format == "percent", metric.name


def test_lists_come_from_the_catalogue():
    assert metric_catalogue.key_metrics() == (
        "new_users", "dau", "productions_completed", "mean_session_minutes", "production_completion_rate",
        "render_failure_rate", "stems_adoption_rate", "stickiness",
    )  # fmt: skip
    assert metric_catalogue.review_chart_metrics() == ("new_users", "dau", "productions_completed")
    assert metric_catalogue.rolling_user_counts() == {"wau": 7, "mau": 28}
    assert metric_catalogue.kinds()["render_failure_rate"] == "proportion"
    assert not metric_catalogue.higher_is_better("render_failure_rate")
    assert metric_catalogue.metric_label("dau") == "Daily active users"
    assert metric_catalogue.metric_name("render_failure_rate") == "render failure rate"
    # measures of an insight outside the catalogue: labels de-snake-cased, *_rate read as a share
    assert metric_catalogue.metric_label("render_completion_rate") == "Render completion rate"
    assert metric_catalogue.is_proportion("render_completion_rate") and not metric_catalogue.is_proportion("x")


def test_the_seed_documents_every_column():
    spec = yaml.safe_load((DBT / "seeds" / "_seeds_product.yml").read_text())
    (seed,) = [s for s in spec["seeds"] if s["name"] == "metric_catalogue"]
    assert [c["name"] for c in seed["columns"]] == list(metric_catalogue.COLUMNS)
    assert list(seed["config"]["column_types"]) == list(metric_catalogue.COLUMNS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace(",ratio,number,", ",rate,number,", 1), "line 8, column kind: 'rate'"),
        (lambda t: t.replace("\ndau,", "\nDAU,", 1), "line 3, column metric: 'DAU'"),
        (lambda t: t.replace(",true,2,", ",yes,2,", 1), "line 3, column higher_is_better: 'yes'"),
        (lambda t: t + t.splitlines()[2] + "\n", "metric 'dau' is declared twice"),
    ],
)
def test_a_bad_row_is_named(tmp_path: Path, change, message):
    bad = tmp_path / "metric_catalogue.csv"
    bad.write_text(change(CATALOGUE_PATH.read_text()))
    with pytest.raises(CatalogueError, match=re.escape(message)):
        load_catalogue(bad)
