"""The app on a warehouse the real pipeline filled (tests/app_warehouse.py), one user and API token per role."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def filled(warehouse_url, dbt, tmp_path_factory):
    from testkit.app_warehouse import fill, own_database

    return fill(own_database(warehouse_url), tmp_path_factory.mktemp("app-dbt"))


@pytest.fixture(scope="package")
def app(filled):
    from hitcraft_assets.app import create_app

    return create_app(filled.url, secret_key="test-secret-" + "x" * 40)


@pytest.fixture(scope="package")
def accounts(app, filled):
    """role -> (name, password, token)"""
    from hitcraft_assets.app import auth
    from hitcraft_assets.app.permissions import ROLES
    from hitcraft_assets.store import app_users

    made = {}
    for role in ROLES:
        name, password, token = f"user-{role}", auth.new_password(), auth.new_token()
        app_users.add_user(name, role, auth.hash_password(password), filled.url)
        app_users.add_token(name, token, filled.url)
        made[role] = (name, password, token)
    return made


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c
