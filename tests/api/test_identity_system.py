"""System-scoped tokens, GET /v3/auth/system, the bootstrap admin token and the admin port.

The admin token test walks the old install guide's Identity chapter on a
fresh identity database (no bootstrap): with the admin token it creates the
admin user, role, project, assignment, a region, a service and its three endpoints,
the calls ``openstack --os-token ... --os-url .../v3`` makes; then, without
it, the admin user gets tokens through /v3 and /v2.0.
"""
from __future__ import annotations

import pytest

from kumo.identity.api import component
from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_user, password_auth)


def system_auth(user: str, password: str) -> dict:
    body = password_auth(user, password, project=None)
    body["auth"]["scope"] = {"system": {"all": True}}
    return body


async def _role_id(ks, headers, name: str) -> str:
    return (await ks.get(f"/v3/roles?name={name}", headers=headers)).json()["roles"][0]["id"]


async def test_system_token_carries_the_system_roles_and_is_rechecked(ks, admin):
    user = await make_user(ks, admin, "sysreader", "pw-s")
    reader = await _role_id(ks, admin, "reader")
    r = await ks.post("/v3/auth/tokens", json=system_auth("sysreader", "pw-s"))
    assert r.status_code == 401  # no role on the system yet
    assert (await ks.put(f"/v3/system/users/{user['id']}/roles/{reader}", headers=admin)).status_code == 204
    token, t = await issue(ks, system_auth("sysreader", "pw-s"))
    assert t["system"] == {"all": True} and [x["name"] for x in t["roles"]] == ["reader"]
    assert "project" not in t and "domain" not in t and isinstance(t["catalog"], list)
    r = await ks.get("/v3/auth/tokens", headers={**admin, "X-Subject-Token": token})
    assert r.status_code == 200 and r.json()["token"]["system"] == {"all": True}
    r = await ks.get("/v3/auth/system", headers=hdr(token))
    assert r.status_code == 200 and r.json()["system"] == [{"all": True}]
    assert (await ks.get("/v3/auth/catalog", headers=hdr(token))).status_code == 200
    assert (await ks.delete(f"/v3/system/users/{user['id']}/roles/{reader}", headers=admin)).status_code == 204
    r = await ks.get("/v3/auth/tokens", headers={**admin, "X-Subject-Token": token})
    assert r.status_code == 404  # validation re-reads the system roles


async def test_auth_system_is_empty_without_a_system_role(ks, admin):
    await make_user(ks, admin, "plain", "pw-p")
    token, _ = await issue(ks, password_auth("plain", "pw-p", project=None))
    r = await ks.get("/v3/auth/system", headers=hdr(token))
    assert r.status_code == 200 and r.json()["system"] == []
    body = system_auth("plain", "pw-p")
    body["auth"]["scope"] = {"system": {"all": False}}
    assert (await ks.post("/v3/auth/tokens", json=body)).status_code == 400


def test_identity_listens_on_the_admin_port_too(settings, rt):
    assert component(rt).extra_ports == [35357]
    settings.identity.admin_port = 0
    assert component(rt).extra_ports == []


async def test_admin_token_is_refused_unless_configured(ks):
    r = await ks.get("/v3/users", headers=hdr("ADMIN"))
    assert r.status_code == 401


@pytest.fixture
async def fresh(settings, mount, fast_bcrypt):
    """An identity API with ``admin_token = ADMIN`` on an empty database (no bootstrap)."""
    settings.identity.admin_token = "ADMIN"
    return await mount(component, token=None)


async def test_install_guide_with_the_admin_token(fresh):
    ks, tok = fresh, hdr("ADMIN")
    r = await ks.get("/v3/domains/default", headers=tok)
    assert r.status_code == 200 and r.json()["domain"]["name"] == "Default"
    r = await ks.post("/v3/projects", headers=tok, json={"project": {"name": "admin", "domain_id": "default"}})
    assert r.status_code == 201, r.text
    project = r.json()["project"]
    r = await ks.post("/v3/users", headers=tok, json={"user": {"name": "admin", "domain_id": "default",
                                                               "password": "ADMIN_PASS"}})
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    r = await ks.post("/v3/roles", headers=tok, json={"role": {"name": "admin"}})
    assert r.status_code == 201, r.text
    role = r.json()["role"]
    r = await ks.put(f"/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}", headers=tok)
    assert r.status_code == 204, r.text
    r = await ks.post("/v3/services", headers=tok, json={"service": {"name": "glance", "type": "image"}})
    assert r.status_code == 201, r.text
    service = r.json()["service"]
    r = await ks.post("/v3/regions", headers=tok, json={"region": {"id": "RegionOne"}})
    assert r.status_code == 201, r.text
    for interface in ("public", "internal", "admin"):
        r = await ks.post("/v3/endpoints", headers=tok, json={"endpoint": {
            "service_id": service["id"], "interface": interface, "url": "http://controller:9292",
            "region_id": "RegionOne"}})
        assert r.status_code == 201, r.text
    # The admin token is for the identity API only: it is no token to validate.
    r = await ks.get("/v3/auth/tokens", headers={**tok, "X-Subject-Token": "ADMIN"})
    assert r.status_code == 404
    # Without it: the admin user authenticates through v3 and v2.0.
    token, t = await issue(ks, password_auth("admin", "ADMIN_PASS"))
    assert t["project"]["id"] == project["id"] and [x["name"] for x in t["roles"]] == ["admin"]
    assert [s["type"] for s in t["catalog"]] == ["image"] and len(t["catalog"][0]["endpoints"]) == 3
    r = await ks.post("/v2.0/tokens", json={"auth": {"tenantName": "admin", "passwordCredentials": {
        "username": "admin", "password": "ADMIN_PASS"}}})
    assert r.status_code == 200, r.text
    access = r.json()["access"]
    assert access["token"]["tenant"]["id"] == project["id"]
    assert access["serviceCatalog"][0]["endpoints"][0]["publicURL"] == "http://controller:9292"
    assert (await ks.get("/v3/users", headers=hdr(token))).status_code == 200
    assert (await ks.get("/v3/users", headers=hdr("WRONG"))).status_code == 401
