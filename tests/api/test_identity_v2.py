"""The v2.0 token and tenant calls older tools use."""
from __future__ import annotations

from tests.api.test_identity_base import UNAUTHORIZED, admin, fast_bcrypt, hdr, ids, issue, ks  # noqa: F401


async def test_v2_password_token_with_tenant_name(ks, ids):
    r = await ks.post("/v2.0/tokens", json={"auth": {
        "passwordCredentials": {"username": "admin", "password": "admin-secret"}, "tenantName": "admin"}})
    assert r.status_code == 200
    access = r.json()["access"]
    token = access["token"]
    assert token["tenant"] == {"id": ids["project_ids"]["admin"], "name": "admin",
                               "description": "Bootstrap project for initializing the cloud.", "enabled": True}
    assert token["expires"].endswith("Z") and len(token["expires"]) == 20
    assert access["user"]["id"] == ids["user_ids"]["admin"] and access["user"]["username"] == "admin"
    assert {r["name"] for r in access["user"]["roles"]} == {"admin", "manager", "member", "reader"}
    compute = [s for s in access["serviceCatalog"] if s["type"] == "compute"][0]
    (ep,) = compute["endpoints"]
    assert ep["publicURL"] == ep["internalURL"] == ep["adminURL"] == "http://127.0.0.1:8774/v2.1"
    assert ep["region"] == "RegionOne"
    # The v2.0 token works as a v3 X-Auth-Token too.
    r = await ks.get("/v3/projects", headers=hdr(token["id"]))
    assert r.status_code == 200


async def test_v2_token_method_with_tenant_id_and_unscoped(ks, ids):
    r = await ks.post("/v2.0/tokens", json={"auth": {
        "passwordCredentials": {"username": "admin", "password": "admin-secret"}}})
    assert r.status_code == 200
    unscoped = r.json()["access"]
    assert "tenant" not in unscoped["token"] and unscoped["serviceCatalog"] == []
    r = await ks.post("/v2.0/tokens", json={"auth": {"token": {"id": unscoped["token"]["id"]},
                                                     "tenantId": ids["project_ids"]["admin"]}})
    assert r.status_code == 200 and r.json()["access"]["token"]["tenant"]["name"] == "admin"


async def test_v2_refusals(ks):
    r = await ks.post("/v2.0/tokens", json={"auth": {
        "passwordCredentials": {"username": "admin", "password": "wrong"}, "tenantName": "admin"}})
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    for body in ({"auth": {}}, {"auth": {"passwordCredentials": {"username": "admin"}}}, {"nope": 1}):
        r = await ks.post("/v2.0/tokens", json=body)
        assert r.status_code == 400, body


async def test_v2_tenants_lists_the_users_projects(ks, admin):
    r = await ks.get("/v2.0/tenants", headers=admin)
    assert r.status_code == 200
    assert [t["name"] for t in r.json()["tenants"]] == ["admin"] and r.json()["tenants_links"] == []
    assert (await ks.get("/v2.0/tenants")).status_code == 401
