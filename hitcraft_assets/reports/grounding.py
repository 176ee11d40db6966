"""Number grounding: every number (and date) in a text written by Claude must be one of the evidence values,
up to how it was written: '12.5 %' and '0.125' match 0.1249, '1,234' matches 1234.4, '1.2k' matches 1,180,
'27 %' matches 0.273, '1.27x' matches a relative effect of 0.27 (evidence includes 1 + r for those)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )  # fmt: skip
    for name in names
}
_MONTH = r"\b(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = (
    re.compile(r"(?<!\d)(?P<year>\d{4})-(?P<mnum>\d{1,2})-(?P<day>\d{1,2})(?!\d)"),
    re.compile(_MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<year>\d{4}))?(?!\d)", re.IGNORECASE),
    re.compile(
        r"(?<!\d)(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?:,?\s+(?P<year>\d{4}))?", re.IGNORECASE
    ),  # fmt: skip
)
_MULTIPLIERS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<bound>(?:[<≤>≥~≈]|(?:less|fewer|more|greater) than|at (?:least|most)|below|under|above|over"
    r"|about|around|roughly|approximately|nearly|almost)\s*)?"
    r"(?P<sign>[-+−])?[$€£]?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s?(?P<suffix>k|K|M|mn|bn|thousand|million|billion)(?![A-Za-z]))?"
    r"(?:\s?(?P<unit>%|percent\b|per cent\b|pp\b|p\.p\.|percentage points?\b|x(?![A-Za-z])|×))?"
    r"(?P<tail>[A-Za-z])?",
    re.IGNORECASE,
)
_MACHINE_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_LIST_MARKER = re.compile(r"^\s*\d{1,2}[.)]\s", re.MULTILINE)
_P_VALUE_BOUND = re.compile(r"p\s*(?:-value\s*)?(?:is\s*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class StatedNumber:
    """A number as written: `value` in the written scale (12.5 for '12.5 %', 1200 for '1.2k'), `tolerance` half
    a unit of its last written digit, `percent` for %, pp and 'percent', `bound` for '< 0.001'-style limits."""

    text: str
    value: float
    tolerance: float
    percent: bool
    bound: str
    start: int


@dataclass(frozen=True)
class NumberMismatch:
    """A number or date in the text that matches no evidence value (`context`: the words around it)."""

    text: str
    context: str
    reason: str

    def __str__(self) -> str:
        return f"{self.text!r} ({self.reason}) in '…{self.context}…'"


@dataclass(frozen=True)
class Evidence:
    """What a text may quote: `values` (fractions are also accepted in percent), `dates`, and `p_values`
    (a stated bound such as 'p < 0.001' holds when one of them is below it)."""

    values: tuple[float, ...]
    dates: frozenset[date] = field(default_factory=frozenset)
    p_values: tuple[float, ...] = ()

    def merged(self, other: Evidence) -> Evidence:
        return Evidence(self.values + other.values, self.dates | other.dates, self.p_values + other.p_values)


def evidence_from(values: Iterable, dates: Iterable[date] = (), p_values: Iterable = ()) -> Evidence:
    """Evidence from raw values (None / NaN / non-numbers are skipped)."""
    return Evidence(tuple(_finite(values)), frozenset(dates), tuple(_finite(p_values)))


def evidence_from_text(text: str) -> Evidence:
    """Evidence made of every number and date in machine-written `text` (a tool result: CSV or JSON, where a
    comma separates values rather than thousands), including scientific notation ('2e-09')."""
    cleaned, dates = _take_dates(text)
    values = [float(token) for token in _MACHINE_NUMBER.findall(cleaned)]
    return Evidence(tuple(_finite(values)), frozenset(d for d, _ in dates if d is not None))


def extract_numbers(text: str) -> list[StatedNumber]:
    """Numbers written in `text`, skipping list markers ('1. ') and numbers glued to words ('D30', 'v2',
    '2nd'). Dates should be removed first (`check_numbers` does)."""
    masked = _LIST_MARKER.sub(lambda m: " " * len(m.group(0)), text)
    numbers = []
    for match in _NUMBER.finditer(masked):
        if match.group("tail"):  # '2nd', '30d', 'x86': a label, not a quantity
            continue
        digits = match.group("digits").replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        multiplier = _MULTIPLIERS.get((match.group("suffix") or "").lower(), 1.0)
        unit = (match.group("unit") or "").lower()
        numbers.append(
            StatedNumber(
                text=match.group(0).strip(),
                value=float(digits) * multiplier,
                tolerance=0.5 * 10.0**-decimals * multiplier,
                percent=unit not in ("", "x", "×"),
                bound=(match.group("bound") or "").strip().lower(),
                start=match.start(),
            )
        )
    return numbers


def check_numbers(text: str, evidence: Evidence, relative_tolerance: float = 1e-6) -> list[NumberMismatch]:
    """Every number and date of `text` that no evidence value explains, with its context.

    A stated number s (written with d decimals) matches an evidence value v when |s| is within half a unit of
    its last digit (plus `relative_tolerance`) of |v| or, for percentages, of 100|v| as well. Signs are not
    compared (a 'drop of 3 %' quotes -0.03). A bound ('p < 0.001', 'under 5 %') holds when an evidence value
    (for p: a p-value) lies on its side of it. Dates (ISO or 'Nov 9', '9 November 2026') must be evidence dates;
    a four-digit year must be the year of one.
    """
    cleaned, dates = _take_dates(text)
    mismatches = [
        NumberMismatch(written, _context(text, start), "date not in the evidence")
        for stated, written, start in ((d, w, s) for (d, (w, s)) in dates)
        if stated is None or not _date_matches(stated, evidence.dates)
    ]
    years = {d.year for d in evidence.dates}
    magnitudes = [abs(v) for v in evidence.values + evidence.p_values]
    for number in extract_numbers(cleaned):
        if number.bound:
            if not _bound_holds(number, cleaned, evidence, magnitudes):
                reason = "bound not supported"
                mismatches.append(NumberMismatch(number.text, _context(cleaned, number.start), reason))
            continue
        if not number.percent and number.tolerance == 0.5 and int(number.value) in years:
            continue
        if not _matches(number, magnitudes, relative_tolerance):
            mismatches.append(NumberMismatch(number.text, _context(cleaned, number.start), "no evidence value"))
    return mismatches


def _matches(number: StatedNumber, magnitudes: list[float], relative_tolerance: float) -> bool:
    allowed = number.tolerance + relative_tolerance * abs(number.value) + 1e-12
    for magnitude in magnitudes:
        if abs(number.value - magnitude) <= allowed:
            return True
        if number.percent and abs(number.value - 100 * magnitude) <= allowed:
            return True
    return False


def _bound_holds(number: StatedNumber, text: str, evidence: Evidence, magnitudes: list[float]) -> bool:
    """'p < 0.001' holds when a p-value is below it; any other bound ('under 5 %', 'over 1,000') needs an
    evidence value on its side within 25 % of it, an approximation ('about 30 %') one within 10 %, so a loose
    bound cannot hide a wrong number."""
    below = number.bound in ("<", "≤", "less than", "fewer than", "at most", "below", "under", "nearly", "almost")
    above = number.bound in (">", "≥", "more than", "greater than", "at least", "above", "over")
    if _P_VALUE_BOUND.search(text[max(0, number.start - 12) : number.start]):
        limit = number.value / 100 if number.percent else number.value
        return any(p <= limit + number.tolerance for p in evidence.p_values)
    written = [100 * m for m in magnitudes] + magnitudes if number.percent else magnitudes
    # An approximation ('about', '~') may be 10 % off either way; a one-sided bound up to 25 % on its side.
    slack = number.tolerance + (0.25 if below or above else 0.10) * number.value
    for candidate in written:
        on_side = (
            candidate <= number.value + number.tolerance
            if below
            else candidate >= number.value - number.tolerance
            if above
            else True
        )
        if on_side and abs(candidate - number.value) <= slack:
            return True
    return False


def _take_dates(text: str) -> tuple[str, list[tuple[date | None, tuple[str, int]]]]:
    """Dates found in `text` (None when the parts are no valid date; the year None -> 1 as a wildcard) and
    the text with them blanked out."""
    found = []
    chars = list(text)
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer("".join(chars)):
            parts = match.groupdict()
            month = int(parts["mnum"]) if parts.get("mnum") else MONTHS[parts["month"].lower().rstrip(".")]
            try:
                stated = date(int(parts["year"]) if parts.get("year") else 1, month, int(parts["day"]))
            except ValueError:
                stated = None
            found.append((stated, (match.group(0), match.start())))
            chars[match.start() : match.end()] = " " * (match.end() - match.start())
    return "".join(chars), found


def _date_matches(stated: date, dates: frozenset[date]) -> bool:
    if stated.year == 1:  # written without a year
        return any((d.month, d.day) == (stated.month, stated.day) for d in dates)
    return stated in dates


def _finite(values: Iterable) -> list[float]:
    result = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            result.append(number)
    return result


def _context(text: str, start: int, width: int = 40) -> str:
    return re.sub(r"\s+", " ", text[max(0, start - width) : start + width]).strip()
