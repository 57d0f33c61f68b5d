"""Fixtures and helpers shared by the identity API tests (no tests here).

Every test gets a freshly bootstrapped identity database in its own state
dir, the ``identity-api`` component mounted in-process (no default token),
and real Fernet tokens from ``POST /v3/auth/tokens``.
"""
from __future__ import annotations

import pytest

from kumo.identity import passwords
from kumo.identity.api import component
from kumo.identity.bootstrap import bootstrap

ADMIN_PASSWORD = "admin-secret"
SERVICE_PASSWORD = "service-secret"
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}


@pytest.fixture
def fast_bcrypt(monkeypatch):
    """bcrypt at its lowest cost so the tests stay fast (the algorithm is the same)."""
    monkeypatch.setattr(passwords, "ROUNDS", 4)


@pytest.fixture
async def ids(settings, fast_bcrypt):
    return await bootstrap(settings, admin_password=ADMIN_PASSWORD, service_password=SERVICE_PASSWORD)


@pytest.fixture
async def ks(mount, ids):
    """An httpx client on the identity API, without a token."""
    return await mount(component, token=None)


def password_auth(user: str = "admin", password: str = ADMIN_PASSWORD, *, project: str | None = "admin",
                  domain: str | None = None, unscoped: bool = False) -> dict:
    """A v3 password auth body: user by name in the default domain, optional scope."""
    auth: dict = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    elif domain:
        auth["scope"] = {"domain": {"id": domain}}
    elif unscoped:
        auth["scope"] = "unscoped"
    return {"auth": auth}


async def issue(client, body: dict | None = None, **kwargs) -> tuple[str, dict]:
    """Token id and body from POST /v3/auth/tokens (asserts 201)."""
    r = await client.post("/v3/auth/tokens", json=body or password_auth(**kwargs))
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"], r.json()["token"]


def hdr(token: str) -> dict:
    return {"X-Auth-Token": token}


@pytest.fixture
async def admin(ks) -> dict:
    """Headers with an admin token scoped to project admin."""
    token, _ = await issue(ks)
    return hdr(token)


async def make_user(client, admin_headers: dict, name: str, password: str, *, project_id: str | None = None,
                    role: str = "member", **extra) -> dict:
    """Create a user (and give it ``role`` on ``project_id``); returns the user body."""
    r = await client.post("/v3/users", headers=admin_headers,
                          json={"user": {"name": name, "password": password, **extra}})
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    if project_id:
        roles = (await client.get(f"/v3/roles?name={role}", headers=admin_headers)).json()["roles"]
        r = await client.put(f"/v3/projects/{project_id}/users/{user['id']}/roles/{roles[0]['id']}",
                             headers=admin_headers)
        assert r.status_code == 204, r.text
    return user


async def make_project(client, admin_headers: dict, name: str, **extra) -> dict:
    r = await client.post("/v3/projects", headers=admin_headers, json={"project": {"name": name, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["project"]
