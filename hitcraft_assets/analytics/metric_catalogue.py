"""The metric catalogue: every daily metric declared once, in the dbt seed `seeds/metric_catalogue.csv`.

dbt generates the metric rows of `daily_metrics` and `daily_metrics_by_segment` from the same file (macro
`metric_rows`), so everything that reads a metric here — labels and formats, the anomaly noise model, the trend,
forecast and report lists, the insight texts — agrees with the SQL that computes it. Adding a metric is one row:
its name, label, kind and SQL expression over the base counts of the daily-metrics models (README, "Adding a
metric").
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOGUE_PATH = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "metric_catalogue.csv"

KINDS = ("count", "proportion", "ratio", "median")
FORMATS = ("count", "percent", "number", "minutes", "days")
COLUMNS = (
    "metric", "label", "description", "kind", "format", "unit", "denominator_unit", "value_sql", "numerator_sql",
    "denominator_sql", "higher_is_better", "key_metric", "forecast", "review_chart", "by_segment",
    "trailing_window_days", "warmup_days", "min_value", "max_value",
)  # fmt: skip


class CatalogueError(ValueError):
    """The catalogue file is not valid; the message names the row and the column."""


@dataclass(frozen=True)
class Metric:
    """One catalogue row. kind: how the value is made (the anomaly noise model follows it): 'count' (value =
    numerator), 'proportion' (numerator / denominator, a share of the denominator), 'ratio' (numerator /
    denominator, unbounded), 'median' (value a daily median, denominator its sample size). format: how it is
    written (percent, minutes, days, count, number). unit: what the value's counts count ("users"; "renders
    started" for a share of them), in insight texts; denominator_unit: what the denominator counts ("active users"
    for sessions per user), in root-cause sentences; either empty when nothing natural."""

    name: str
    label: str
    description: str
    kind: str
    format: str
    unit: str
    denominator_unit: str
    value_sql: str
    numerator_sql: str
    denominator_sql: str
    higher_is_better: bool
    key_metric: int | None  # position in the reports' key-metrics table (None: not a key metric)
    forecast: bool  # ml/metric_trends forecasts it
    review_chart: bool  # the monthly review charts its forecast
    by_segment: bool  # also in daily_metrics_by_segment (it adds up per user segment)
    trailing_window_days: int | None  # the value covers a trailing window of this many days (wau 7, mau 28)
    warmup_days: int | None  # days after the data starts whose values are inflated or partial: not judged
    min_value: float | None
    max_value: float | None

    @property
    def is_proportion(self) -> bool:
        return self.kind == "proportion"

    @property
    def counts_distinct_users_over_window(self) -> bool:
        """A count over a trailing window (wau, mau): consecutive days share most of their users."""
        return self.kind == "count" and self.trailing_window_days is not None


def _flag(value: str, where: str) -> bool:
    if value.strip().lower() not in ("true", "false"):
        raise CatalogueError(f"{where}: {value!r} is not true or false")
    return value.strip().lower() == "true"


def _number(value: str, where: str, kind=int):
    if not value.strip():
        return None
    try:
        return kind(value)
    except ValueError:
        raise CatalogueError(f"{where}: {value!r} is not a number") from None


def _metric(row: dict[str, str], line: int, path: Path) -> Metric:
    def where(column: str) -> str:
        return f"{path.name} line {line}, column {column}"

    name = row["metric"].strip()
    if not name.isidentifier() or not name.islower():
        raise CatalogueError(f"{where('metric')}: {name!r} is not a lower-case identifier")
    if row["kind"] not in KINDS:
        raise CatalogueError(f"{where('kind')}: {row['kind']!r} is not one of {', '.join(KINDS)}")
    if row["format"] not in FORMATS:
        raise CatalogueError(f"{where('format')}: {row['format']!r} is not one of {', '.join(FORMATS)}")
    if not (row["value_sql"].strip() or (row["numerator_sql"].strip() and row["denominator_sql"].strip())):
        raise CatalogueError(f"{where('value_sql')}: give value_sql, or numerator_sql and denominator_sql")
    return Metric(
        name=name,
        label=row["label"].strip() or name.replace("_", " ").capitalize(),
        description=row["description"].strip(),
        kind=row["kind"],
        format=row["format"],
        unit=row["unit"].strip(),
        denominator_unit=row["denominator_unit"].strip(),
        value_sql=row["value_sql"].strip(),
        numerator_sql=row["numerator_sql"].strip(),
        denominator_sql=row["denominator_sql"].strip(),
        higher_is_better=_flag(row["higher_is_better"], where("higher_is_better")),
        key_metric=_number(row["key_metric"], where("key_metric")),
        forecast=_flag(row["forecast"], where("forecast")),
        review_chart=_flag(row["review_chart"], where("review_chart")),
        by_segment=_flag(row["by_segment"], where("by_segment")),
        trailing_window_days=_number(row["trailing_window_days"], where("trailing_window_days")),
        warmup_days=_number(row["warmup_days"], where("warmup_days")),
        min_value=_number(row["min_value"], where("min_value"), float),
        max_value=_number(row["max_value"], where("max_value"), float),
    )


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, Metric]:
    """The catalogue by metric name, in file order."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CatalogueError(f"{path.name}: missing column(s) {', '.join(missing)}")
        metrics: dict[str, Metric] = {}
        for line, row in enumerate(reader, start=2):
            metric = _metric(row, line, path)
            if metric.name in metrics:
                raise CatalogueError(f"{path.name} line {line}: metric {metric.name!r} is declared twice")
            metrics[metric.name] = metric
    return metrics


def metric(name: str | None) -> Metric | None:
    """The catalogue entry of a metric, or None for a name the catalogue does not declare."""
    return load_catalogue().get(name) if name else None


def metric_names() -> tuple[str, ...]:
    return tuple(load_catalogue())


def key_metrics() -> tuple[str, ...]:
    """The reports' key metrics, in their table order."""
    keyed = [m for m in load_catalogue().values() if m.key_metric is not None]
    return tuple(m.name for m in sorted(keyed, key=lambda m: m.key_metric))


def forecast_metrics() -> tuple[str, ...]:
    return tuple(m.name for m in load_catalogue().values() if m.forecast)


def review_chart_metrics() -> tuple[str, ...]:
    return tuple(m.name for m in load_catalogue().values() if m.review_chart)


def kinds() -> dict[str, str]:
    return {m.name: m.kind for m in load_catalogue().values()}


def warmup_days() -> dict[str, int]:
    return {m.name: m.warmup_days for m in load_catalogue().values() if m.warmup_days}


def trailing_window_days() -> dict[str, int]:
    """Metrics whose value covers a trailing window (its first window is partial in a young warehouse)."""
    return {m.name: m.trailing_window_days for m in load_catalogue().values() if m.trailing_window_days}


def rolling_user_counts() -> dict[str, int]:
    """Counts of distinct users over a trailing window (wau, mau), with the window's days."""
    return {m.name: m.trailing_window_days for m in load_catalogue().values() if m.counts_distinct_users_over_window}


def is_proportion(name: str | None) -> bool:
    """True for metrics that are shares (rates, stickiness, adoption): shown in percent, changes in pp. The
    catalogue's kind decides; an insight's own measure outside the catalogue (a prompt's render completion rate, a
    funnel's conversion rate) is a share when its name ends in `_rate`."""
    if not name:
        return False
    entry = metric(name)
    return entry.is_proportion if entry else name.endswith("_rate")


def higher_is_better(name: str) -> bool:
    entry = metric(name)
    return True if entry is None else entry.higher_is_better


def metric_label(name: str | None) -> str:
    """Human name of a metric ('dau' -> 'Daily active users'); unknown names are de-snake-cased."""
    if not name:
        return ""
    entry = metric(name)
    return entry.label if entry else name.replace("_", " ").capitalize()


def metric_name(name: str | None) -> str:
    """The label as written inside a sentence ('render_failure_rate' -> 'render failure rate'; 'DAU' kept)."""
    label = metric_label(name)
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def metric_unit(name: str | None, default: str) -> str:
    """What the metric's counts or denominators count ('users', 'renders started'), else `default`."""
    entry = metric(name)
    return entry.unit if entry and entry.unit else default


def denominator_units() -> dict[str, str]:
    """What each ratio's or share's denominator counts, by metric."""
    return {m.name: m.denominator_unit for m in load_catalogue().values() if m.denominator_unit}
