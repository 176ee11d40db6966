"""Export NDJSON lines → PostgreSQL COPY rows for `raw.events`, or quarantine records with a reason.

Pure and streaming: no database access. One `LineParser` per load attempt, so a retried export window
starts from clean counters.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import re
import tempfile
import time as _time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

# Quarantine reasons (stable identifiers; the check and the docs refer to them).
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_EVENT = "missing_event"
MISSING_PROPERTIES = "missing_properties"
MISSING_TIME = "missing_time"
INVALID_TIME = "invalid_time"
NUL_CHARACTER = "nul_character"
UNSTORABLE_JSON = "unstorable_json"
OUTSIDE_EXPORT_WINDOW = "time_outside_export_window"
INVALID_UTF8 = "invalid_utf8"
LINE_TOO_LARGE = "line_too_large"
TOO_DEEPLY_NESTED = "too_deeply_nested"
NON_FINITE_NUMBER = "non_finite_number"
NUMBER_OUT_OF_RANGE = "number_out_of_range"
INVALID_ID = "invalid_id"
REJECTED_BY_POSTGRES = "rejected_by_postgres"  # set by the loader (raw_store) when only PostgreSQL could tell

MAX_LINE_BYTES = 16 << 20  # longer lines are quarantined unparsed (Mixpanel events are at most ~1 MB)
MAX_JSON_DEPTH = 512  # nesting levels of a line (the top-level object is 1); deeper lines are quarantined
MAX_INT_DIGITS = 4300  # Python's int/str conversion limit; longer integer literals are quarantined
MAX_QUARANTINED_LINE_BYTES = 64 << 20  # beyond this a quarantined line is kept in part (detail says so)
_CHUNK_CHARS = 1 << 16
_MAX_EPOCH_S = 1e11  # above this, `time` is taken as milliseconds
_MAX_EPOCH_MS = 1e14  # year ~5138 in ms: anything larger is not a time
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: object) -> str:
    """A value in PostgreSQL COPY text format (NULL as \\N)."""
    if value is None:
        return "\\N"
    return str(value).translate(_COPY_ESCAPES)


def _utc_text(epoch: float) -> str:
    whole = int(epoch)
    text = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(whole))
    frac = epoch - whole
    if frac:
        text += f"{frac:.6f}"[1:]
    return text + "+00"


# A `\u0000` escape: preceded by an even number of backslashes (`\\u0000` is the text "\u0000", storable).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_BOM = b"\xef\xbb\xbf"
# Number shapes orjson parses without error but alters: integers beyond 64 bits become doubles, and tiny
# literals (1e-400) become 0.0. A line with a run of 19+ digits, or a number with an exponent e-NNN, takes the exact
# parser. The digits-to-"0" translation and two substring searches cost ~1 us per ordinary line.
_NUMBER_SHAPE = bytes(
    ord("0") if chr(b).isdigit() and b < 128 else ord("e") if b in b"eE" else ord("-") if b == ord("-") else 32
    for b in range(256)
)
_LONG_DIGITS = b"0" * 19
_EXPONENT_3 = b"0e-000"
_TINY_NUMBER = re.compile(rb"[:,\[]\s*-?[0-9]+(?:\.[0-9]+)?[eE]-[0-9]{3}")  # a number token, not a UUID's 4e-436


def has_nul_escape(line: bytes) -> bool:
    """Whether a JSON line holds the escape for U+0000 (PostgreSQL jsonb and text cannot store it)."""
    return b"\\u0000" in line and _NUL_ESCAPE.search(line) is not None


def json_depth(line: bytes) -> int:
    """Nesting depth of a JSON text (brackets outside strings), without recursion; rough on invalid JSON."""
    depth = deepest = 0
    for b in _JSON_STRING.sub(b"", line).translate(None, _NOT_BRACKET):
        if b in (91, 123):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def _too_deep(line: bytes) -> bool:
    return line.count(b"[") + line.count(b"{") > MAX_JSON_DEPTH and json_depth(line) > MAX_JSON_DEPTH


def exact_loads(line: bytes) -> tuple[object, tuple[str, str] | None]:
    """Parse one line exactly (the slow path): (record, problem) or (None, (reason, detail)).

    Integers keep every digit. NaN/Infinity and numbers a double cannot hold (1e400, 1e-400) are parsed (so a
    bad `time` still reads as invalid_time) but reported as the line's problem: stored, they would change. A
    leading UTF-8 byte-order mark is ignored (RFC 8259, 8.1); any other invalid UTF-8 (encoded surrogates
    included) is refused.
    """
    if line.startswith(_BOM):
        line = line[len(_BOM) :]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, (INVALID_UTF8, str(exc))
    if _too_deep(line):
        return None, (TOO_DEEPLY_NESTED, f"JSON nested {json_depth(line)} levels deep (at most {MAX_JSON_DEPTH})")
    problems: list[tuple[str, str]] = []

    def constant(name: str) -> float:
        problems.append((NON_FINITE_NUMBER, f"{name} is not a JSON number (jsonb cannot hold it)"))
        return float(name)

    def number(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value) or (value == 0.0 and literal.lower().partition("e")[0].strip("+-0.")):
            problems.append((NUMBER_OUT_OF_RANGE, f"number {literal[:60]} does not fit a double"))
        return value

    def integer(literal: str) -> int | float:
        if len(literal) - literal.startswith("-") > MAX_INT_DIGITS:
            problems.append((NUMBER_OUT_OF_RANGE, f"integer of {len(literal)} digits (at most {MAX_INT_DIGITS})"))
            return math.inf
        return int(literal)

    try:
        record = json.loads(text, parse_float=number, parse_int=integer, parse_constant=constant)
    except RecursionError:
        return None, (TOO_DEEPLY_NESTED, "JSON nested too deeply to parse")
    except ValueError as exc:
        return None, (INVALID_JSON, str(exc))
    return record, problems[0] if problems else None


@dataclass(frozen=True)
class DayGrid:
    """Maps UTC epoch seconds to the reporting-time-zone calendar day (DST-correct)."""

    days: tuple[date, ...]
    starts: tuple[float, ...]  # epoch of each day's local midnight, plus the end of the last day

    @classmethod
    def for_days(cls, first: date, last: date, timezone: str) -> DayGrid:
        tz = ZoneInfo(timezone)
        days = tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
        bounds = [datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() for d in days]
        end = last + timedelta(days=1)
        bounds.append(datetime(end.year, end.month, end.day, tzinfo=tz).timestamp())
        return cls(days, tuple(bounds))

    @property
    def start(self) -> float:
        return self.starts[0]

    @property
    def end(self) -> float:
        return self.starts[-1]

    def day_of(self, epoch: float) -> date | None:
        i = bisect.bisect_right(self.starts, epoch) - 1
        return self.days[i] if 0 <= i < len(self.days) else None


@dataclass
class LineParser:
    """Turns export lines into COPY text chunks for the target days.

    target: the reporting days being (re)loaded. export_start/export_end: the UTC bounds of what was
    requested from Mixpanel; a line outside them is quarantined. A valid line inside the export but outside
    the target days belongs to a neighbouring partition (the export's project-time-zone dates can overlap
    them) and is counted in `skipped_other_days`, not stored: that partition's own load stores it.
    """

    target: DayGrid
    export_start: float
    export_end: float
    load_columns: str  # pre-escaped, tab-joined trailing columns (source, window, load id, …)
    local_time_to_utc: Callable[[float], float] | None = None
    rows_by_day: Counter = field(default_factory=Counter)
    quarantine_reasons: Counter = field(default_factory=Counter)
    # COPY rows for raw.events_quarantine (the load appends its own columns); spooled to disk past 8 MB
    quarantine_file: tempfile.SpooledTemporaryFile = field(
        default_factory=lambda: tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b")
    )
    skipped_other_days: int = 0
    lines: int = 0
    bytes: int = 0

    # the line being yielded by `_rows` (its number is `lines`): the loader's per-row fallback reads them
    row_line: bytes = b""
    row_day: date | None = None

    def _quarantine(
        self, line: bytes, reason: str, detail: str, day: date | None = None, line_number: int | None = None
    ) -> None:
        self.quarantine_reasons[reason] += 1
        detail = detail[:500]
        if len(line) > MAX_QUARANTINED_LINE_BYTES:
            detail += (
                f" [raw_line keeps the first {MAX_QUARANTINED_LINE_BYTES} of {len(line)} bytes; "
                f"sha256 of the whole line {hashlib.sha256(line).hexdigest()}]"
            )
        raw_hex = line[:MAX_QUARANTINED_LINE_BYTES].hex()
        number = self.lines if line_number is None else line_number
        row = f"{copy_text(day)}\t{number}\t{copy_text(reason)}\t{copy_text(detail)}\t\\\\x{raw_hex}\n"
        self.quarantine_file.write(row.encode("utf-8", "replace"))

    def reject_row(self, line: bytes, day: date, line_number: int, detail: str) -> None:
        """Move a row already counted as stored to the quarantine (PostgreSQL refused it)."""
        self.rows_by_day[day] -= 1
        self._quarantine(line, REJECTED_BY_POSTGRES, detail, day, line_number)

    @property
    def quarantined(self) -> int:
        return sum(self.quarantine_reasons.values())

    def copy_chunks(self, lines: Iterator[bytes]) -> Iterator[bytes]:
        """COPY text for `raw.events` (see RAW_EVENT_COPY_COLUMNS), in chunks of ~64 KiB."""
        buffer: list[bytes] = []
        size = 0
        for row in self._rows(lines):
            buffer.append(row)
            size += len(row)
            if size >= _CHUNK_CHARS:
                yield b"".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield b"".join(buffer)

    def _rows(self, lines: Iterator[bytes]) -> Iterator[bytes]:
        target, load_columns = self.target, self.load_columns
        first_day_start, last_day_end = target.start, target.end
        to_utc = self.local_time_to_utc
        dumps, loads = orjson.dumps, orjson.loads
        shape_table, long_digits, exponent_3, tiny = _NUMBER_SHAPE, _LONG_DIGITS, _EXPONENT_3, _TINY_NUMBER.search
        for line in lines:
            self.lines += 1
            self.bytes += len(line) + 1
            if len(line) > MAX_LINE_BYTES:
                self._quarantine(line, LINE_TOO_LARGE, f"line of {len(line)} bytes (at most {MAX_LINE_BYTES})")
                continue
            problem = None
            shape = line.translate(shape_table)
            if long_digits in shape or (exponent_3 in shape and tiny(line) is not None):
                record, problem = exact_loads(line)  # orjson would round the number
            else:
                try:
                    record = loads(line)
                except orjson.JSONDecodeError:  # NaN, 1e400, depth > 1024, BOM, ...: decide exactly
                    record, problem = exact_loads(line)
            if record is None:
                self._quarantine(line, *problem)
                continue
            if not isinstance(record, dict):
                self._quarantine(line, NOT_AN_OBJECT, f"top-level JSON is {type(record).__name__}")
                continue
            event = record.get("event")
            props = record.get("properties")
            if not isinstance(event, str) or not event:
                self._quarantine(line, MISSING_EVENT, "no non-empty string 'event'")
                continue
            if not isinstance(props, dict):
                self._quarantine(line, MISSING_PROPERTIES, "no 'properties' object")
                continue
            t = props.get("time")
            if isinstance(t, bool) or not isinstance(t, (int, float)):
                self._quarantine(line, MISSING_TIME, f"properties.time is {t!r}"[:200])
                continue
            if not math.isfinite(t) or not 0 <= t < _MAX_EPOCH_MS:
                self._quarantine(line, INVALID_TIME, f"properties.time {t!r} is not a plausible epoch time"[:200])
                continue
            if t > _MAX_EPOCH_S:  # milliseconds (some ingestion paths send ms); export documents seconds
                t = t / 1000.0
            if to_utc is not None:
                t = to_utc(t)
            if not (self.export_start <= t < self.export_end):
                self._quarantine(line, OUTSIDE_EXPORT_WINDOW, f"time {_utc_text(t)} outside the requested export")
                continue
            if not (first_day_start <= t < last_day_end):
                self.skipped_other_days += 1  # its own day's load stores (or quarantines) it
                continue
            day = target.day_of(t)
            if problem is not None:  # NaN / Infinity / a number a double cannot hold: never stored altered
                self._quarantine(line, *problem, day)
                continue
            if has_nul_escape(line):
                self._quarantine(line, NUL_CHARACTER, "contains \\u0000, which PostgreSQL jsonb cannot store", day)
                continue
            distinct_id = props.get("distinct_id")
            insert_id = props.get("$insert_id")
            if (distinct_id is not None and type(distinct_id) is not str and type(distinct_id) is not int) or (
                insert_id is not None and type(insert_id) is not str and type(insert_id) is not int
            ):
                self._quarantine(
                    line,
                    INVALID_ID,
                    f"distinct_id {type(distinct_id).__name__}, $insert_id {type(insert_id).__name__}: "
                    "each must be a string, an integer or absent",
                    day,
                )
                continue
            try:
                row = self._row(event, props, t, day, load_columns, dumps, distinct_id, insert_id)
            except RecursionError:
                self._quarantine(line, TOO_DEEPLY_NESTED, "JSON nested too deeply to encode", day)
                continue
            except (ValueError, TypeError, OverflowError) as exc:
                # e.g. lone surrogates (\ud83d) that only the exact parser accepts: valid input, not storable
                self._quarantine(line, UNSTORABLE_JSON, f"{type(exc).__name__}: {exc}"[:300], day)
                continue
            if row is None:
                self._quarantine(
                    line,
                    TOO_DEEPLY_NESTED,
                    f"JSON nested {json_depth(line)} levels deep (at most {MAX_JSON_DEPTH})",
                    day,
                )
                continue
            self.rows_by_day[day] += 1
            self.row_line, self.row_day = line, day
            yield row

    @staticmethod
    def _row(
        event: str, props: dict, t: float, day: date, load_columns: str, dumps, distinct_id, insert_id
    ) -> bytes | None:
        """The COPY row, or None when the properties nest deeper than MAX_JSON_DEPTH."""
        processing = props.get("mp_processing_time_ms")
        processing_text = (
            _utc_text(processing / 1000.0)
            if isinstance(processing, (int, float))
            and not isinstance(processing, bool)
            and math.isfinite(processing)
            and 0 <= processing < _MAX_EPOCH_MS
            else "\\N"
        )
        try:
            props_json = dumps(props).decode()
        except TypeError:  # integers beyond 64 bits (the exact parser's output), or nesting orjson refuses
            if _depth_over(props, MAX_JSON_DEPTH - 1):
                return None
            props_json = json.dumps(props, ensure_ascii=False, allow_nan=False)
        return (
            f"{day.isoformat()}\t{copy_text(event)}\t"
            f"{copy_text(distinct_id) if distinct_id not in (None, '') else chr(92) + 'N'}\t"
            f"{_utc_text(t)}\t{copy_text(insert_id)}\t{processing_text}\t"
            f"{props_json.replace(chr(92), chr(92) * 2)}\t{load_columns}\n"
        ).encode()


def _depth_over(value: object, limit: int) -> bool:
    """Whether a parsed JSON value nests deeper than `limit` levels (iterative: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


def utc_bounds_of_dates(first: date, last: date, timezone: str) -> tuple[float, float]:
    """UTC epoch bounds [start, end) of the calendar dates first..last in a time zone."""
    tz = ZoneInfo(timezone)
    end = last + timedelta(days=1)
    return (
        datetime(first.year, first.month, first.day, tzinfo=tz).timestamp(),
        datetime(end.year, end.month, end.day, tzinfo=tz).timestamp(),
    )
