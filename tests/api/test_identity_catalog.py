"""Regions, services, endpoints and the catalog in tokens."""
from __future__ import annotations

from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_user, password_auth)


async def test_bootstrapped_catalog_lists(ks, admin, ids):
    r = await ks.get("/v3/services", headers=admin)
    assert {(s["type"], s["name"]) for s in r.json()["services"]} == {
        ("identity", "keystone"), ("image", "glance"), ("compute", "nova"), ("network", "neutron")}
    r = await ks.get("/v3/services?type=image", headers=admin)
    (glance,) = r.json()["services"]
    assert glance["id"] == ids["service_ids"]["image"] and glance["enabled"] is True
    r = await ks.get("/v3/endpoints", headers=admin)
    assert len(r.json()["endpoints"]) == 12
    r = await ks.get(f"/v3/endpoints?service_id={glance['id']}&interface=public", headers=admin)
    (ep,) = r.json()["endpoints"]
    assert ep["url"] == "http://127.0.0.1:9292" and ep["region_id"] == ep["region"] == "RegionOne"
    assert ep["service_id"] == glance["id"] and ep["enabled"] is True
    r = await ks.get("/v3/endpoints?region_id=RegionOne&interface=admin", headers=admin)
    assert len(r.json()["endpoints"]) == 4
    assert (await ks.get("/v3/endpoints?interface=sideways", headers=admin)).status_code == 400
    r = await ks.get("/v3/regions", headers=admin)
    assert [x["id"] for x in r.json()["regions"]] == ["RegionOne"]
    assert r.json()["regions"][0]["parent_region_id"] is None
    assert (await ks.get("/v3/regions/Nowhere", headers=admin)).status_code == 404


async def test_service_and_endpoint_create_show_delete(ks, admin):
    r = await ks.post("/v3/services", headers=admin,
                      json={"service": {"type": "volumev3", "name": "cinderv3", "description": "Block"}})
    assert r.status_code == 201
    svc = r.json()["service"]
    assert svc["type"] == "volumev3" and svc["name"] == "cinderv3" and svc["enabled"] is True
    body = {"endpoint": {"interface": "public", "service_id": svc["id"], "region_id": "RegionOne",
                         "url": "http://127.0.0.1:8776/v3/$(project_id)s"}}
    r = await ks.post("/v3/endpoints", headers=admin, json=body)
    assert r.status_code == 201
    ep = r.json()["endpoint"]
    assert ep["url"] == body["endpoint"]["url"] and ep["interface"] == "public"
    assert (await ks.get(f"/v3/endpoints/{ep['id']}", headers=admin)).json()["endpoint"] == ep
    # The new endpoint shows up in new tokens, with the project filled in.
    _, t = await issue(ks)
    (vol,) = [s for s in t["catalog"] if s["type"] == "volumev3"]
    assert vol["endpoints"][0]["url"] == f"http://127.0.0.1:8776/v3/{t['project']['id']}"
    _, dom = await issue(ks, password_auth(project=None, domain="default"))
    assert "volumev3" not in {s["type"] for s in dom["catalog"]}
    r = await ks.patch(f"/v3/endpoints/{ep['id']}", headers=admin, json={"endpoint": {"enabled": False}})
    assert r.status_code == 200 and r.json()["endpoint"]["enabled"] is False
    _, t = await issue(ks)
    assert "volumev3" not in {s["type"] for s in t["catalog"]}
    assert (await ks.delete(f"/v3/services/{svc['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/endpoints/{ep['id']}", headers=admin)).status_code == 404
    assert (await ks.get(f"/v3/services/{svc['id']}", headers=admin)).status_code == 404


async def test_invalid_endpoints_are_400(ks, admin, ids):
    good = {"interface": "public", "service_id": ids["service_ids"]["image"], "url": "http://x:1",
            "region_id": "RegionOne"}
    for change in ({"interface": "private"}, {"service_id": "nope"}, {"region_id": "Nowhere"},
                   {"url": "not a url"}, {"enabled": "False"}):
        r = await ks.post("/v3/endpoints", headers=admin, json={"endpoint": {**good, **change}})
        assert r.status_code == 400, change
    assert len((await ks.get("/v3/endpoints", headers=admin)).json()["endpoints"]) == 12
    r = await ks.post("/v3/services", headers=admin, json={"service": {"name": "typeless"}})
    assert r.status_code == 400


async def test_regions_create_and_conflict(ks, admin):
    r = await ks.post("/v3/regions", headers=admin, json={"region": {"id": "RegionTwo", "description": "2"}})
    assert r.status_code == 201 and r.json()["region"]["id"] == "RegionTwo"
    assert (await ks.post("/v3/regions", headers=admin, json={"region": {"id": "RegionTwo"}})).status_code == 409
    r = await ks.post("/v3/regions", headers=admin, json={"region": {"parent_region_id": "RegionTwo"}})
    assert r.status_code == 201 and r.json()["region"]["parent_region_id"] == "RegionTwo"
    r = await ks.get("/v3/regions?parent_region_id=RegionTwo", headers=admin)
    assert len(r.json()["regions"]) == 1


async def test_auth_catalog_and_member_policy(ks, admin, ids):
    r = await ks.get("/v3/auth/catalog", headers=admin)
    assert r.status_code == 200
    assert {s["type"] for s in r.json()["catalog"]} == {"identity", "image", "compute", "network"}
    await make_user(ks, admin, "cat", "pw")
    token, _ = await issue(ks, password_auth("cat", "pw", project=None))
    assert (await ks.get("/v3/auth/catalog", headers=hdr(token))).status_code == 403
    assert (await ks.get("/v3/services", headers=hdr(token))).status_code == 403
    assert (await ks.get("/v3/regions", headers=hdr(token))).status_code == 200
