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


async def test_region_update_put_and_delete(ks, admin, ids):
    r = await ks.put("/v3/regions/West", headers=admin, json={"region": {"description": "w"}})
    assert r.status_code == 201 and r.json()["region"]["id"] == "West"
    assert (await ks.put("/v3/regions/West", headers=admin, json={"region": {}})).status_code == 409
    r = await ks.put("/v3/regions/East", headers=admin, json={"region": {"id": "Other"}})
    assert r.status_code == 400
    r = await ks.post("/v3/regions", headers=admin, json={"region": {"id": "West-1", "parent_region_id": "West"}})
    assert r.status_code == 201
    r = await ks.patch("/v3/regions/West", headers=admin, json={"region": {"description": "changed"}})
    assert r.status_code == 200 and r.json()["region"]["description"] == "changed"
    # No cycles, no unknown parents.
    for parent in ("West", "West-1", "Nowhere"):
        r = await ks.patch("/v3/regions/West", headers=admin, json={"region": {"parent_region_id": parent}})
        assert r.status_code == 400, parent
    r = await ks.patch("/v3/regions/West-1", headers=admin, json={"region": {"parent_region_id": "RegionOne"}})
    assert r.status_code == 200 and r.json()["region"]["parent_region_id"] == "RegionOne"
    assert (await ks.patch("/v3/regions/Nowhere", headers=admin, json={"region": {}})).status_code == 404
    # A region with endpoints (also in a child region) cannot be deleted; children go with their parent.
    assert (await ks.delete("/v3/regions/RegionOne", headers=admin)).status_code == 403
    r = await ks.patch("/v3/regions/West-1", headers=admin, json={"region": {"parent_region_id": "West"}})
    assert (await ks.delete("/v3/regions/West", headers=admin)).status_code == 204
    for region in ("West", "West-1"):
        assert (await ks.get(f"/v3/regions/{region}", headers=admin)).status_code == 404


async def test_legacy_region_attribute_creates_the_region(ks, admin, ids):
    image = ids["service_ids"]["image"]
    body = {"interface": "internal", "service_id": image, "url": "http://x:1", "region": "Brand-New"}
    r = await ks.post("/v3/endpoints", headers=admin, json={"endpoint": body})
    assert r.status_code == 201
    ep = r.json()["endpoint"]
    assert ep["region"] == ep["region_id"] == "Brand-New"
    assert (await ks.get("/v3/regions/Brand-New", headers=admin)).status_code == 200
    r = await ks.patch(f"/v3/endpoints/{ep['id']}", headers=admin, json={"endpoint": {"region": "Newer"}})
    assert r.status_code == 200 and r.json()["endpoint"]["region_id"] == "Newer"
    r = await ks.patch(f"/v3/endpoints/{ep['id']}", headers=admin, json={"endpoint": {"enabled": "True"}})
    assert r.status_code == 400
    r = await ks.post("/v3/endpoints", headers=admin,
                      json={"endpoint": {**body, "region": "A", "region_id": "RegionOne"}})
    assert r.status_code == 400
    assert (await ks.get("/v3/regions/A", headers=admin)).status_code == 404


async def test_endpoint_groups_and_project_filters(ks, admin, ids):
    image = ids["service_ids"]["image"]
    group = {"name": "images", "description": "d", "filters": {"service_id": image, "interface": "public"}}
    r = await ks.post("/v3/OS-EP-FILTER/endpoint_groups", headers=admin, json={"endpoint_group": group})
    assert r.status_code == 201, r.text
    eg = r.json()["endpoint_group"]
    assert eg["filters"] == group["filters"] and eg["name"] == "images"
    assert (await ks.get("/v3/OS-EP-FILTER/endpoint_groups", headers=admin)).json()["endpoint_groups"] == [eg]
    assert (await ks.head(f"/v3/OS-EP-FILTER/endpoint_groups/{eg['id']}", headers=admin)).status_code == 200
    r = await ks.get(f"/v3/OS-EP-FILTER/endpoint_groups/{eg['id']}/endpoints", headers=admin)
    (ep,) = r.json()["endpoints"]
    assert ep["service_id"] == image and ep["interface"] == "public"
    bad = {"endpoint_group": {**group, "filters": {"colour": "red"}}}
    assert (await ks.post("/v3/OS-EP-FILTER/endpoint_groups", headers=admin, json=bad)).status_code == 400
    # Associating the group with the admin project limits that project's catalog to its endpoints.
    project = ids["project_ids"]["admin"]
    path = f"/v3/OS-EP-FILTER/endpoint_groups/{eg['id']}/projects/{project}"
    assert (await ks.get(path, headers=admin)).status_code == 404
    assert (await ks.put(path, headers=admin)).status_code == 204
    assert (await ks.get(path, headers=admin)).json()["project"]["id"] == project
    r = await ks.get(f"/v3/OS-EP-FILTER/projects/{project}/endpoint_groups", headers=admin)
    assert [g["id"] for g in r.json()["endpoint_groups"]] == [eg["id"]]
    _, t = await issue(ks)
    assert [(s["type"], [e["interface"] for e in s["endpoints"]]) for s in t["catalog"]] == [("image", ["public"])]
    # A direct endpoint association adds to it.
    identity_ep = (await ks.get("/v3/endpoints?interface=public", headers=admin)).json()["endpoints"]
    keystone = next(e for e in identity_ep if e["service_id"] == ids["service_ids"]["identity"])
    direct = f"/v3/OS-EP-FILTER/projects/{project}/endpoints/{keystone['id']}"
    assert (await ks.head(direct, headers=admin)).status_code == 404
    assert (await ks.put(direct, headers=admin)).status_code == 204
    assert (await ks.head(direct, headers=admin)).status_code == 204
    r = await ks.get(f"/v3/OS-EP-FILTER/projects/{project}/endpoints", headers=admin)
    assert {e["id"] for e in r.json()["endpoints"]} == {keystone["id"], ep["id"]}
    r = await ks.get(f"/v3/OS-EP-FILTER/endpoints/{keystone['id']}/projects", headers=admin)
    assert [p["id"] for p in r.json()["projects"]] == [project]
    _, t = await issue(ks)
    assert {s["type"] for s in t["catalog"]} == {"image", "identity"}
    assert (await ks.put(f"/v3/OS-EP-FILTER/projects/{project}/endpoints/nope", headers=admin)).status_code == 404
    # Without associations the catalog is whole again.
    assert (await ks.delete(direct, headers=admin)).status_code == 204
    assert (await ks.delete(f"/v3/OS-EP-FILTER/endpoint_groups/{eg['id']}", headers=admin)).status_code == 204
    _, t = await issue(ks)
    assert {s["type"] for s in t["catalog"]} == {"identity", "image", "compute", "network"}
    r = await ks.patch(f"/v3/OS-EP-FILTER/endpoint_groups/{eg['id']}", headers=admin,
                       json={"endpoint_group": {"name": "x"}})
    assert r.status_code == 404
