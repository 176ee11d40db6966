"""How numbers, metric names and untrusted text are written in the reports (shared by every output format)."""

from __future__ import annotations

import math
import re
from xml.sax.saxutils import escape as xml_escape

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.metric_catalogue import metric_label as metric_label  # re-exported for renderers

INSIGHT_TYPE_LABELS = {
    "opportunity": "Growth opportunity",
    "risk": "Risk",
    "success": "Success",
    "anomaly": "Anomaly",
    "trend": "Trend",
}
INSIGHT_TYPE_ICONS = {"opportunity": "🚀", "risk": "⚠️", "success": "🏆", "anomaly": "🚨", "trend": "📈"}
ACTION_KIND_LABELS = {
    "campaign": "Campaign",
    "product_change": "Product change",
    "onboarding": "Onboarding",
    "ab_test": "A/B test",
    "investigate": "Investigate",
}
MINUS = "−"  # typographic minus: reads better than a hyphen in tables
DASH = "–"

# Characters with a meaning anywhere in a CommonMark/GFM line (code, emphasis, links and images, raw HTML,
# table cells, strikethrough, entities); a backslash makes any ASCII punctuation literal.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|~&])")
# Block markers that only count at the start of a line and before a space (headings, list items) or alone on
# it (setext underlines, thematic breaks): `15.1 min` or `+2 %` stay as they are.
_MARKDOWN_LINE_START = re.compile(r"^(\s*)(#(?=#{0,5}(\s|$))|[+-](?=\s|$)|[=-](?=[=-]*\s*$)|\d{1,9}(?=[.)](\s|$)))")


def is_proportion_metric(metric: str | None) -> bool:
    """True for metrics that are shares of 1: shown in percent, changes in pp (`metric_catalogue.is_proportion`)."""
    return metric_catalogue.is_proportion(metric)


def metric_format(metric: str | None) -> str:
    """The catalogue's format of a metric ('percent', 'minutes', 'days', 'count', 'number')."""
    entry = metric_catalogue.metric(metric)
    if entry:
        return entry.format
    return "percent" if is_proportion_metric(metric) else "number"


def is_missing(value) -> bool:
    """None, NaN or not a number."""
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def format_number(value, decimals: int | None = None, signed: bool = False) -> str:
    """1234.5 -> '1,235' (>= 100), 12.345 -> '12.3', 0.1234 -> '0.123'; `decimals` overrides; NaN -> 'n/a'."""
    if is_missing(value):
        return "n/a"
    value = float(value)
    if decimals is None:
        magnitude = abs(value)
        decimals = (
            0 if magnitude >= 100 or value == int(value) else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
        )
    text = f"{abs(value):,.{decimals}f}"
    sign = (MINUS if value < 0 else "+" if value > 0 and signed else "") if float(text.replace(",", "")) else ""
    return sign + text


def format_percent(fraction, decimals: int = 1, signed: bool = False) -> str:
    """0.1234 -> '12.3 %' (a fraction of 1 shown in percent); NaN -> 'n/a'."""
    if is_missing(fraction):
        return "n/a"
    return format_number(100 * float(fraction), decimals, signed) + " %"


def format_metric_value(metric: str | None, value, signed: bool = False) -> str:
    """A metric's value in its unit: percent for proportions, 'min' for durations, integers for counts."""
    if is_missing(value):
        return "n/a"
    kind = metric_format(metric)
    if kind == "percent":
        return format_percent(value, 1, signed)
    if kind == "minutes":
        return format_number(value, 1, signed) + " min"
    if kind == "days":
        return format_number(value, 1, signed) + " days"
    if kind == "count":
        return format_number(value, 0 if abs(float(value)) >= 10 else 1, signed)
    return format_number(value, None, signed)


def format_metric_difference(metric: str | None, difference, signed: bool = True) -> str:
    """An absolute difference in the metric's unit: percentage points for proportions (0.021 -> '+2.1 pp')."""
    if is_missing(difference):
        return "n/a"
    if is_proportion_metric(metric):
        return format_number(100 * float(difference), 1, signed) + " pp"
    return format_metric_value(metric, difference, signed)


def format_p_value(p_value) -> str:
    """'p < 0.001', 'p = 0.004', 'p = 0.050' (3 decimals below 0.1, so 0.0503 does not read as 0.05),
    'p = 0.31'; NaN -> '' (no test)."""
    if is_missing(p_value):
        return ""
    p_value = float(p_value)
    if p_value < 0.001:
        return "p < 0.001"
    return f"p = {p_value:.3f}" if p_value < 0.1 else f"p = {p_value:.2f}"


def format_interval(low: str, high: str) -> str:
    """Two formatted bounds as one interval string: '[−1.2 %, +3.4 %]'."""
    if low == "n/a" or high == "n/a":
        return ""
    return f"[{low}, {high}]"


def escape_markdown(text) -> str:
    """Untrusted text (insight statements quoting user-typed prompts, segment values) made literal in Markdown:
    newlines become spaces (a table cell / list item stays one line) and every Markdown-significant character
    is backslash-escaped, so `<script>` shows as text and `|` cannot break a table."""
    if text is None:
        return ""
    one_line = _MARKDOWN_INLINE.sub(r"\\\1", re.sub(r"\s*[\r\n]+\s*", " ", str(text)))
    # A backslash before the marker character (after the digits of an ordered-list number).
    return _MARKDOWN_LINE_START.sub(
        lambda m: m.group(1) + (m.group(2) + "\\" if m.group(2).isdigit() else "\\" + m.group(2)), one_line
    )


def escape_pdf_markup(text) -> str:
    """Untrusted text made literal in ReportLab Paragraph markup (which is XML-like: `<b>`, `<font>`, `&amp;`);
    control characters other than tab/newline are dropped because they are not valid XML."""
    if text is None:
        return ""
    cleaned = "".join(ch for ch in str(text) if ch in "\t\n" or ord(ch) >= 32)
    return xml_escape(cleaned, {'"': "&quot;"})
