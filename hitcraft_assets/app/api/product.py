"""Product analytics: funnels, retention cohorts, prompts, feature adoption, personas, churn risk by segment, and
the per-user data support needs (at-risk users, a user's timeline)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from hitcraft_assets.app.api.common import (
    FormatQuery,
    Page,
    Range,
    SegmentTypeQuery,
    SegmentValueQuery,
    date_range,
    default_range,
    invalid,
    page,
    plain,
    records,
    segment_filter,
    table,
)
from hitcraft_assets.app.api.metrics import newest_metric_day
from hitcraft_assets.app.auth import allow
from hitcraft_assets.app.cache import cached
from hitcraft_assets.app.permissions import Permission
from hitcraft_assets.store import app_readers
from hitcraft_assets.store.insight_inputs import newest_day, read_table

router = APIRouter()
PRODUCT = [Depends(allow(Permission.PRODUCT))]
PROMPTS = [Depends(allow(Permission.PROMPTS))]
USER_DATA = [Depends(allow(Permission.USER_DATA))]
FUNNEL_BREAKDOWNS = ("all", "role", "experience_level", "channel", "platform")


def _funnel_names(url: str) -> list[str]:
    return sorted(set(app_readers.funnel_definitions(url)["funnel_name"]))


def _funnel_segment(segment_type: str | None, segment_value: str | None) -> tuple[str, str] | None:
    segment = segment_filter(segment_type, segment_value)
    if segment and segment[0] not in FUNNEL_BREAKDOWNS:
        raise invalid("segment_type", f"funnels break down by {', '.join(FUNNEL_BREAKDOWNS[1:])}, not {segment[0]}")
    return segment


def _known_funnel(url: str, name: str) -> None:
    names = _funnel_names(url)
    if name not in names:
        raise invalid("name", f"unknown funnel {name!r}; funnels: {', '.join(names) or '(none yet)'}", "path")


@router.get("/funnels", dependencies=PRODUCT, tags=["funnels"], summary="Funnel definitions")
@cached
def funnels(request: Request, format: FormatQuery = None):
    """The funnels of seeds/funnels.csv: one row per step (event, optional property filter, conversion window)."""
    columns = ("funnel_name", "step", "event", "property_name", "property_value", "window_days")
    frame = app_readers.funnel_definitions(request.app.state.url)
    return table(request, records(frame, columns), columns, name="funnels", format=format)


@router.get("/funnels/{name}", dependencies=PRODUCT, tags=["funnels"], summary="A funnel's steps over a range")
@cached
def funnel(
    request: Request,
    name: str,
    window: Annotated[Range, Depends(date_range)],
    breakdown: Annotated[str, Query(description=f"One of {', '.join(FUNNEL_BREAKDOWNS)}.")] = "all",
    segment_type: SegmentTypeQuery = None,
    segment_value: SegmentValueQuery = None,
    format: FormatQuery = None,
):
    """Users reaching each step among those who entered on start..end (default: 28 days up to the newest day
    with complete conversion windows), conversion from the first and previous step, drop-off, and the median
    seconds from entry; per value of a breakdown when asked, or of one segment (segment_type = segment_value)."""
    url = request.app.state.url
    _known_funnel(url, name)
    if breakdown not in FUNNEL_BREAKDOWNS:
        raise invalid("breakdown", f"breakdown must be one of {', '.join(FUNNEL_BREAKDOWNS)}")
    segment = _funnel_segment(segment_type, segment_value)
    if segment and breakdown not in ("all", segment[0]):
        raise invalid("breakdown", f"with a {segment[0]} segment the breakdown can only be all or {segment[0]}")
    newest = newest_metric_day(url)
    window = default_range(window, newest - timedelta(days=7) if newest else None, 28)
    columns = (
        "breakdown_value",
        "step",
        "event",
        "users",
        "conversion_from_first",
        "conversion_from_previous",
        "drop_off_users",
        "median_seconds_from_entry",
    )
    frame = None
    if window.end:
        frame = app_readers.funnel_summary(url, name, window.start, window.end, segment[0] if segment else breakdown)
        if segment:
            frame = frame[frame["breakdown_value"] == segment[1]] if not frame.empty else frame
    return table(
        request,
        records(frame, columns),
        columns,
        name=f"funnel_{name}",
        format=format,
        funnel=name,
        breakdown=breakdown,
        segment=dict(zip(("segment_type", "segment_value"), segment)) if segment else None,
        start=window.start,
        end=window.end,
    )


@router.get("/funnels/{name}/over-time", dependencies=PRODUCT, tags=["funnels"], summary="Conversion by entry day")
@cached
def funnel_over_time(
    request: Request,
    name: str,
    window: Annotated[Range, Depends(date_range)],
    segment_type: SegmentTypeQuery = None,
    segment_value: SegmentValueQuery = None,
    format: FormatQuery = None,
):
    url = request.app.state.url
    _known_funnel(url, name)
    segment = _funnel_segment(segment_type, segment_value) or ("all", "all")
    window = default_range(window, newest_metric_day(url), 90)
    columns = ("entry_date", "entered", "converted", "conversion")
    frame = app_readers.funnel_over_time(url, name, window.start, window.end, *segment) if window.end else None
    return table(
        request,
        records(frame, columns),
        columns,
        name=f"funnel_{name}_over_time",
        format=format,
        funnel=name,
        start=window.start,
        end=window.end,
    )


@router.get("/retention", dependencies=PRODUCT, tags=["retention"], summary="Retention cohorts")
@cached
def retention(
    request: Request,
    grain: Annotated[str, Query(pattern="^(day|week)$", description="day or week cohorts")] = "week",
    kind: Annotated[
        str, Query(pattern="^(bounded|unbounded)$", description="bounded (on period N) or unbounded (on or after)")
    ] = "bounded",  # noqa: E501
    cohorts: Annotated[int, Query(ge=1, le=104, description="The newest this many cohorts.")] = 12,
    format: FormatQuery = None,
):
    """Cohorts by first-seen day or week: cohort size and the share retained in each elapsed period."""
    frame = read_table(request.app.state.url, "retention_cohorts", None, None, equal={"cohort_grain": grain})
    rate = "retention_rate" if kind == "bounded" else "retention_rate_unbounded"
    retained = "retained_users" if kind == "bounded" else "retained_users_unbounded"
    if frame is not None and not frame.empty:
        newest = sorted(frame["cohort_start"].unique())[-cohorts:]
        frame = frame[frame["cohort_start"].isin(newest)].sort_values(["cohort_start", "period_number"])
        frame = frame.assign(retention=frame[rate], retained=frame[retained])
    columns = ("cohort_start", "period_number", "period_end", "cohort_users", "retained", "retention")
    return table(
        request,
        records(frame, columns),
        columns,
        name=f"retention_{grain}_{kind}",
        format=format,
        grain=grain,
        kind=kind,
    )


@router.get("/prompts", dependencies=PROMPTS, tags=["prompts"], summary="Prompt performance")
@cached
def prompts(
    request: Request,
    as_of: Annotated[date | None, Query(description="Day, YYYY-MM-DD (default: the newest).")] = None,
    window: Annotated[int, Query(description="Trailing window: 1, 7 or 28 days.")] = 28,
    category: Annotated[str | None, Query(description="Only this prompt category.")] = None,
    paging: Annotated[Page, Depends(page)] = Page(100, 0),
    format: FormatQuery = None,
):
    """Per prompt over the trailing window ending `as_of`: selections, renders, completion rate, median seconds to
    complete, downloads, likes ratio; most selected first."""
    if window not in (1, 7, 28):
        raise invalid("window", "window must be 1, 7 or 28")
    url = request.app.state.url
    as_of = as_of or newest_metric_day(url)
    equal: dict = {"window_days": window}
    if category:
        equal["prompt_category"] = category
    frame = read_table(url, "prompt_performance", as_of, as_of, equal=equal) if as_of else None
    if frame is not None:
        frame = frame.sort_values(["selections", "prompt_id"], ascending=[False, True])
    columns = (
        "prompt_id",
        "prompt_text",
        "prompt_category",
        "selections",
        "renders_started",
        "renders_completed",
        "completion_rate",
        "median_seconds_to_complete",
        "downloads",
        "likes",
        "dislikes",
        "likes_ratio",
    )
    return table(
        request,
        records(frame, columns),
        columns,
        name=f"prompts_{as_of}_{window}d",
        format=format,
        paging=paging,
        as_of=as_of,
        window_days=window,
    )


@router.get("/features", dependencies=PRODUCT, tags=["features"], summary="Feature adoption and retention impact")
@cached
def features(request: Request, weeks: Annotated[int, Query(ge=1, le=52)] = 8, format: FormatQuery = None):
    """Weekly adopters and adoption rate of each feature (seeds/product_features.csv) with the week-over-week
    change, and the day-30 retention of first-day adopters vs non-adopters."""
    frame = read_table(request.app.state.url, "feature_adoption", None, None)
    if frame is not None and not frame.empty:
        newest = sorted(frame["week_start"].unique())[-weeks:]
        frame = frame[frame["week_start"].isin(newest)].sort_values(["feature", "week_start"])
    columns = (
        "feature",
        "week_start",
        "is_complete_week",
        "adopters",
        "active_users",
        "adoption_rate",
        "adoption_rate_wow_change",
        "d30_cohort_users",
        "d30_adopters",
        "d30_retention_adopters",
        "d30_retention_non_adopters",
    )
    return table(request, records(frame, columns), columns, name="features", format=format)


def _newest(url: str, name: str, asked: date | None) -> date | None:
    if asked:
        return asked
    return plain(newest_day(url, name))


@router.get("/personas", dependencies=PRODUCT, tags=["personas"], summary="Personas of a week")
@cached
def personas(
    request: Request,
    week: Annotated[date | None, Query(description="Week start (Monday); default the newest.")] = None,
    format: FormatQuery = None,
):
    """Personas of the users active in the 28 days up to the week's Sunday: size, share, behaviour, value share, and
    how many users moved between personas since the previous week."""
    url = request.app.state.url
    week = _newest(url, "persona_summary", week)
    summary = read_table(url, "persona_summary", week, week) if week else None
    migration = read_table(url, "persona_migration", week, week) if week else None
    columns = (
        "persona",
        "users",
        "share",
        "mean_active_days",
        "productions_per_user",
        "subscription_rate",
        "value_share",
    )
    moves = records(migration, ("from_persona", "to_persona", "users", "share_of_from"))
    return table(
        request, records(summary, columns), columns, name=f"personas_{week}", format=format, week=week, migration=moves
    )


@router.get("/churn/segments", dependencies=PRODUCT, tags=["churn"], summary="Churn risk by segment")
@cached
def churn_segments(
    request: Request,
    day: Annotated[date | None, Query(alias="date", description="Score day (default: the newest).")] = None,
    format: FormatQuery = None,
):
    url = request.app.state.url
    day = _newest(url, "churn_risk_by_segment", day)
    frame = read_table(url, "churn_risk_by_segment", day, day) if day else None
    columns = ("segment_type", "segment_value", "users", "mean_churn_probability", "high_risk_share")
    return table(request, records(frame, columns), columns, name=f"churn_segments_{day}", format=format, date=day)


SCORE_COLUMNS = ("score_date", "user_key", "churn_probability", "risk_tier", "reason_1", "reason_2", "reason_3")


@router.get("/churn/users", dependencies=USER_DATA, tags=["churn"], summary="At-risk users (per-user data)")
@cached
def churn_users(
    request: Request,
    paging: Annotated[Page, Depends(page)],
    day: Annotated[date | None, Query(alias="date", description="Score day (default: the newest).")] = None,
    tier: Annotated[str | None, Query(pattern="^(low|medium|high)$", description="low, medium or high")] = None,
    segment_type: SegmentTypeQuery = None,
    segment_value: SegmentValueQuery = None,
    format: FormatQuery = None,
):
    """Users scored on a day, riskiest first, with their tier and three reasons in plain words; only the users of
    a segment (segment_type = segment_value) when given."""
    url = request.app.state.url
    segment = segment_filter(segment_type, segment_value)
    day = _newest(url, "churn_scores", day)
    frame = app_readers.churn_scores(url, day, tier, segment) if day else None
    return table(
        request,
        records(frame, SCORE_COLUMNS),
        SCORE_COLUMNS,
        name=f"churn_users_{day}",
        format=format,
        paging=paging,
        date=day,
        segment=dict(zip(("segment_type", "segment_value"), segment)) if segment else None,
    )


@router.get("/users/{user_key}/timeline", dependencies=USER_DATA, tags=["users"], summary="A user's timeline")
@cached
def timeline(request: Request, user_key: str, paging: Annotated[Page, Depends(page)], format: FormatQuery = None):
    """For support: the user's profile, events (newest first, paged), sessions and churn scores."""
    url = request.app.state.url
    if not app_readers.user_exists(url, user_key):
        raise HTTPException(404, f"no user {user_key!r} in marts.dim_users")
    events = app_readers.user_events(url, user_key, paging.limit + 1, paging.offset)
    columns = (
        "event_time",
        "event",
        "platform",
        "prompt_id",
        "prompt_category",
        "render_id",
        "duration_s",
        "error_code",
        "plan",
    )
    rows = records(events, columns)
    # the reader skipped to the page and read one row more, to know whether another page follows
    return table(
        request,
        rows,
        columns,
        name=f"timeline_{user_key}",
        format=format,
        paging=paging,
        first_row=paging.offset,
        user_key=user_key,
        profile=plain(app_readers.user_profile(url, user_key)),
        sessions=records(app_readers.user_sessions(url, user_key)),
        scores=records(app_readers.user_scores(url, user_key), SCORE_COLUMNS),
    )
