"""The analytics app (`hitcraft serve`): the JSON API under /api/v1 (OpenAPI at /api/v1/openapi.json, docs at
/docs) and the dashboard pages, behind one login and one permission matrix (`app.permissions`). It reads the marts,
ML and insight tables through `store/` — the readers the reports use — so a number is the same everywhere."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

API_PREFIX = "/api/v1"
#: the API's resource modules (each has a `router`), included under API_PREFIX
API_MODULES = ("system", "metrics", "product", "library", "experiments", "revenue")
SESSION_COOKIE = "hitcraft_session"
SESSION_MAX_AGE_S = 12 * 3600


def create_app(url: str | None = None, *, secret_key: str | None = None, secure_cookie: bool | None = None) -> FastAPI:
    """The app on the warehouse at `url` (default: HITCRAFT_DATABASE_URL or the embedded server)."""
    import importlib
    from importlib.metadata import version

    from hitcraft_assets import settings
    from hitcraft_assets.app import pages
    from hitcraft_assets.app.auth import LoginLimiter, LoginRequired
    from hitcraft_assets.app.cache import ResponseCache
    from hitcraft_assets.store import app_users, warehouse

    app = FastAPI(
        title="HitCraft Analytics API",
        version=version("hitcraft-analytics"),
        description="Metrics, anomalies, trends, funnels, retention, prompts, features, churn, personas, insights "
        "and reports of the HitCraft analytics platform. Send `Authorization: Bearer <token>` "
        "(`hitcraft users token NAME`); every table answers CSV with `?format=csv`.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.url = url or warehouse.warehouse_url()
    warehouse.use_pool(app.state.url)  # requests make a few short reads each: no connection set-up per read
    app.state.login_limiter = LoginLimiter()
    app.state.response_cache = ResponseCache(app.state.url)
    app_users.ensure_schema(app.state.url)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key or settings.app_secret_key(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=settings.app_cookie_secure() if secure_cookie is None else secure_cookie,
    )
    for name in API_MODULES:
        app.include_router(importlib.import_module(f"hitcraft_assets.app.api.{name}").router, prefix=API_PREFIX)
    pages.mount(app)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{pages.next_query(target)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith("/api/") or exc.status_code not in (403, 404):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=getattr(exc, "headers", None))
        return pages.error_page(request, exc.status_code, str(exc.detail))

    return app
