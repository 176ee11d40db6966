"""What every API resource shares: validated query parameters, paging with an opaque cursor, and answering a table
as JSON or CSV (`?format=csv` or `Accept: text/csv`)."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request
from fastapi.responses import Response

from hitcraft_assets.analytics import metric_catalogue

SEGMENT_TYPES = ("role", "experience_level", "channel", "platform", "country")
MAX_LIMIT = 1000


def invalid(field: str, message: str, where: str = "query") -> HTTPException:
    """A 422 in FastAPI's own shape, naming the field."""
    return HTTPException(422, detail=[{"loc": [where, field], "msg": message, "type": "value_error"}])


def known_metric(metric: str, field: str = "metric", where: str = "query") -> metric_catalogue.Metric:
    entry = metric_catalogue.metric(metric)
    if entry is None:
        known = ", ".join(metric_catalogue.metric_names())
        raise invalid(field, f"unknown metric {metric!r}; known metrics: {known}", where)
    return entry


SegmentTypeQuery = Annotated[str | None, Query(description=f"One of {', '.join(SEGMENT_TYPES)}.")]
SegmentValueQuery = Annotated[str | None, Query(description="A value of segment_type, e.g. ios (see /segments).")]


def segment_filter(segment_type: str | None, segment_value: str | None) -> tuple[str, str] | None:
    if segment_type is None and segment_value is None:
        return None
    if segment_type not in SEGMENT_TYPES:
        raise invalid("segment_type", f"segment_type must be one of {', '.join(SEGMENT_TYPES)}")
    if not segment_value:
        raise invalid("segment_value", "segment_value is required with segment_type")
    return segment_type, segment_value


@dataclass(frozen=True)
class Range:
    start: date | None
    end: date | None

    def days(self) -> int | None:
        return (self.end - self.start).days + 1 if self.start and self.end else None


def date_range(
    start: Annotated[date | None, Query(description="First day, YYYY-MM-DD (inclusive).")] = None,
    end: Annotated[date | None, Query(description="Last day, YYYY-MM-DD (inclusive).")] = None,
) -> Range:
    if start and end and end < start:
        raise invalid("end", f"end {end} is before start {start}")
    return Range(start, end)


def default_range(window: Range, newest: date | None, days: int) -> Range:
    """The asked range, or the `days` days ending at the newest day with data."""
    end = window.end or newest
    start = window.start or (end - timedelta(days=days - 1) if end else None)
    return Range(start, end)


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")] = 100,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Page:
    offset = 0
    if cursor:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["offset"])
            assert offset >= 0
        except Exception:
            raise invalid("cursor", "cursor is not one this API gave out") from None
    return Page(limit, offset)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def plain(value: Any) -> Any:
    """A JSON- and CSV-friendly value: dates in ISO form, NaN as None, numbers as numbers."""
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):  # numpy scalars
        return plain(value.item())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    try:
        if value != value:  # pandas NA / NaT
            return None
    except (TypeError, ValueError):
        pass
    return value


def records(frame, columns: Sequence[str] | None = None) -> list[dict]:
    """DataFrame rows as plain dicts (in `columns` order when given)."""
    if frame is None or len(frame) == 0:
        return []
    if columns is not None:
        frame = frame.reindex(columns=list(columns))
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def wants_csv(request: Request, format: str | None) -> bool:
    if format is not None:
        if format not in ("json", "csv"):
            raise invalid("format", "format must be json or csv")
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "")


FormatQuery = Annotated[str | None, Query(description="`csv` for a CSV file (or send Accept: text/csv).")]


def _csv_cell(value: Any) -> Any:
    value = plain(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not run event-derived text as a formula
    return value


def csv_response(rows: Iterable[dict], columns: Sequence[str], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(row.get(k)) for k in columns})
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def table(
    request: Request,
    rows: list[dict],
    columns: Sequence[str],
    *,
    name: str,
    format: str | None = None,
    paging: Page | None = None,
    first_row: int = 0,
    **extra: Any,
) -> Any:
    """A table answered as JSON ({items, next_cursor, ...extra}) or CSV; paged when `paging` is given (`rows[0]` is
    row number `first_row` of the whole result: a reader that already skipped the page's offset). A CSV export is
    written to the audit log."""
    if paging is not None:
        skip = paging.offset - first_row
        more = len(rows) > skip + paging.limit
        shown = rows[skip : skip + paging.limit]
        next_cursor = _cursor(paging.offset + paging.limit) if more else None
    else:
        shown, next_cursor = rows, None
    if wants_csv(request, format):
        from hitcraft_assets.store import app_users

        principal = getattr(request.state, "principal", None)
        app_users.audit(
            "export_csv",
            actor=principal.name if principal else None,
            target=request.url.path,
            detail={"query": str(request.url.query), "rows": len(shown)},
            client=request.client.host if request.client else None,
            url=request.app.state.url,
        )
        return csv_response(shown, columns, name)
    return {
        **{k: plain(v) for k, v in extra.items()},
        "columns": list(columns),
        "items": shown,
        "next_cursor": next_cursor,
    }
