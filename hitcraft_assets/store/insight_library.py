"""The insight library: every day's insights (selected and rejected, with their evidence) in the warehouse table
`insights.insight_library`, read back for the next day's merging, the reports, `hitcraft insights search` and
`hitcraft ask`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import date

import pandas as pd

from hitcraft_assets.analytics.insights import Insight, InsightResult, Recommendation, is_history_record
from hitcraft_assets.store import warehouse
from hitcraft_assets.store.warehouse import Table

SCHEMA = "insights"

INSIGHT_LIBRARY = Table(
    SCHEMA,
    "insight_library",
    (
        ("as_of", "date not null"),
        ("key", "text not null"),
        ("status", "text not null"),  # 'selected' | 'rejected'
        ("rank", "integer"),  # 1 = first of the day (selected only)
        ("score", "double precision"),
        ("q_value", "double precision"),  # Benjamini-Hochberg adjusted p-value
        ("novelty", "double precision"),
        ("first_seen", "date"),
        ("days_running", "integer"),
        ("reason", "text"),  # why a candidate was rejected
        ("insight_type", "text not null"),
        ("generator", "text not null"),
        ("title", "text not null"),
        ("statement", "text not null"),
        ("metric", "text"),
        ("segment_type", "text"),
        ("segment_value", "text"),
        ("window_start", "date"),
        ("window_end", "date"),
        ("baseline_start", "date"),
        ("baseline_end", "date"),
        ("sample_size", "bigint"),
        ("sample_unit", "text"),
        ("test", "text"),
        ("p_value", "double precision"),
        ("effect", "double precision"),
        ("effect_relative", "double precision"),
        ("ci_low", "double precision"),
        ("ci_high", "double precision"),
        ("impact", "double precision"),
        ("impact_unit", "text"),
        ("confidence", "double precision"),
        ("numbers", "jsonb"),
        ("recommendations", "jsonb"),
    ),
    ("as_of", "key"),
)

_INSIGHT_FIELDS = [f.name for f in fields(Insight)]
_DATE_COLUMNS = ("as_of", "first_seen", "window_start", "window_end", "baseline_start", "baseline_end")


def library_frame(result: InsightResult) -> pd.DataFrame:
    """The rows of one day's result: selected (rank 1..n) then rejected candidates; one row per key."""
    rows = [r.to_record() | {"status": "selected"} for r in result.selected]
    rows += [r.to_record() | {"status": "rejected"} for r in result.rejected]
    frame = pd.DataFrame(rows).reindex(columns=INSIGHT_LIBRARY.column_names)
    for column in ("rank", "days_running", "sample_size"):  # NaN for rejected rows would make them floats
        frame[column] = frame[column].astype("Int64")
    return frame.drop_duplicates("key", keep="first")  # a key is selected or rejected once a day


def store(frame: pd.DataFrame, first: date, last: date, url: str | None = None) -> int:
    """Replace the library's rows of days first..last by `frame` (one transaction: a failed run keeps the old)."""
    return warehouse.replace_rows(
        INSIGHT_LIBRARY,
        frame,
        where="as_of between %(first)s and %(last)s",
        params={"first": first, "last": last},
        url=url,
    )


def exists(url: str | None = None) -> bool:
    return warehouse.table_exists(f"{SCHEMA}.{INSIGHT_LIBRARY.name}", url)


def has_rows(url: str | None = None) -> bool:
    """Whether any day's insights (selected or rejected) are stored."""
    if not exists(url):
        return False
    return bool(
        warehouse.read_frame(f"select exists (select 1 from {INSIGHT_LIBRARY.qualified}) as any", url=url)["any"].item()
    )


def read(url: str | None, start: date | None = None, end: date | None = None, status: str | None = "selected"):
    """Library rows with as_of in start..end (None: open), by day then rank; empty frame when nothing is stored."""
    if not exists(url):
        return pd.DataFrame(columns=INSIGHT_LIBRARY.column_names)
    return search(url, start=start, end=end, status=status, limit=None)


def search(
    url: str | None = None,
    *,
    text: str | None = None,
    insight_type: str | None = None,
    metric: str | None = None,
    segment: str | None = None,
    start: date | None = None,
    end: date | None = None,
    status: str | None = "selected",
    limit: int | None = 50,
) -> pd.DataFrame:
    """Library rows matching every given filter, newest day first, then rank.

    text: words in the title or statement (PostgreSQL full-text search, English stemming, web-search syntax:
    "quoted phrase", or, -word), or a substring; segment: a segment value or 'type=value' (platform=ios);
    status: 'selected', 'rejected' or None for both."""
    clauses, params = [], {}
    if text:
        clauses.append(
            "(to_tsvector('english', title || ' ' || statement) @@ websearch_to_tsquery('english', %(text)s)"
            " or title ilike %(like)s or statement ilike %(like)s)"
        )
        params |= {"text": text, "like": f"%{text}%"}
    for column, value in (("insight_type", insight_type), ("metric", metric), ("status", status)):
        if value:
            clauses.append(f"{column} = %({column})s")
            params[column] = value
    if segment:
        segment_type, _, value = segment.rpartition("=")
        clauses.append("segment_value = %(segment_value)s")
        params["segment_value"] = value
        if segment_type:
            clauses.append("segment_type = %(segment_type)s")
            params["segment_type"] = segment_type
    if start:
        clauses.append("as_of >= %(start)s")
        params["start"] = start
    if end:
        clauses.append("as_of <= %(end)s")
        params["end"] = end
    where = (" where " + " and ".join(clauses)) if clauses else ""
    order = " order by as_of desc, status desc, rank nulls last, score desc nulls last"
    sql = f"select * from {INSIGHT_LIBRARY.qualified}{where}{order}" + (f" limit {int(limit)}" if limit else "")
    return _typed(warehouse.read_frame(sql, params, url))


def previous_records(url: str | None, as_of: date, days: int = 7) -> list[dict]:
    """The selected and ranked-out records of the `days` days before `as_of`: what ranking needs to merge and age
    insights (`ranking.is_history_record`)."""
    start = pd.Timestamp(as_of).date() - pd.Timedelta(days=days)
    frame = read(url, start, pd.Timestamp(as_of).date() - pd.Timedelta(days=1), status=None)
    return [record for record in frame.to_dict("records") if is_history_record(record)]


def to_insights(frame: pd.DataFrame) -> list[Insight]:
    """Library rows back as Insight objects (for the reports), in the frame's order."""
    insights = []
    for record in frame.to_dict("records"):
        values = {name: _clean(record.get(name)) for name in _INSIGHT_FIELDS}
        values["numbers"] = _json(record.get("numbers")) or {}
        values["recommendations"] = tuple(Recommendation(**r) for r in (_json(record.get("recommendations")) or []))
        values["sample_size"] = int(values["sample_size"] or 0)
        insights.append(Insight(**values))
    return insights


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("numbers", "recommendations"):
        if column in frame:
            frame[column] = frame[column].map(_json)
    for column in _DATE_COLUMNS:
        if column in frame:
            frame[column] = frame[column].map(lambda v: None if v is None or pd.isna(v) else pd.Timestamp(v).date())
    return frame


def _json(value):
    if isinstance(value, str):
        return json.loads(value)
    return value


def _clean(value):
    """NaN/NaT from a DataFrame as None, numpy scalars as Python numbers (Insight fields are plain values)."""
    if value is None or (not isinstance(value, Sequence | dict) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
