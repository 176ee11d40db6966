"""Authentication and access control of the app: argon2 password hashes, API tokens, signed session cookies, the
login rate limit, CSRF tokens, and the `allow(permission)` dependency every route declares.

Programs send `Authorization: Bearer <token>`; browsers carry a session cookie (signed, HttpOnly, SameSite=Lax)
that names the user and the time of their last password change, so removing a user or changing a password ends
their sessions. State-changing requests made with the cookie must echo the session's CSRF token (header
`X-CSRF-Token` or form field `csrf_token`); bearer requests carry no ambient credential and need none.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request

from hitcraft_assets.app.permissions import Permission, allowed
from hitcraft_assets.store import app_users

_hasher = PasswordHasher()
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    return secrets.token_urlsafe(15)


def new_token() -> str:
    return "hct_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """Who makes a request: the user, their role, and how they proved it ('session' or 'token')."""

    name: str
    role: str
    via: str

    def may(self, permission: Permission | None) -> bool:
        return permission is None or allowed(self.role, permission)


class LoginRequired(Exception):
    """A page asked for without a session: answered with a redirect to the login page."""


class LoginLimiter:
    """At most `max_failures` failed logins per user name and per client in `window_s`; then 429 until the oldest
    failure leaves the window. Kept in this process (the app runs as one process)."""

    def __init__(self, max_failures: int = 5, window_s: float = 900.0):
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def retry_after(self, *keys: str) -> int | None:
        """Seconds until another attempt is allowed, or None when it is allowed now."""
        now = time.monotonic()
        with self._lock:
            waits = [
                failures[0] + self.window_s - now
                for failures in (self._recent(key, now) for key in keys)
                if len(failures) >= self.max_failures
            ]
        return int(max(waits)) + 1 if waits else None

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def principal_of(request: Request) -> Principal | None:
    """The authenticated caller, or None. A bad bearer token is a 401 (a program should hear it), a stale session
    (user removed, password changed) is simply no session."""
    url = request.app.state.url
    token = _bearer(request)
    if token is not None:
        user = app_users.user_of_token(token, url)
        if user is None:
            raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        return Principal(user.name, user.role, "token")
    name = request.session.get("user")
    if not name:
        return None
    user = app_users.get_user(name, url)
    if user is None or request.session.get("since") != user.password_changed_at.isoformat():
        request.session.clear()
        return None
    return Principal(user.name, user.role, "session")


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


async def check_csrf(request: Request) -> None:
    """A cookie-authenticated state change must carry the session's CSRF token."""
    if request.method not in UNSAFE_METHODS or _bearer(request) is not None:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get("csrf_token")
    if not expected or not sent or not secrets.compare_digest(str(sent), expected):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def allow(permission: Permission | None):
    """A route dependency: the caller must be logged in (401 for the API, a redirect to the login page for pages)
    and hold `permission` (None: any logged-in user) or get a 403. Returns the Principal."""

    async def dependency(request: Request) -> Principal:
        principal = principal_of(request)
        if principal is None:
            if is_api(request):
                raise HTTPException(401, "log in or send an API token", headers={"WWW-Authenticate": "Bearer"})
            raise LoginRequired()
        if not principal.may(permission):
            raise HTTPException(403, f"the role {principal.role!r} may not see {permission.value!r} data")
        await check_csrf(request)
        request.state.principal = principal
        return principal

    dependency.permission = permission  # read by the route x role test and the docs
    return dependency
