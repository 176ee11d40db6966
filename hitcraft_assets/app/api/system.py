"""Health (open), the caller, logging in and out, pipeline health, and user management."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from hitcraft_assets.app import auth
from hitcraft_assets.app.api.common import FormatQuery, plain, records, table
from hitcraft_assets.app.auth import Principal, allow
from hitcraft_assets.app.permissions import ROLES, Permission, permissions_of
from hitcraft_assets.store import app_readers, app_users, warehouse

router = APIRouter()
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@router.get("/health", tags=["system"], summary="Database reachable, newest loaded day, version (no login)")
def health(request: Request):
    from importlib.metadata import version

    from hitcraft_assets.app.api.metrics import newest_metric_day

    url = request.app.state.url
    try:
        with warehouse.connection(url) as conn, conn.cursor() as cur:
            cur.execute("select 1")
        reachable = True
    except Exception:
        reachable = False
    newest_loaded = newest_modeled = None
    if reachable:  # the newest days change only with the data: computed once per data version

        def newest_days() -> tuple[str | None, str | None]:
            days = app_readers.loaded_days(url, 1)
            newest = newest_metric_day(url)
            return (days["day"].iloc[0].isoformat() if len(days) else None, newest.isoformat() if newest else None)

        newest_loaded, newest_modeled = request.app.state.response_cache.get_or_compute(("health",), newest_days)
    return {
        "status": "ok" if reachable else "database unreachable",
        "database": reachable,
        "newest_loaded_day": newest_loaded,
        "newest_modeled_day": newest_modeled,
        "version": version("hitcraft-analytics"),
    }


@router.get("/me", tags=["system"], summary="Who you are and what you may see")
def me(principal: Annotated[Principal, Depends(allow(None))]):
    return {
        "name": principal.name,
        "role": principal.role,
        "via": principal.via,
        "permissions": sorted(p.value for p in permissions_of(principal.role)),
    }


class Login(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


def log_in(request: Request, name: str, password: str) -> app_users.AppUser:
    """Check a name and password (rate-limited per name and client), start the session, audit the attempt."""
    url, limiter, client = request.app.state.url, request.app.state.login_limiter, auth.client_of(request)
    keys = (f"name:{name.lower()}", f"client:{client}")
    wait = limiter.retry_after(*keys)
    if wait is not None:
        app_users.audit("login_throttled", actor=name, client=client, url=url)
        raise HTTPException(429, f"too many failed logins: try again in {wait} s", headers={"Retry-After": str(wait)})
    user = app_users.get_user(name, url)
    if user is None or not auth.verify_password(user.password_hash, password):
        limiter.failed(*keys)
        app_users.audit("login_failed", actor=name, client=client, url=url)
        raise HTTPException(401, "wrong name or password")
    limiter.succeeded(*keys)
    csrf = request.session.get("csrf")
    request.session.clear()
    request.session.update({"user": user.name, "since": user.password_changed_at.isoformat()})
    if csrf:
        request.session["csrf"] = csrf
    app_users.audit("login", actor=user.name, client=client, url=url)
    return user


@router.post("/auth/login", tags=["system"], summary="Log in: sets the session cookie")
def login(request: Request, body: Login):
    user = log_in(request, body.name, body.password)
    return {"name": user.name, "role": user.role, "csrf_token": auth.csrf_token(request)}


@router.post("/auth/logout", tags=["system"], summary="Log out: ends the session")
def logout(request: Request, principal: Annotated[Principal, Depends(allow(None))]):
    request.session.clear()
    return {"logged_out": principal.name}


@router.get(
    "/pipeline",
    dependencies=[Depends(allow(Permission.PIPELINE))],
    tags=["system"],
    summary="Loaded days, their rows and quarantined lines",
)
def pipeline(request: Request, format: FormatQuery = None):
    columns = ("day", "events", "quarantined", "loaded_at")
    frame = app_readers.loaded_days(request.app.state.url, 30)
    return table(request, records(frame, columns), columns, name="pipeline", format=format)


MANAGE = [Depends(allow(Permission.MANAGE_USERS))]


class NewUser(BaseModel):
    name: str = Field(pattern=USER_NAME.pattern, description="Letters, digits and . _ @ -")
    role: str = Field(description=f"One of {', '.join(ROLES)}.")


@router.get("/admin/users", dependencies=MANAGE, tags=["admin"], summary="The app's users")
def users(request: Request, format: FormatQuery = None):
    rows = [
        {"name": u.name, "role": u.role, "created_at": u.created_at.isoformat()}
        for u in app_users.list_users(request.app.state.url)
    ]
    return table(request, rows, ("name", "role", "created_at"), name="users", format=format)


def create_user(request: Request, actor: str, name: str, role: str) -> str:
    """Add a user; returns the generated password (shown once)."""
    if role not in ROLES:
        raise HTTPException(
            422, [{"loc": ["body", "role"], "msg": f"role must be one of {', '.join(ROLES)}", "type": "value_error"}]
        )
    password = auth.new_password()
    if not app_users.add_user(name, role, auth.hash_password(password), request.app.state.url):
        raise HTTPException(409, f"user {name!r} exists")
    app_users.audit(
        "user_added",
        actor=actor,
        target=name,
        detail={"role": role},
        client=auth.client_of(request),
        url=request.app.state.url,
    )
    return password


@router.post("/admin/users", tags=["admin"], status_code=201, summary="Add a user (the password is shown once)")
def add_user(request: Request, body: NewUser, principal: Annotated[Principal, Depends(allow(Permission.MANAGE_USERS))]):
    password = create_user(request, principal.name, body.name, body.role)
    return {"name": body.name, "role": body.role, "password": password}


@router.delete("/admin/users/{name}", tags=["admin"], summary="Remove a user and their tokens")
def remove_user(request: Request, name: str, principal: Annotated[Principal, Depends(allow(Permission.MANAGE_USERS))]):
    if name == principal.name:
        raise HTTPException(409, "you cannot remove yourself")
    if not app_users.remove_user(name, request.app.state.url):
        raise HTTPException(404, f"no user {name!r}")
    app_users.audit(
        "user_removed", actor=principal.name, target=name, client=auth.client_of(request), url=request.app.state.url
    )
    return {"removed": name}


@router.post("/admin/users/{name}/tokens", tags=["admin"], status_code=201, summary="A new API token (shown once)")
def add_token(
    request: Request,
    name: str,
    principal: Annotated[Principal, Depends(allow(Permission.MANAGE_USERS))],
    note: Annotated[str | None, Body(embed=True, max_length=200)] = None,
):
    url = request.app.state.url
    if app_users.get_user(name, url) is None:
        raise HTTPException(404, f"no user {name!r}")
    token = auth.new_token()
    app_users.add_token(name, token, url)
    app_users.audit(
        "token_added",
        actor=principal.name,
        target=name,
        detail={"note": note} if note else None,
        client=auth.client_of(request),
        url=url,
    )
    return {"name": name, "token": token}


@router.get("/admin/audit", dependencies=MANAGE, tags=["admin"], summary="The audit log, newest first")
def audit(request: Request, format: FormatQuery = None):
    columns = ("at", "actor", "action", "target", "detail", "client")
    rows = [{c: plain(entry[c]) for c in columns} for entry in app_users.audit_entries(500, request.app.state.url)]
    return table(request, rows, columns, name="audit", format=format)
