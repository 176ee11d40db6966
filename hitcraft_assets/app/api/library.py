"""The insight library (the same search as `hitcraft insights search`) and the reports (list, HTML/PDF files)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse

from hitcraft_assets.analytics.insights.model import INSIGHT_TYPES
from hitcraft_assets.app.api.common import FormatQuery, Page, Range, date_range, invalid, page, records, table
from hitcraft_assets.app.auth import allow
from hitcraft_assets.app.cache import cached
from hitcraft_assets.app.permissions import Permission
from hitcraft_assets.reports.daily import REPORT_KINDS
from hitcraft_assets.store import app_users, insight_library

router = APIRouter()
INSIGHTS = [Depends(allow(Permission.INSIGHTS))]
REPORTS = [Depends(allow(Permission.REPORTS))]
INSIGHT_COLUMNS = (
    "as_of",
    "rank",
    "status",
    "insight_type",
    "title",
    "statement",
    "metric",
    "segment_type",
    "segment_value",
    "test",
    "p_value",
    "q_value",
    "effect",
    "ci_low",
    "ci_high",
    "sample_size",
    "sample_unit",
    "impact",
    "impact_unit",
    "confidence",
    "score",
    "days_running",
    "first_seen",
    "reason",
    "key",
    "generator",
    "recommendations",
)
_SEGMENT = re.compile(r"^(?:[a-z_]+=)?[^=]+$")


@router.get("/insights", dependencies=INSIGHTS, tags=["insights"], summary="Search the insight library")
@cached
def insights(
    request: Request,
    window: Annotated[Range, Depends(date_range)],
    paging: Annotated[Page, Depends(page)],
    q: Annotated[
        str | None, Query(max_length=200, description='Words (web-search syntax: "a phrase", or, -word).')
    ] = None,  # noqa: E501
    insight_type: Annotated[str | None, Query(alias="type", description=f"One of {', '.join(INSIGHT_TYPES)}.")] = None,
    metric: Annotated[str | None, Query(max_length=100, description="A metric, e.g. render_failure_rate.")] = None,
    segment: Annotated[str | None, Query(max_length=200, description="A segment value or type=value.")] = None,
    status: Annotated[
        str, Query(pattern="^(selected|rejected|all)$", description="selected, rejected or all")
    ] = "selected",  # noqa: E501
    format: FormatQuery = None,
):
    """Insights newest day first, then by rank, each with its evidence (test, p- and q-value, effect and interval,
    sample), impact and recommended actions; `status=rejected` lists the candidates that were not selected and
    why."""
    if insight_type is not None and insight_type not in INSIGHT_TYPES:
        raise invalid("type", f"type must be one of {', '.join(INSIGHT_TYPES)}")
    if segment is not None and not _SEGMENT.match(segment):
        raise invalid("segment", "segment must be a value or type=value (e.g. platform=ios)")
    url = request.app.state.url
    frame = None
    if insight_library.exists(url):
        frame = insight_library.search(
            url,
            text=q,
            insight_type=insight_type,
            metric=metric,
            segment=segment,
            start=window.start,
            end=window.end,
            status=None if status == "all" else status,
            limit=paging.offset + paging.limit + 1,
        )
    return table(
        request, records(frame, INSIGHT_COLUMNS), INSIGHT_COLUMNS, name="insights", format=format, paging=paging
    )


def _report_files(kind: str | None = None) -> list[dict]:
    from hitcraft_assets.reports.builder import reports_dir

    rows = []
    for kind_ in [kind] if kind else REPORT_KINDS:
        folder = reports_dir() / kind_
        for html in sorted(folder.glob(f"hitcraft-{kind_}-*.html"), reverse=True):
            day = html.stem.removeprefix(f"hitcraft-{kind_}-")
            rows.append(
                {
                    "kind": kind_,
                    "as_of": day,
                    "html": f"/api/v1/reports/{kind_}/{day}.html",
                    "pdf": f"/api/v1/reports/{kind_}/{day}.pdf" if html.with_suffix(".pdf").exists() else None,
                    "bytes": html.stat().st_size,
                }
            )
    return sorted(rows, key=lambda r: (r["as_of"], r["kind"]), reverse=True)


@router.get("/reports", dependencies=REPORTS, tags=["reports"], summary="The written reports")
def reports(
    request: Request,
    paging: Annotated[Page, Depends(page)],
    kind: Annotated[
        str | None, Query(pattern="^(daily|weekly|monthly)$", description="daily, weekly or monthly")
    ] = None,  # noqa: E501
    format: FormatQuery = None,
):
    columns = ("kind", "as_of", "html", "pdf", "bytes")
    return table(request, _report_files(kind), columns, name="reports", format=format, paging=paging)


@router.get("/reports/{kind}/{day}.{extension}", dependencies=REPORTS, tags=["reports"], summary="A report file")
def report_file(request: Request, kind: str, day: date, extension: str):
    """The report's HTML (charts inline) or PDF, as the report assets wrote it."""
    from hitcraft_assets.reports.builder import reports_dir

    if kind not in REPORT_KINDS:
        raise invalid("kind", f"kind must be one of {', '.join(REPORT_KINDS)}", "path")
    if extension not in ("html", "pdf"):
        raise invalid("extension", "extension must be html or pdf", "path")
    path = reports_dir() / kind / f"hitcraft-{kind}-{day.isoformat()}.{extension}"  # built from validated parts
    if not path.exists():
        raise HTTPException(404, f"no {kind} report for {day} ({extension})")
    principal = request.state.principal
    app_users.audit(
        "export_report",
        actor=principal.name,
        target=path.name,
        client=request.client.host if request.client else None,
        url=request.app.state.url,
    )
    media = "application/pdf" if extension == "pdf" else "text/html; charset=utf-8"
    return FileResponse(path, media_type=media, filename=path.name if extension == "pdf" else None)
