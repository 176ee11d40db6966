"""The dashboard: server-rendered pages (Jinja2) over the same functions as the API, with Plotly.js charts served
from the installed plotly package. The URL holds the whole view (range, filters, metric, drill-down day), so a
copied link shows a colleague the same view — or a 403 when their role may not see it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.app import auth
from hitcraft_assets.app.api import common, library, metrics, product, system
from hitcraft_assets.app.auth import Principal, allow
from hitcraft_assets.app.permissions import MATRIX, ROLE_LABELS, ROLES, Permission
from hitcraft_assets.store import app_users

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
PERCENT_COLUMNS = ("rate", "conversion", "share", "retention", "ratio", "probability")


def _cell(value, column: str = "") -> str:
    """A table cell: shares in percent, p-values with 3 decimals, counts with separators (reports' formatting)."""
    from hitcraft_assets.reports.formatting import format_number, format_p_value, format_percent

    value = common.plain(value)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if column in ("p_value", "q_value"):
        return format_p_value(value).removeprefix("p = ").removeprefix("p ")
    if any(word in column for word in PERCENT_COLUMNS) and abs(value) <= 5:
        return format_percent(value, 1)
    return format_number(value)


def _metric_value(value, metric: str) -> str:
    from hitcraft_assets.reports.formatting import format_metric_value

    return format_metric_value(metric, common.plain(value))


def _change_text(change: dict, metric: str) -> str:
    """Week-over-week change as the reports write it: pp for shares, the unit for durations, % for the rest."""
    from hitcraft_assets.reports.formatting import format_interval, format_metric_difference, format_percent

    if metric_catalogue.is_proportion(metric) or metric_catalogue.metric(metric).format in ("minutes", "days"):
        low, high = (format_metric_difference(metric, change.get(k)) for k in ("abs_ci_low", "abs_ci_high"))
        return f"{format_metric_difference(metric, change.get('abs_change'))} {format_interval(low, high)}"
    low, high = (format_percent(change.get(k), 1, True) for k in ("ci_low", "ci_high"))
    return f"{format_percent(change.get('rel_change'), 1, True)} {format_interval(low, high)}"


def _good_bad(change: dict, metric: str) -> str:
    delta, p_value = change.get("abs_change"), change.get("p_value")
    if delta is None or p_value is None or p_value >= 0.05 or delta == 0:
        return "flat"
    return "good" if (delta > 0) == metric_catalogue.higher_is_better(metric) else "bad"


def _safe_json(text: str):
    """JSON inside a <script> element: no character can close the element or open a comment."""
    from markupsafe import Markup

    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


templates.env.filters.update(
    cell=_cell,
    cellclass=lambda value: "num" if isinstance(common.plain(value), (int, float)) else "",
    metricvalue=_metric_value,
    changetext=_change_text,
    goodbad=_good_bad,
    label=metric_catalogue.metric_label,
    safe_json=_safe_json,
)
RANGES = {"1D": 1, "7D": 7, "1M": 28, "3M": 91, "6M": 182, "1Y": 365}

#: (path, title, permission): the navigation, in order; a role sees the pages it may open
NAVIGATION = (
    ("/", "Overview", None),
    ("/metrics", "Metric explorer", Permission.METRICS),
    ("/funnels", "Funnels", Permission.PRODUCT),
    ("/retention", "Retention", Permission.PRODUCT),
    ("/prompts", "Prompts", Permission.PROMPTS),
    ("/experiments", "Experiments", Permission.EXPERIMENTS),
    ("/ai", "AI performance", Permission.AI_PERFORMANCE),
    ("/revenue", "Revenue", Permission.REVENUE),
    ("/features", "Features", Permission.PRODUCT),
    ("/churn", "Churn", Permission.PRODUCT),
    ("/personas", "Personas", Permission.PRODUCT),
    ("/insights", "Insight library", Permission.INSIGHTS),
    ("/reports", "Reports", Permission.REPORTS),
    ("/pipeline", "Pipeline", Permission.PIPELINE),
    ("/admin", "Admin", Permission.MANAGE_USERS),
)


def next_query(target: str) -> str:
    return urlencode({"next": target})


def _safe_next(target: str | None) -> str:
    """Only a path of this app (no scheme, no host): a login link cannot send the user elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def render(request: Request, template: str, principal: Principal | None, **context) -> HTMLResponse:
    nav = [(path, title) for path, title, permission in NAVIGATION if principal and principal.may(permission)]
    return templates.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "nav": nav,
            "csrf_token": auth.csrf_token(request),
            "ranges": list(RANGES),
            "segment_types": common.SEGMENT_TYPES,
            "segment_values": lambda: metrics.segments(request)["items"],  # for the segment filter's suggestions
            "query": dict(request.query_params),
            **context,
        },
    )


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    try:
        principal = auth.principal_of(request)
    except HTTPException:
        principal = None
    response = render(request, "error.html", principal, status=status, message=message)
    response.status_code = status
    return response


def chart(figure_id: str, data: list[dict], layout: dict | None = None) -> dict:
    """A Plotly figure (plain JSON) for the page; the browser draws it with the served plotly.min.js."""
    return {"id": figure_id, "json": json.dumps({"data": data, "layout": layout or {}}, default=str)}


def _window(request: Request, newest: date | None, default: str = "1M") -> tuple[common.Range, str]:
    """The page's date range from ?range=7D, else ?start=&end= (validated like the API's), else `default`."""
    query = request.query_params
    try:
        start = date.fromisoformat(query["start"]) if query.get("start") else None
        end = date.fromisoformat(query["end"]) if query.get("end") else None
    except ValueError:
        raise HTTPException(422, "start and end must be dates in YYYY-MM-DD form") from None
    if start and end and end < start:
        raise HTTPException(422, f"end {end} is before start {start}")
    if (start or end) and not query.get("range"):  # a range button wins over the dates the form also sends
        return common.Range(start, end or newest), "custom"
    name = query.get("range") or default
    if name not in RANGES:
        raise HTTPException(422, f"range must be one of {', '.join(RANGES)}")
    if newest is None:
        return common.Range(None, None), name
    return common.Range(newest - timedelta(days=RANGES[name] - 1), newest), name


def _series_chart(figure_id: str, rows: list[dict], name: str, percent: bool, extra: list[dict] = ()) -> dict:
    trace = {
        "type": "scatter",
        "mode": "lines+markers",
        "name": name,
        "x": [r["period_start"] for r in rows],
        "y": [r["value"] for r in rows],
    }
    layout = {"yaxis": {"tickformat": ".1%" if percent else ""}, "hovermode": "x unified"}
    return chart(figure_id, [trace, *extra], layout)


def mount(app: FastAPI) -> None:
    """The static assets and every page route."""
    import plotly

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    app.mount("/static/app", StaticFiles(directory=HERE / "static"), name="app-static")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_asset():
        return FileResponse(plotly_js, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request, next: str | None = None):
        return render(request, "login.html", None, next=_safe_next(next), error=None)

    @app.post("/login", include_in_schema=False)
    async def login_form(
        request: Request,
        name: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=200)],
        next: Annotated[str, Form()] = "/",
    ):
        await auth.check_csrf(request)
        try:
            system.log_in(request, name, password)
        except HTTPException as exc:
            response = render(request, "login.html", None, next=_safe_next(next), error=exc.detail)
            response.status_code = exc.status_code
            return response
        return RedirectResponse(_safe_next(next), status_code=303)

    @app.post("/logout", include_in_schema=False)
    def logout_form(request: Request, principal: Annotated[Principal, Depends(allow(None))]):
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/", include_in_schema=False)
    def overview(
        request: Request,
        principal: Annotated[Principal, Depends(allow(None))],
        segment_type: str | None = None,
        segment_value: str | None = None,
    ):
        url = request.app.state.url
        newest = metrics.newest_metric_day(url)
        segment = common.segment_filter(segment_type or None, segment_value or None)
        context: dict = {"newest": newest, "segment": segment}
        if principal.may(Permission.METRICS) and newest:
            cards = []
            for name in metric_catalogue.key_metrics():
                entry = metric_catalogue.metric(name)
                of_segment = segment if segment and entry.by_segment else None  # else the card says "all users"
                window = common.Range(newest - timedelta(days=27), newest)
                series = metrics.metric_series(request, name, window, "day", *(of_segment or (None, None)))
                cards.append(
                    {
                        "metric": entry,
                        "series": series,
                        "all_users": bool(segment) and of_segment is None,
                        "spark": _series_chart(f"spark-{name}", series["items"], name, entry.is_proportion),
                    }
                )
            context["cards"] = cards
        if principal.may(Permission.INSIGHTS) and newest:
            context["insights"] = library.insights(
                request, common.Range(newest, newest), common.Page(5, 0), status="selected"
            )["items"]
        if principal.may(Permission.ANOMALIES) and newest:
            context["anomalies"] = metrics.anomalies(
                request, common.Range(newest - timedelta(days=6), newest), common.Page(10, 0)
            )["items"]
        if principal.may(Permission.PIPELINE):
            context["pipeline"] = system.pipeline(request)["items"][:7]
        if principal.may(Permission.REPORTS):
            context["reports"] = library.reports(request, common.Page(5, 0))["items"]
        return render(request, "overview.html", principal, **context)

    @app.get("/metrics", include_in_schema=False)
    def metric_explorer(
        request: Request,
        principal: Annotated[Principal, Depends(allow(Permission.METRICS))],
        metric: str = "dau",
        compare: str | None = None,
        granularity: Annotated[str, Query(pattern="^(day|week|month)$")] = "day",
        segment_type: str | None = None,
        segment_value: str | None = None,
        breakdown: str | None = None,
        day: Annotated[date | None, Query(alias="date")] = None,
    ):
        url = request.app.state.url
        entry = common.known_metric(metric)
        window, range_name = _window(request, metrics.newest_metric_day(url))
        segment_type = segment_type or None
        segment_value = segment_value or None
        breakdown = breakdown or None
        series = metrics.metric_series(request, metric, window, granularity, segment_type, segment_value, breakdown)
        percent = entry.is_proportion
        traces = []
        if breakdown:
            for value in sorted({r["segment_value"] for r in series["items"]}):
                rows = [r for r in series["items"] if r["segment_value"] == value]
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": value,
                        "x": [r["period_start"] for r in rows],
                        "y": [r["value"] for r in rows],
                    }
                )
        else:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": entry.label,
                    "x": [r["period_start"] for r in series["items"]],
                    "y": [r["value"] for r in series["items"]],
                }
            )
        overlays = {}
        if not (breakdown or segment_type) and granularity == "day" and window.end:
            flags = metrics.anomalies(request, window, common.Page(1000, 0), metric=metric)["items"]
            if flags:
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "name": "anomaly",
                        "marker": {"size": 13, "symbol": "x", "color": "#ff5d5d"},
                        "x": [f["metric_date"] for f in flags],
                        "y": [f["value"] for f in flags],
                    }
                )
            overlays["anomalies"] = flags
            forecast = metrics.forecasts(request, metric=metric, as_of=window.end)["items"] if entry.forecast else []
            if forecast:
                x = [f["forecast_date"] for f in forecast]
                traces += [
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": "forecast interval (upper)",
                        "x": x,
                        "y": [f["upper_bound"] for f in forecast],
                        "line": {"width": 0},
                        "showlegend": False,
                    },
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": "forecast interval",
                        "x": x,
                        "y": [f["lower_bound"] for f in forecast],
                        "fill": "tonexty",
                        "line": {"width": 0},
                        "fillcolor": "rgba(77,163,255,0.18)",
                    },
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": "forecast",
                        "x": x,
                        "y": [f["forecast"] for f in forecast],
                        "line": {"dash": "dot"},
                    },
                ]
            overlays["forecast"] = forecast
        layout = {"yaxis": {"tickformat": ".1%" if percent else "", "title": entry.label}, "hovermode": "x unified"}
        if compare:
            other = common.known_metric(compare, "compare")
            second = metrics.metric_series(request, compare, window, granularity)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": other.label,
                    "yaxis": "y2",
                    "x": [r["period_start"] for r in second["items"]],
                    "y": [r["value"] for r in second["items"]],
                }
            )
            layout["yaxis2"] = {
                "overlaying": "y",
                "side": "right",
                "title": other.label,
                "tickformat": ".1%" if other.is_proportion else "",
            }
        drill = None
        if day is not None and entry.by_segment:
            drill = metrics.contributions(request, metric, day)
        api_query = {
            "start": window.start,
            "end": window.end,
            "granularity": granularity,
            "segment_type": segment_type,
            "segment_value": segment_value,
            "breakdown": breakdown,
        }
        api = f"/api/v1/metrics/{metric}?" + urlencode({k: v for k, v in api_query.items() if v})
        return render(
            request,
            "metrics.html",
            principal,
            entry=entry,
            series=series,
            range_name=range_name,
            window=window,
            api=api,
            figure=chart("metric-chart", traces, layout),
            drill=drill,
            day=day,
            overlays=overlays,
            catalogue=list(metric_catalogue.load_catalogue().values()),
            granularity=granularity,
        )

    @app.get("/funnels", include_in_schema=False)
    def funnels_page(
        request: Request,
        principal: Annotated[Principal, Depends(allow(Permission.PRODUCT))],
        name: str | None = None,
        breakdown: str = "all",
        segment_type: str | None = None,
        segment_value: str | None = None,
    ):
        url = request.app.state.url
        segment = (segment_type or None, segment_value or None)
        definitions = product.funnels(request)["items"]
        names = sorted({d["funnel_name"] for d in definitions})
        name = name or (names[0] if names else None)
        newest = metrics.newest_metric_day(url)
        window, range_name = _window(request, newest - timedelta(days=7) if newest else None)
        steps = product.funnel(request, name, window, breakdown, *segment) if name else None
        over_time = product.funnel_over_time(request, name, common.Range(None, None), *segment) if name else None
        figures = []
        if steps and steps["items"]:
            values = sorted({r["breakdown_value"] for r in steps["items"]})
            figures.append(
                chart(
                    "funnel-bars",
                    [
                        {
                            "type": "bar",
                            "name": v,
                            "x": [f"{r['step']}. {r['event']}" for r in steps["items"] if r["breakdown_value"] == v],
                            "y": [r["conversion_from_first"] for r in steps["items"] if r["breakdown_value"] == v],
                        }
                        for v in values
                    ],
                    {"yaxis": {"tickformat": ".0%"}, "barmode": "group"},
                )
            )
        if over_time and over_time["items"]:
            figures.append(
                chart(
                    "funnel-time",
                    [
                        {
                            "type": "scatter",
                            "mode": "lines",
                            "name": "conversion",
                            "x": [r["entry_date"] for r in over_time["items"]],
                            "y": [r["conversion"] for r in over_time["items"]],
                        }
                    ],
                    {"yaxis": {"tickformat": ".0%"}},
                )
            )
        return render(
            request,
            "funnels.html",
            principal,
            names=names,
            name=name,
            steps=steps,
            definitions=[d for d in definitions if d["funnel_name"] == name],
            figures=figures,
            breakdown=breakdown,
            breakdowns=product.FUNNEL_BREAKDOWNS,
            segment_types=product.FUNNEL_BREAKDOWNS[1:],
            range_name=range_name,
            window=window,
        )

    @app.get("/retention", include_in_schema=False)
    def retention_page(
        request: Request,
        principal: Annotated[Principal, Depends(allow(Permission.PRODUCT))],
        grain: Annotated[str, Query(pattern="^(day|week)$")] = "week",
        kind: Annotated[str, Query(pattern="^(bounded|unbounded)$")] = "bounded",
    ):
        result = product.retention(request, grain, kind, 16 if grain == "week" else 30)
        cohorts = sorted({r["cohort_start"] for r in result["items"]})
        periods = sorted({r["period_number"] for r in result["items"]})
        cell = {(r["cohort_start"], r["period_number"]): r["retention"] for r in result["items"]}
        heat = chart(
            "retention-heatmap",
            [
                {
                    "type": "heatmap",
                    "x": periods,
                    "y": cohorts,
                    "colorscale": "Blues",
                    "z": [[cell.get((c, p)) for p in periods] for c in cohorts],
                    "hovertemplate": "cohort %{y}, period %{x}: %{z:.1%}<extra></extra>",
                }
            ],
            {"xaxis": {"title": f"{grain}s since first seen"}, "yaxis": {"title": "cohort", "type": "category"}},
        )
        return render(request, "retention.html", principal, result=result, heat=heat, grain=grain, kind=kind)

    @app.get("/prompts", include_in_schema=False)
    def prompts_page(
        request: Request,
        principal: Annotated[Principal, Depends(allow(Permission.PROMPTS))],
        window: int = 28,
        category: str | None = None,
    ):
        result = product.prompts(request, None, window, category or None, common.Page(200, 0))
        rows = result["items"]
        figure = chart(
            "prompt-scatter",
            [
                {
                    "type": "scatter",
                    "mode": "markers",
                    "text": [r["prompt_id"] for r in rows],
                    "x": [r["selections"] for r in rows],
                    "y": [r["completion_rate"] for r in rows],
                    "hovertemplate": "%{text}: %{x} selections, %{y:.1%} completed<extra></extra>",
                }
            ],
            {
                "xaxis": {"title": "selections", "type": "log"},
                "yaxis": {"title": "render completion rate", "tickformat": ".0%"},
            },
        )
        return render(
            request, "prompts.html", principal, result=result, figure=figure, window=window, category=category
        )

    @app.get("/experiments", include_in_schema=False)
    def experiments_page(
        request: Request,
        principal: Annotated[Principal, Depends(allow(Permission.EXPERIMENTS))],
        name: str | None = None,
    ):
        from hitcraft_assets.app.api import experiments as api

        result = api.experiments(request)
        detail = api.experiment(request, name) if name else None
        return render(request, "experiments.html", principal, result=result, detail=detail)

    @app.get("/revenue", include_in_schema=False)
    def revenue_page(request: Request, principal: Annotated[Principal, Depends(allow(Permission.REVENUE))]):
        from hitcraft_assets.app.api import revenue as api
        from hitcraft_assets.store import revenue as store

        url = request.app.state.url
        newest = store.newest_day(url) if store.has_revenue(url) else None
        if newest is None:
            return render(
                request,
                "revenue.html",
                principal,
                result=None,
                plans=None,
                attribution=None,
                budget=None,
                figures=[],
                window=None,
            )
        window, range_name = _window(request, newest, default="3M")
        result = api.mrr(request, window, 30)
        plans = api.plans(request, window.end)
        level = request.query_params.get("level") or "source"
        attribution = api.attribution(request, level)
        budget = api.budget(request)
        rows = result["items"]
        days = [r["metric_date"] for r in rows]
        movements = [
            ("new_mrr", "new", 1),
            ("expansion_mrr", "expansion", 1),
            ("reactivation_mrr", "reactivation", 1),
            ("contraction_mrr", "contraction", -1),
            ("churned_mrr", "churn", -1),
        ]
        ahead = api.forecast(request)["items"]
        band = (
            [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "line": {"width": 0},
                    "showlegend": False,
                    "hoverinfo": "skip",
                    "x": [r["forecast_date"] for r in ahead],
                    "y": [r["upper"] for r in ahead],
                },
                {
                    "type": "scatter",
                    "mode": "lines",
                    "line": {"width": 0},
                    "fill": "tonexty",
                    "name": "90 % interval",
                    "x": [r["forecast_date"] for r in ahead],
                    "y": [r["lower"] for r in ahead],
                },
                {
                    "type": "scatter",
                    "mode": "lines",
                    "line": {"dash": "dot"},
                    "name": "forecast",
                    "x": [r["forecast_date"] for r in ahead],
                    "y": [r["forecast"] for r in ahead],
                },
            ]
            if ahead
            else []
        )
        figures = [
            chart(
                "mrr-line",
                [{"type": "scatter", "mode": "lines", "name": "MRR", "x": days, "y": [r["mrr"] for r in rows]}, *band],
                {"yaxis": {"title": "MRR"}, "hovermode": "x unified"},
            ),
            chart(
                "mrr-movements",
                [
                    {"type": "bar", "name": label, "x": days, "y": [sign * (r[column] or 0) for r in rows]}
                    for column, label, sign in movements
                ],
                {"barmode": "relative", "yaxis": {"title": "MRR movement per day"}, "hovermode": "x unified"},
            ),
        ]
        credits = attribution["items"]
        if credits:
            keys = sorted({r["key"] for r in credits})
            credited = {(r["model"], r["key"]): r["conversions"] for r in credits}
            figures.append(
                chart(
                    "attribution-bars",
                    [
                        {
                            "type": "bar",
                            "name": m,
                            "x": keys,
                            "y": [credited.get((m, k), 0) for k in keys],
                        }
                        for m in dict.fromkeys(r["model"] for r in credits)
                    ],
                    {"barmode": "group", "yaxis": {"title": f"conversions credited by {level}"}},
                )
            )
        return render(
            request,
            "revenue.html",
            principal,
            result=result,
            plans=plans,
            attribution=attribution,
            budget=budget,
            level=level,
            figures=figures,
            window=window,
            range_name=range_name,
        )

    @app.get("/ai", include_in_schema=False)
    def ai_page(
        request: Request,
        principal: Annotated[Principal, Depends(allow(Permission.AI_PERFORMANCE))],
        dimension: str | None = None,
        model: str | None = None,
        prompt_version: str | None = None,
        capability: str | None = None,
        intent: str | None = None,
    ):
        from hitcraft_assets.app.api import experiments as api

        chosen = api._ai_filters(model, prompt_version, capability, intent)
        result = api.ai_outcomes(
            request, dimension or None, model or None, prompt_version or None, capability or None, intent or None
        )
        rollouts = api.ai_rollouts(request)
        query_string = urlencode({**chosen, **({"dimension": dimension} if dimension else {})})
        return render(
            request,
            "ai.html",
            principal,
            result=result,
            rollouts=rollouts,
            filters=api.FILTERS,
            dimension=dimension,
            chosen=chosen,
            query_string=query_string,
        )

    @app.get("/features", include_in_schema=False)
    def features_page(request: Request, principal: Annotated[Principal, Depends(allow(Permission.PRODUCT))]):
        result = product.features(request, 12)
        names = sorted({r["feature"] for r in result["items"]})
        figure = chart(
            "feature-adoption",
            [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": n,
                    "x": [r["week_start"] for r in result["items"] if r["feature"] == n],
                    "y": [r["adoption_rate"] for r in result["items"] if r["feature"] == n],
                }
                for n in names
            ],
            {"yaxis": {"tickformat": ".0%", "title": "weekly adoption"}},
        )
        return render(request, "features.html", principal, result=result, figure=figure)

    @app.get("/churn", include_in_schema=False)
    def churn_page(
        request: Request,
        principal: Annotated[Principal, Depends(allow(Permission.PRODUCT))],
        tier: Annotated[str | None, Query(pattern="^(low|medium|high)?$")] = None,
        segment_type: str | None = None,
        segment_value: str | None = None,
    ):
        segments = product.churn_segments(request)
        users = None
        if principal.may(Permission.USER_DATA):
            users = product.churn_users(
                request, common.Page(50, 0), None, tier or "high", segment_type or None, segment_value or None
            )
        return render(request, "churn.html", principal, segments=segments, users=users, tier=tier or "high")

    @app.get("/users/{user_key}", include_in_schema=False)
    def user_page(
        request: Request, user_key: str, principal: Annotated[Principal, Depends(allow(Permission.USER_DATA))]
    ):  # noqa: E501
        result = product.timeline(request, user_key, common.Page(200, 0))
        return render(request, "user.html", principal, result=result)

    @app.get("/personas", include_in_schema=False)
    def personas_page(request: Request, principal: Annotated[Principal, Depends(allow(Permission.PRODUCT))]):
        result = product.personas(request)
        figure = chart(
            "persona-sizes",
            [
                {
                    "type": "bar",
                    "x": [r["persona"] for r in result["items"]],
                    "y": [r["users"] for r in result["items"]],
                    "name": "users",
                }
            ],
            {"yaxis": {"title": "users"}},
        )
        return render(request, "personas.html", principal, result=result, figure=figure)

    @app.get("/insights", include_in_schema=False)
    def insights_page(
        request: Request,
        principal: Annotated[Principal, Depends(allow(Permission.INSIGHTS))],
        q: Annotated[str | None, Query(max_length=200)] = None,
        type: str | None = None,
        metric: str | None = None,
        segment: str | None = None,
        status: Annotated[str, Query(pattern="^(selected|rejected|all)$")] = "selected",
    ):
        window, range_name = _window(request, metrics.newest_metric_day(request.app.state.url), "1M")
        result = library.insights(
            request, window, common.Page(100, 0), q or None, type or None, metric or None, segment or None, status
        )
        api_query = {
            "q": q,
            "type": type,
            "metric": metric,
            "segment": segment,
            "status": status,
            "start": window.start,
            "end": window.end,
        }
        api = "/api/v1/insights?" + urlencode({k: v for k, v in api_query.items() if v})
        return render(
            request,
            "insights.html",
            principal,
            result=result,
            range_name=range_name,
            window=window,
            types=library.INSIGHT_TYPES,
            status=status,
            api=api,
        )

    @app.get("/reports", include_in_schema=False)
    def reports_page(request: Request, principal: Annotated[Principal, Depends(allow(Permission.REPORTS))]):
        return render(request, "reports.html", principal, result=library.reports(request, common.Page(200, 0)))

    @app.get("/pipeline", include_in_schema=False)
    def pipeline_page(request: Request, principal: Annotated[Principal, Depends(allow(Permission.PIPELINE))]):
        result = system.pipeline(request)
        health = system.health(request)
        return render(request, "pipeline.html", principal, result=result, health=health)

    def admin(request: Request, principal: Principal, shown: dict | None = None) -> HTMLResponse:
        url = request.app.state.url
        return render(
            request,
            "admin.html",
            principal,
            users=app_users.list_users(url),
            audit=app_users.audit_entries(50, url),
            roles=ROLES,
            role_labels=ROLE_LABELS,
            matrix=MATRIX,
            permissions=list(Permission),
            shown=shown,
        )

    @app.get("/admin", include_in_schema=False)
    def admin_page(request: Request, principal: Annotated[Principal, Depends(allow(Permission.MANAGE_USERS))]):
        return admin(request, principal)

    @app.post("/admin/users", include_in_schema=False)
    def admin_add_user(
        request: Request,
        principal: Annotated[Principal, Depends(allow(Permission.MANAGE_USERS))],
        name: Annotated[str, Form(pattern=system.USER_NAME.pattern)],
        role: Annotated[str, Form()],
    ):
        password = system.create_user(request, principal.name, name, role)
        return admin(request, principal, shown={"name": name, "password": password})

    @app.post("/admin/users/{name}/remove", include_in_schema=False)
    def admin_remove_user(
        request: Request, name: str, principal: Annotated[Principal, Depends(allow(Permission.MANAGE_USERS))]
    ):
        system.remove_user(request, name, principal)
        return RedirectResponse("/admin", status_code=303)
