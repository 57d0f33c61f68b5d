"""Unified limits and domain configuration."""
from __future__ import annotations

from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_project, make_user, password_auth)


async def test_registered_limits_and_limits(ks, admin, ids):
    compute = ids["service_ids"]["compute"]
    reg = {"service_id": compute, "region_id": "RegionOne", "resource_name": "cores", "default_limit": 10}
    r = await ks.post("/v3/registered_limits", headers=admin,
                      json={"registered_limits": [reg, {**reg, "resource_name": "ram", "default_limit": -1}]})
    assert r.status_code == 201, r.text
    cores, ram = r.json()["registered_limits"]
    assert cores["default_limit"] == 10 and ram["default_limit"] == -1 and cores["description"] is None
    r = await ks.post("/v3/registered_limits", headers=admin, json={"registered_limits": [reg]})
    assert r.status_code == 409
    for bad in ({**reg, "service_id": "nope"}, {**reg, "region_id": "Nowhere"}, {**reg, "default_limit": "5"},
                {**reg, "default_limit": -2}):
        r = await ks.post("/v3/registered_limits", headers=admin, json={"registered_limits": [bad]})
        assert r.status_code == 400, bad
    r = await ks.get("/v3/registered_limits?resource_name=ram", headers=admin)
    assert [x["id"] for x in r.json()["registered_limits"]] == [ram["id"]]
    project = await make_project(ks, admin, "limited")
    lim = {"project_id": project["id"], "service_id": compute, "region_id": "RegionOne",
           "resource_name": "cores", "resource_limit": 20}
    r = await ks.post("/v3/limits", headers=admin, json={"limits": [lim]})
    assert r.status_code == 201, r.text
    (limit,) = r.json()["limits"]
    assert limit["resource_limit"] == 20 and limit["project_id"] == project["id"] and limit["domain_id"] is None
    assert (await ks.post("/v3/limits", headers=admin, json={"limits": [lim]})).status_code == 409
    r = await ks.post("/v3/limits", headers=admin, json={"limits": [{**lim, "resource_name": "disks"}]})
    assert r.status_code == 403
    r = await ks.post("/v3/limits", headers=admin, json={"limits": [{**lim, "domain_id": "default"}]})
    assert r.status_code == 400
    # A referenced registered limit keeps its resource and cannot be deleted.
    r = await ks.patch(f"/v3/registered_limits/{cores['id']}", headers=admin,
                       json={"registered_limit": {"resource_name": "vcpus"}})
    assert r.status_code == 403
    r = await ks.patch(f"/v3/registered_limits/{cores['id']}", headers=admin,
                       json={"registered_limit": {"default_limit": 12, "description": "CPU"}})
    assert r.status_code == 200 and r.json()["registered_limit"]["default_limit"] == 12
    assert (await ks.delete(f"/v3/registered_limits/{cores['id']}", headers=admin)).status_code == 403
    r = await ks.patch(f"/v3/limits/{limit['id']}", headers=admin, json={"limit": {"resource_limit": 5}})
    assert r.status_code == 200 and r.json()["limit"]["resource_limit"] == 5
    r = await ks.get(f"/v3/limits?project_id={project['id']}", headers=admin)
    assert [x["id"] for x in r.json()["limits"]] == [limit["id"]]
    r = await ks.get(f"/v3/projects/{project['id']}?subtree_as_list&include_limits", headers=admin)
    assert r.json()["project"]["subtree"] == []
    child = (await ks.post("/v3/projects", headers=admin,
                           json={"project": {"name": "limited-child", "parent_id": project["id"]}})).json()["project"]
    r = await ks.get(f"/v3/projects/{child['id']}?parents_as_list&include_limits", headers=admin)
    (parent,) = r.json()["project"]["parents"]
    assert [x["id"] for x in parent["project"]["limits"]] == [limit["id"]]
    assert (await ks.delete(f"/v3/projects/{child['id']}", headers=admin)).status_code == 204
    r = await ks.get("/v3/limits/model", headers=admin)
    assert r.status_code == 200 and r.json()["model"]["name"] == "flat"
    # A member of the project reads its own limits only; writes are for admins.
    await make_user(ks, admin, "lim", "pw", project_id=project["id"])
    token, _ = await issue(ks, password_auth("lim", "pw", project="limited"))
    me = hdr(token)
    assert [x["id"] for x in (await ks.get("/v3/limits", headers=me)).json()["limits"]] == [limit["id"]]
    assert (await ks.get(f"/v3/limits/{limit['id']}", headers=me)).status_code == 200
    assert (await ks.get("/v3/registered_limits", headers=me)).status_code == 200
    assert (await ks.post("/v3/limits", headers=me, json={"limits": [lim]})).status_code == 403
    assert (await ks.delete(f"/v3/limits/{limit['id']}", headers=me)).status_code == 403
    # Deleting the project removes its limits; then the registered limit can go.
    assert (await ks.delete(f"/v3/projects/{project['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/limits/{limit['id']}", headers=admin)).status_code == 404
    assert (await ks.delete(f"/v3/registered_limits/{cores['id']}", headers=admin)).status_code == 204


async def test_domain_config(ks, admin):
    dom = (await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "ldapdom"}})).json()["domain"]
    base = f"/v3/domains/{dom['id']}/config"
    assert (await ks.get(base, headers=admin)).status_code == 404
    config = {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://h/", "password": "hidden"}}
    r = await ks.put(base, headers=admin, json={"config": config})
    assert r.status_code == 201
    assert r.json()["config"] == {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://h/"}}
    r = await ks.put(base, headers=admin, json={"config": {"identity": {"driver": "sql"}}})
    assert r.status_code == 200 and r.json()["config"] == {"identity": {"driver": "sql"}}
    r = await ks.patch(f"{base}/identity", headers=admin,
                       json={"config": {"identity": {"driver": "ldap", "list_limit": 7}}})
    assert r.status_code == 200 and r.json()["config"]["identity"] == {"driver": "ldap", "list_limit": 7}
    r = await ks.patch(f"{base}/ldap", headers=admin, json={"config": {"ldap": {"url": "ldap://x/"}}})
    assert r.status_code == 200 and r.json()["config"]["ldap"] == {"url": "ldap://x/"}
    r = await ks.patch(f"{base}/identity/driver", headers=admin, json={"config": {"driver": "sql"}})
    assert r.status_code == 200 and r.json()["config"]["identity"]["driver"] == "sql"
    assert (await ks.get(f"{base}/identity/list_limit", headers=admin)).json()["config"] == {"list_limit": 7}
    assert (await ks.get(f"{base}/ldap", headers=admin)).json()["config"] == {"ldap": {"url": "ldap://x/"}}
    # Unsupported groups and options are refused, mismatched bodies are 400.
    r = await ks.patch(base, headers=admin, json={"config": {"assignment": {"driver": "x"}}})
    assert r.status_code == 403
    r = await ks.patch(base, headers=admin, json={"config": {"ldap": {"colour": "x"}}})
    assert r.status_code == 403
    r = await ks.patch(f"{base}/identity", headers=admin, json={"config": {"ldap": {"url": "x"}}})
    assert r.status_code == 400
    assert (await ks.patch(base, headers=admin, json={"nothing": 1})).status_code == 400
    assert (await ks.delete(f"{base}/identity/driver", headers=admin)).status_code == 204
    assert (await ks.get(f"{base}/identity/driver", headers=admin)).status_code == 404
    assert (await ks.delete(f"{base}/identity", headers=admin)).status_code == 204
    assert (await ks.get(f"{base}/identity", headers=admin)).status_code == 404
    assert (await ks.delete(base, headers=admin)).status_code == 204
    assert (await ks.get(base, headers=admin)).status_code == 404
    assert (await ks.put("/v3/domains/nope/config", headers=admin, json={"config": config})).status_code == 404


async def test_domain_config_defaults(ks, admin):
    r = await ks.get("/v3/domains/config/default", headers=admin)
    assert r.status_code == 200
    config = r.json()["config"]
    assert set(config) == {"identity", "ldap"} and config["identity"] == {"driver": "sql", "list_limit": None}
    assert "password" not in config["ldap"]
    r = await ks.get("/v3/domains/config/ldap/default", headers=admin)
    assert r.json()["config"]["ldap"]["url"] == "ldap://localhost"
    r = await ks.get("/v3/domains/config/ldap/user_tree_dn/default", headers=admin)
    assert r.json()["config"] == {"user_tree_dn": None}
    assert (await ks.get("/v3/domains/config/policy/default", headers=admin)).status_code == 403
