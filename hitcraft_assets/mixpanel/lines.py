"""Export NDJSON lines → PostgreSQL COPY rows for `raw.events`, or quarantine records with a reason.

Pure and streaming: no database access. One `LineParser` per load attempt, so a retried export window
starts from clean counters.
"""

from __future__ import annotations

import bisect
import json
import time as _time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

# Quarantine reasons (stable identifiers; the check and the docs refer to them).
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_EVENT = "missing_event"
MISSING_PROPERTIES = "missing_properties"
MISSING_TIME = "missing_time"
NUL_CHARACTER = "nul_character"
OUTSIDE_EXPORT_WINDOW = "time_outside_export_window"

MAX_QUARANTINED_LINE_BYTES = 1_000_000
_CHUNK_CHARS = 1 << 16
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
class QuarantinedLine:
    partition_date: date | None
    line_number: int
    reason: str
    detail: str
    raw_line: bytes


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
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    skipped_other_days: int = 0
    lines: int = 0
    bytes: int = 0

    def _quarantine(self, line: bytes, reason: str, detail: str, day: date | None = None) -> None:
        self.quarantine_reasons[reason] += 1
        self.quarantined.append(QuarantinedLine(day, self.lines, reason, detail, line[:MAX_QUARANTINED_LINE_BYTES]))

    def copy_chunks(self, lines: Iterator[bytes]) -> Iterator[bytes]:
        """COPY text for `raw.events` (see RAW_EVENT_COPY_COLUMNS), in chunks of ~64 KiB."""
        buffer: list[str] = []
        size = 0
        for row in self._rows(lines):
            buffer.append(row)
            size += len(row)
            if size >= _CHUNK_CHARS:
                yield "".join(buffer).encode()
                buffer, size = [], 0
        if buffer:
            yield "".join(buffer).encode()

    def _rows(self, lines: Iterator[bytes]) -> Iterator[str]:
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
            if t > 1e11:  # milliseconds (some ingestion paths send ms); export documents seconds
                t = t / 1000.0
            if to_utc is not None:
                t = to_utc(t)
            if b"\\u0000" in line and _contains_nul(record):
                day = target.day_of(t)
                self._quarantine(line, NUL_CHARACTER, "contains \\u0000, which PostgreSQL jsonb cannot store", day)
                continue
            if not (self.export_start <= t < self.export_end):
                self._quarantine(line, OUTSIDE_EXPORT_WINDOW, f"time {_utc_text(t)} outside the requested export")
                continue
            if not (first_day_start <= t < last_day_end):
                self.skipped_other_days += 1
                continue
            day = target.day_of(t)
            self.rows_by_day[day] += 1
            processing = props.get("mp_processing_time_ms")
            processing_text = (
                _utc_text(processing / 1000.0)
                if isinstance(processing, (int, float)) and not isinstance(processing, bool)
                else "\\N"
            )
            try:
                props_json = dumps(props).decode()
            except TypeError:
                props_json = json.dumps(props, ensure_ascii=False)
            distinct_id = props.get("distinct_id")
            insert_id = props.get("$insert_id")
            yield (
                f"{day.isoformat()}\t{copy_text(event)}\t"
                f"{copy_text(distinct_id) if distinct_id not in (None, '') else chr(92) + 'N'}\t"
                f"{_utc_text(t)}\t{copy_text(insert_id)}\t{processing_text}\t"
                f"{props_json.replace(chr(92), chr(92) * 2)}\t{load_columns}\n"
            )


def utc_bounds_of_dates(first: date, last: date, timezone: str) -> tuple[float, float]:
    """UTC epoch bounds [start, end) of the calendar dates first..last in a time zone."""
    tz = ZoneInfo(timezone)
    end = last + timedelta(days=1)
    return (
        datetime(first.year, first.month, first.day, tzinfo=tz).timestamp(),
        datetime(end.year, end.month, end.day, tzinfo=tz).timestamp(),
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
