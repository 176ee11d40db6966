"""Number formatting for insight titles and statements, and the check that every quoted number comes from the
insight's `numbers` (the same check the report's AI summary goes through).

Rule: a statement quotes a number only through these formatters, applied to a value stored in `numbers`; what
the formatter prints is then derivable from that value (as is, or x100 for percentages, rounded)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# a digit right after "<letter>-" belongs to a name (prompt version ap-8, model gpt-4), not a quoted number
_NUMBER = re.compile(r"(?<![\w.])(?<![A-Za-z_][-−])[+\-−]?\d[\d,]*(?:\.\d+)?(?:e[+\-]?\d+)?%?")


def pct(x: float, digits: int = 1) -> str:
    """A fraction as a percentage: pct(0.6892) -> '68.9%'."""
    return f"{100 * x:.{digits}f}%"


def signed_pct(x: float, digits: int = 0) -> str:
    """A relative change as a signed percentage: signed_pct(0.27) -> '+27%', signed_pct(-0.031, 1) -> '-3.1%'."""
    return f"{100 * x:+.{digits}f}%"


def pp(x: float, digits: int = 1) -> str:
    """A difference of two fractions in percentage points: pp(0.148) -> '+14.8 pp'."""
    return f"{100 * x:+.{digits}f} pp"


def count(x: float) -> str:
    """A count, rounded, with thousands separators: count(3777.2) -> '3,777'."""
    return f"{round(x):,}"


def num(x: float, digits: int = 2) -> str:
    """A plain number with fixed decimals and thousands separators: num(1234.567, 1) -> '1,234.6'."""
    return f"{x:,.{digits}f}"


def signed(x: float, digits: int = 1) -> str:
    """A signed number: signed(2.5) -> '+2.5'."""
    return f"{x:+,.{digits}f}"


def p_text(p: float) -> str:
    """A p-value: 'p = 0.031' (3 decimals) from 0.001 up, 'p = 3.1e-05' below."""
    if p >= 0.001:
        return f"p = {p:.3f}"
    return f"p = {max(p, 1e-300):.1e}"


def ungrounded_numbers(text: str, numbers: Mapping[str, float]) -> list[str]:
    """The numeric tokens of `text` that no value of `numbers` formats to; [] when the text is grounded.

    Dates (YYYY-MM-DD) and the digits of names such as "ap-8" are ignored. A token matches a value v when, at the
    token's own number of decimals, it equals |v| or 100|v| (percentages, percentage points) after rounding; 'e'
    notation matches to its 2 significant digits. Signs and thousands separators are ignored."""
    values = [abs(float(v)) for v in numbers.values() if v is not None and math.isfinite(float(v))]
    missing = []
    for token in _NUMBER.findall(_DATE.sub(" ", text)):
        if not _matches(token, values):
            missing.append(token)
    return missing


def _matches(token: str, values: list[float]) -> bool:
    body = token.lstrip("+-−").rstrip("%").replace(",", "")
    target = float(body)
    if "e" in body:
        return any(v > 0 and abs(v - target) <= 0.051 * target for v in values)
    decimals = len(body.split(".")[1]) if "." in body else 0
    tolerance = 0.5 * 10**-decimals + 1e-9
    return any(abs(c - target) <= tolerance for v in values for c in (v, 100 * v))
