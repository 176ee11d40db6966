"""Every role against every route: allowed -> 2xx (or a 404/422 of the request itself), denied -> 403; no
credentials -> 401 for the API and a redirect to the login page for pages. The routes come from the app itself, so a
new route without a declared permission fails here."""

from __future__ import annotations

import pytest
from testkit.app_warehouse import bearer

from hitcraft_assets.app.permissions import MATRIX, ROLES, Permission

pytestmark = pytest.mark.slow

OPEN = {
    "/api/v1/health",
    "/api/v1/auth/login",
    "/login",
    "/api/v1/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/static/plotly.min.js",
}
#: a concrete request for each path with parameters
EXAMPLES = {
    "/api/v1/metrics/{metric}": "/api/v1/metrics/dau",
    "/api/v1/metrics/{metric}/contributions": "/api/v1/metrics/dau/contributions?date={last}",
    "/api/v1/funnels/{name}": "/api/v1/funnels/{funnel}",
    "/api/v1/experiments/{name}": "/api/v1/experiments/no-such-experiment",
    "/api/v1/funnels/{name}/over-time": "/api/v1/funnels/{funnel}/over-time",
    "/api/v1/users/{user_key}/timeline": "/api/v1/users/{user}/timeline",
    "/users/{user_key}": "/users/{user}",
    "/api/v1/reports/{kind}/{day}.{extension}": "/api/v1/reports/daily/{last}.html",
    "/api/v1/admin/users/{name}": "/api/v1/admin/users/nobody-{n}",
    "/api/v1/admin/users/{name}/tokens": "/api/v1/admin/users/user-enablement/tokens",
    "/admin/users/{name}/remove": "/admin/users/nobody-{n}/remove",
}


def _all_routes(app):
    """The app's own routes and those of every API module it includes (with their prefix)."""
    import importlib

    from hitcraft_assets.app import API_MODULES, API_PREFIX

    for route in app.routes:
        if hasattr(route, "path"):
            yield route.path, route
    for name in API_MODULES:
        for route in importlib.import_module(f"hitcraft_assets.app.api.{name}").router.routes:
            yield API_PREFIX + route.path, route


def _routes(app):
    """(method, path, permission) of every route that declares one; asserts every other route is meant to be open."""
    found = []
    for path, route in _all_routes(app):
        if not hasattr(route, "methods") or path.startswith("/static/app"):
            continue
        if not hasattr(route, "dependant"):  # starlette's own routes: the docs pages
            assert path in OPEN, path
            continue
        # allow(permission) sits in the route's dependencies or in a parameter's Depends: both are here
        declared = [d.call.permission for d in route.dependant.dependencies if hasattr(d.call, "permission")]
        if path in OPEN:
            assert not declared, path
            continue
        assert declared, f"{path} declares no permission"
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, path, declared[0]))
    return found


def _allowed(role: str, permission: Permission | None) -> bool:
    return permission is None or role in MATRIX[permission]


def _concrete(path: str, filled, n: int) -> str:
    from hitcraft_assets.store import warehouse

    user = warehouse.read_frame("select min(user_key) as u from marts.dim_users", url=filled.url)["u"].iloc[0]
    funnel = warehouse.read_frame("select min(funnel_name) as f from seeds.funnels", url=filled.url)["f"].iloc[0]
    return EXAMPLES.get(path, path).format(last=filled.last, funnel=funnel, user=user, n=n)


def test_every_route_declares_a_permission_and_the_matrix_is_enforced(app, client, accounts, filled):
    routes = _routes(app)
    assert len(routes) >= 30
    checked = 0
    for n, (method, path, permission) in enumerate(routes):
        url = _concrete(path, filled, n)
        body = {"name": f"new-{n}", "role": "enablement"} if path == "/api/v1/admin/users" else None
        anonymous = client.request(method, url, json=body, follow_redirects=False)
        if path.startswith("/api/"):
            assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        else:
            assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login"), (method, path)
        for role in ROLES:
            response = client.request(method, url, json=body, headers=bearer(accounts, role), follow_redirects=False)
            if _allowed(role, permission):
                assert response.status_code not in (401, 403), (role, method, path, response.text[:300])
                assert response.status_code < 500, (role, method, path, response.text[:300])
            else:
                assert response.status_code == 403, (role, method, path, response.status_code)
            checked += 1
    assert checked == len(routes) * len(ROLES)


@pytest.mark.parametrize("role", [r for r in ROLES if r not in MATRIX[Permission.USER_DATA]])
def test_roles_without_per_user_data_see_no_user_keys(client, accounts, filled, role):
    """Per-user data is its own permission: the pages and tables these roles can open never list user keys."""
    for path in ("/api/v1/churn/users", "/api/v1/users/u1/timeline"):
        assert client.get(path, headers=bearer(accounts, role)).status_code == 403
    if role in MATRIX[Permission.PRODUCT]:
        page = client.get("/churn", headers=bearer(accounts, role))
        assert page.status_code == 200 and "At-risk users" not in page.text
