"""Export NDJSON lines → PostgreSQL COPY rows for `raw.events`, or quarantine records with a reason.

Pure and streaming: no database access. One `LineParser` per load attempt, so a retried export window
starts from clean counters.
"""

from __future__ import annotations

import bisect
import json
import math
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

MAX_QUARANTINED_LINE_BYTES = 1_000_000
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


def _contains_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


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

    def _quarantine(self, line: bytes, reason: str, detail: str, day: date | None = None) -> None:
        self.quarantine_reasons[reason] += 1
        raw_hex = line[:MAX_QUARANTINED_LINE_BYTES].hex()
        row = f"{copy_text(day)}\t{self.lines}\t{copy_text(reason)}\t{copy_text(detail[:500])}\t\\\\x{raw_hex}\n"
        self.quarantine_file.write(row.encode("utf-8", "replace"))

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
        for line in lines:
            self.lines += 1
            self.bytes += len(line) + 1
            try:
                record = loads(line)
            except orjson.JSONDecodeError as exc:
                try:  # orjson refuses some valid JSON (integers beyond 64 bits); never lose such a line
                    record = json.loads(line)
                except ValueError:
                    self._quarantine(line, INVALID_JSON, str(exc))
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
            if b"\\u0000" in line and _contains_nul(record):
                self._quarantine(line, NUL_CHARACTER, "contains \\u0000, which PostgreSQL jsonb cannot store", day)
                continue
            try:
                row = self._row(event, props, t, day, load_columns, dumps)
            except (ValueError, TypeError, OverflowError, UnicodeEncodeError) as exc:
                # e.g. lone surrogates or NaN that only the lenient parser accepted: valid input, not storable
                self._quarantine(line, UNSTORABLE_JSON, f"{type(exc).__name__}: {exc}"[:300], day)
                continue
            self.rows_by_day[day] += 1
            yield row

    @staticmethod
    def _row(event: str, props: dict, t: float, day: date, load_columns: str, dumps) -> bytes:
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
        except TypeError:  # integers beyond 64 bits (the lenient parser's output)
            props_json = json.dumps(props, ensure_ascii=False, allow_nan=False)
        distinct_id = props.get("distinct_id")
        insert_id = props.get("$insert_id")
        return (
            f"{day.isoformat()}\t{copy_text(event)}\t"
            f"{copy_text(distinct_id) if distinct_id not in (None, '') else chr(92) + 'N'}\t"
            f"{_utc_text(t)}\t{copy_text(insert_id)}\t{processing_text}\t"
            f"{props_json.replace(chr(92), chr(92) * 2)}\t{load_columns}\n"
        ).encode()


def utc_bounds_of_dates(first: date, last: date, timezone: str) -> tuple[float, float]:
    """UTC epoch bounds [start, end) of the calendar dates first..last in a time zone."""
    tz = ZoneInfo(timezone)
    end = last + timedelta(days=1)
    return (
        datetime(first.year, first.month, first.day, tzinfo=tz).timestamp(),
        datetime(end.year, end.month, end.day, tzinfo=tz).timestamp(),
    )
