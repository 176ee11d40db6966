"""Markdown (Dagster UI), plain text (e-mail body) and self-contained HTML renderings of a `Report`.

Every value a template prints comes from `report_view`, already formatted. Escaping is done by the template
engine, never by hand in a template: HTML autoescapes (Jinja2), Markdown escapes every printed value through
the environment's `finalize` hook, so text typed by users (prompt texts quoted in insights, segment values)
cannot inject markup in either.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import jinja2

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.insights.model import Insight, Recommendation
from hitcraft_assets.reports.daily import COMPARISON_DAYS, COMPARISON_LABELS, KeyMetric, Report
from hitcraft_assets.reports.formatting import (
    ACTION_KIND_LABELS,
    INSIGHT_TYPE_ICONS,
    INSIGHT_TYPE_LABELS,
    escape_markdown,
    format_interval,
    format_metric_difference,
    format_metric_value,
    format_number,
    format_p_value,
    format_percent,
    is_missing,
    is_proportion_metric,
    metric_format,
    metric_label,
)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
ImageSource = Callable[[str, bytes], str]  # (content key, PNG bytes) -> the <img src> to use


def render_markdown(report: Report) -> str:
    """GitHub-flavoured Markdown without HTML or images (for Dagster metadata): summary, key metrics table,
    insights with their evidence, recommended actions, the extra tables and the notes."""
    return _environment("markdown").get_template("report.md").render(**report_view(report)).strip() + "\n"


def render_text(report: Report) -> str:
    """Plain text in the layout of the spec's example report (the e-mail's text part; no markup)."""
    return _environment("text").get_template("report.txt").render(**report_view(report)).strip() + "\n"


def render_html(report: Report, image_source: ImageSource | None = None) -> str:
    """A self-contained HTML page: CSS in the page, charts and sparklines as `data:` URIs (default), or as
    whatever `image_source(key, png)` returns (the e-mail uses `cid:` references, see `report_images`)."""
    view = report_view(report, image_source or data_uri)
    return _environment("html").get_template("report.html").render(**view)


def data_uri(_key: str, png: bytes) -> str:
    """`data:image/png;base64,...` for a PNG."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def report_images(report: Report) -> list[tuple[str, bytes]]:
    """(key, PNG) of every image the HTML shows, in order: sparklines ('spark-<metric>') then charts (their
    key). Keys are unique and safe as e-mail Content-IDs."""
    images = [(_image_key("spark-" + m.metric), m.sparkline) for m in report.key_metrics if m.sparkline]
    return images + [(_image_key(chart.key), chart.png) for chart in report.charts]


def report_view(report: Report, image_source: ImageSource | None = None) -> dict:
    """Everything the templates print, as strings (and lists of dicts of strings). `image_source` None: no
    image sources (text formats)."""
    days = COMPARISON_DAYS[report.comparison]
    return {
        "kind": report.kind,
        "title": report.title,
        "as_of": str(report.as_of),
        "comparison_label": COMPARISON_LABELS[report.comparison],
        "day_header": str(report.as_of) if report.kind == "daily" else "",
        "window_header": f"Last {days} days",
        "summary": report.executive_summary,
        "summary_source": report.summary_source,
        "key_metrics": [_metric_view(m, report.kind, image_source) for m in report.key_metrics],
        "insights": [_insight_view(number, insight) for number, insight in enumerate(report.insights, 1)],
        "actions": [_action_view(number, rec) for number, rec in enumerate(report.recommendations, 1)],
        "tables": [
            {"title": t.title, "columns": list(t.columns), "rows": [list(r) for r in t.rows], "note": t.note}
            for t in report.tables
        ],
        "charts": [
            {
                "title": c.title,
                "caption": c.caption,
                "src": image_source(_image_key(c.key), c.png) if image_source else "",
            }
            for c in report.charts
        ],
        "notes": list(report.notes),
    }


def change_texts(metric: KeyMetric) -> tuple[str, str]:
    """(change, interval) of a key metric: percentage points for rates, minutes/days for durations (absolute
    change and interval), relative change in percent for counts and ratios."""
    if is_missing(metric.abs_change):
        return "n/a", ""
    if is_proportion_metric(metric.metric) or metric.kind == "proportion":
        low, high = (_points(v) for v in (metric.abs_ci_low, metric.abs_ci_high))
        return _points(metric.abs_change), format_interval(low, high)
    if metric_format(metric.metric) in ("minutes", "days"):
        low, high = (format_metric_value(metric.metric, v, True) for v in (metric.abs_ci_low, metric.abs_ci_high))
        return format_metric_value(metric.metric, metric.abs_change, True), format_interval(low, high)
    low, high = (format_percent(v, 1, True) for v in (metric.rel_ci_low, metric.rel_ci_high))
    return format_percent(metric.rel_change, 1, True), format_interval(low, high)


def insight_evidence(insight: Insight) -> str:
    """One line with the evidence behind an insight: test and p-value, effect with its interval, sample size,
    windows compared, weekly impact, confidence."""
    parts = [insight.test + (f", {format_p_value(insight.p_value)}" if not is_missing(insight.p_value) else "")]
    if not is_missing(insight.effect):
        effect = f"effect {format_metric_difference(insight.metric, insight.effect)}"
        if not is_missing(insight.ci_low) and not is_missing(insight.ci_high):
            low, high = (format_metric_difference(insight.metric, v) for v in (insight.ci_low, insight.ci_high))
            effect += f" (CI {low} to {high})"
        if not is_missing(insight.effect_relative):
            effect += f", {format_percent(insight.effect_relative, 1, True)} relative"
        parts.append(effect)
    parts.append(f"n = {format_number(insight.sample_size, 0)} {insight.sample_unit}")
    if insight.window_start and insight.window_end:
        window = _period(insight.window_start, insight.window_end)
        baseline = (insight.baseline_start, insight.baseline_end)
        if all(baseline) and baseline != (insight.window_start, insight.window_end):  # same window: a cross-section
            window += f" vs {_period(*baseline)}"
        parts.append(window)
    if not is_missing(insight.impact) and insight.impact > 0:
        parts.append(f"≈ {format_number(insight.impact, 0)} {insight.impact_unit}/week affected")
    parts.append(f"confidence {format_percent(insight.confidence, 0)}")
    return "; ".join(parts)


def recommendation_details(rec: Recommendation) -> str:
    """The A/B test design of a recommendation (hypothesis, metric, minimum detectable effect, users per arm)."""
    parts = []
    if rec.hypothesis:
        parts.append(f"Hypothesis: {rec.hypothesis}")
    if rec.metric:
        parts.append(f"metric: {metric_label(rec.metric)}")
    if not is_missing(rec.minimum_detectable_effect):
        parts.append(f"minimum detectable effect {format_metric_difference(rec.metric, rec.minimum_detectable_effect)}")
    if rec.users_per_arm:
        parts.append(f"{format_number(rec.users_per_arm, 0)} users per arm")
    return "; ".join(parts)


def _metric_view(metric: KeyMetric, kind: str, image_source: ImageSource | None) -> dict:
    change, interval = change_texts(metric)
    # Counts are compared as mean daily values (rolling-window counts such as wau as the value of the day).
    per_day = "/day" if metric.kind == "count" and metric.metric not in metric_catalogue.rolling_user_counts() else ""
    per_day = "" if is_missing(metric.current) else per_day
    src = (
        image_source(_image_key("spark-" + metric.metric), metric.sparkline)
        if image_source and metric.sparkline
        else ""
    )
    return {
        "label": metric.label,
        "day_value": format_metric_value(metric.metric, metric.day_value) if kind == "daily" else "",
        "window_value": format_metric_value(metric.metric, metric.current) + per_day,
        "change": change,
        "interval": interval,
        "p": format_p_value(metric.p_value) or ("not tested" if metric.note else ""),
        "test": metric.test,
        "note": metric.note,
        "sparkline_src": src,
    }


def _insight_view(number: int, insight: Insight) -> dict:
    return {
        "number": number,
        "type": insight.insight_type,
        "type_label": INSIGHT_TYPE_LABELS.get(insight.insight_type, insight.insight_type),
        "icon": INSIGHT_TYPE_ICONS.get(insight.insight_type, ""),
        "title": insight.title,
        "statement": insight.statement,
        "evidence": insight_evidence(insight),
        "actions": [rec.action for rec in insight.recommendations],
    }


def _action_view(number: int, rec: Recommendation) -> dict:
    return {
        "number": number,
        "kind_label": ACTION_KIND_LABELS.get(rec.kind, rec.kind),
        "action": rec.action,
        "details": recommendation_details(rec),
    }


def _points(difference) -> str:
    return "n/a" if is_missing(difference) else format_number(100 * float(difference), 1, signed=True) + " pp"


def _period(start, end) -> str:
    return str(start) if start == end else f"{start} – {end}"


def _image_key(key: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", key.lower())


def _flatten(value) -> str:
    # Plain text: keep every value on its line so a statement cannot fake a report section.
    return "" if value is None else re.sub(r"\s*[\r\n]+\s*", " ", str(value))


@cache
def _environment(kind: str) -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(TEMPLATE_DIR)
    options = {"loader": loader, "undefined": jinja2.StrictUndefined, "trim_blocks": True, "lstrip_blocks": True}
    if kind == "html":
        return jinja2.Environment(autoescape=True, **options)
    if kind == "markdown":
        return jinja2.Environment(autoescape=False, finalize=escape_markdown, **options)
    return jinja2.Environment(autoescape=False, finalize=_flatten, **options)
