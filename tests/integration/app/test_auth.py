"""Logging in, sessions, tokens, CSRF, the login rate limit, the audit log, and escaping on pages."""

from __future__ import annotations

import re

import pytest
from testkit.app_warehouse import bearer

pytestmark = pytest.mark.slow


def _login_page_csrf(client) -> str:
    page = client.get("/login")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _log_in(client, name, password):
    csrf = _login_page_csrf(client)
    return client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf, "next": "/metrics"},
        follow_redirects=False,
    )


def test_browser_login_sets_a_signed_httponly_samesite_cookie(client, accounts):
    name, password, _ = accounts["product_manager"]
    response = _log_in(client, name, password)
    assert response.status_code == 303 and response.headers["location"] == "/metrics"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and password.lower() not in cookie
    assert client.get("/metrics").status_code == 200
    assert client.get("/api/v1/me").json()["role"] == "product_manager"
    assert client.get("/admin", follow_redirects=False).status_code == 403


def test_a_login_form_without_its_csrf_token_is_refused(client, accounts):
    name, password, _ = accounts["admin"]
    response = client.post("/login", data={"name": name, "password": password}, follow_redirects=False)
    assert response.status_code == 403


def test_state_changes_with_the_cookie_need_the_csrf_token(client, accounts):
    name, password, _ = accounts["admin"]
    _log_in(client, name, password)
    refused = client.post("/api/v1/admin/users", json={"name": "csrf-victim", "role": "admin"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    token = client.post("/api/v1/auth/login", json={"name": name, "password": password}).json()["csrf_token"]
    made = client.post(
        "/api/v1/admin/users", json={"name": "csrf-ok", "role": "enablement"}, headers={"X-CSRF-Token": token}
    )
    assert made.status_code == 201 and made.json()["password"]
    # a program with a bearer token carries no ambient credential: no CSRF token needed
    by_token = client.post(
        "/api/v1/admin/users", json={"name": "by-token", "role": "enablement"}, headers=bearer(accounts, "admin")
    )
    assert by_token.status_code == 201


def test_failed_logins_are_rate_limited(app, client, accounts):
    name = accounts["enablement"][0]
    app.state.login_limiter.succeeded(f"name:{name}", "client:testclient")
    for _ in range(5):
        assert client.post("/api/v1/auth/login", json={"name": name, "password": "wrong"}).status_code == 401
    throttled = client.post("/api/v1/auth/login", json={"name": name, "password": accounts["enablement"][1]})
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    app.state.login_limiter.succeeded(f"name:{name}", "client:testclient")


def test_removing_a_user_ends_their_sessions_and_tokens(client, filled):
    from hitcraft_assets.app import auth
    from hitcraft_assets.store import app_users

    password, token = auth.new_password(), auth.new_token()
    app_users.add_user("short-lived", "product_manager", auth.hash_password(password), filled.url)
    app_users.add_token("short-lived", token, filled.url)
    _log_in(client, "short-lived", password)
    assert client.get("/api/v1/me").status_code == 200
    app_users.remove_user("short-lived", filled.url)
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_secrets_are_stored_hashed_and_changes_audited(client, accounts, filled):
    from hitcraft_assets.store import app_users, warehouse

    name, password, token = accounts["operations"]
    stored = warehouse.read_frame(
        "select * from app.users u join app.api_tokens t on t.user_name = u.name where u.name = %(n)s",
        {"n": name},
        filled.url,
    )
    text = stored.astype(str).to_csv()
    assert password not in text and token not in text and stored["password_hash"].iloc[0].startswith("$argon2")
    _log_in(client, name, password)
    actions = {(e["action"], e["actor"]) for e in app_users.audit_entries(200, filled.url)}
    assert ("login", name) in actions
    assert any(action == "user_added" for action, _ in actions)


def test_event_text_is_escaped_on_pages(client, accounts, filled):
    """Segment values and prompt texts come from event properties: a page shows them as text, never as markup."""
    evil = "<script>alert('x')</script>"
    page = client.get(
        "/metrics",
        params={"metric": "dau", "segment_type": "platform", "segment_value": evil},
        headers=bearer(accounts, "admin"),
    )
    assert page.status_code == 200
    assert evil not in page.text and "&lt;script&gt;" in page.text
    prompts = client.get("/prompts", headers=bearer(accounts, "admin"))
    assert prompts.status_code == 200 and "<script>alert" not in prompts.text


def test_a_login_link_cannot_send_the_user_to_another_site(client, accounts):
    name, password, _ = accounts["enablement"]
    csrf = _login_page_csrf(client)
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"
