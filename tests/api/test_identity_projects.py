"""Project hierarchy, projects acting as domains, project tags and domain rules."""
from __future__ import annotations

from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_project, make_user, password_auth)


async def test_hierarchy_parents_and_subtree(ks, admin):
    a = await make_project(ks, admin, "a")
    b = await make_project(ks, admin, "b", parent_id=a["id"])
    c = await make_project(ks, admin, "c", parent_id=b["id"])
    b2 = await make_project(ks, admin, "b2", parent_id=a["id"])
    assert b["parent_id"] == a["id"] and b["domain_id"] == "default"
    r = await ks.get(f"/v3/projects/{c['id']}?parents_as_ids", headers=admin)
    assert r.json()["project"]["parents"] == {b["id"]: {a["id"]: None}}
    r = await ks.get(f"/v3/projects/{c['id']}?parents_as_list", headers=admin)
    assert [x["project"]["id"] for x in r.json()["project"]["parents"]] == [b["id"], a["id"]]
    r = await ks.get(f"/v3/projects/{a['id']}?subtree_as_ids", headers=admin)
    assert r.json()["project"]["subtree"] == {b["id"]: {c["id"]: None}, b2["id"]: None}
    r = await ks.get(f"/v3/projects/{a['id']}?subtree_as_list", headers=admin)
    assert {x["project"]["id"] for x in r.json()["project"]["subtree"]} == {b["id"], b2["id"], c["id"]}
    r = await ks.get(f"/v3/projects/{a['id']}?subtree_as_list&subtree_as_ids", headers=admin)
    assert r.status_code == 400
    r = await ks.get(f"/v3/projects?parent_id={a['id']}", headers=admin)
    assert {p["id"] for p in r.json()["projects"]} == {b["id"], b2["id"]}
    # Only leaves can be deleted; a parent cannot be disabled above enabled children.
    assert (await ks.delete(f"/v3/projects/{b['id']}", headers=admin)).status_code == 403
    r = await ks.patch(f"/v3/projects/{b['id']}", headers=admin, json={"project": {"enabled": False}})
    assert r.status_code == 403
    r = await ks.patch(f"/v3/projects/{c['id']}", headers=admin, json={"project": {"enabled": False}})
    assert r.status_code == 200
    r = await ks.patch(f"/v3/projects/{b['id']}", headers=admin, json={"project": {"enabled": False}})
    assert r.status_code == 200
    # ...and a child cannot be enabled (or created enabled) under a disabled parent.
    r = await ks.patch(f"/v3/projects/{c['id']}", headers=admin, json={"project": {"enabled": True}})
    assert r.status_code == 403
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "c2", "parent_id": b["id"]}})
    assert r.status_code == 403
    assert (await ks.delete(f"/v3/projects/{c['id']}", headers=admin)).status_code == 204
    assert (await ks.delete(f"/v3/projects/{b['id']}", headers=admin)).status_code == 204


async def test_max_depth_and_parent_rules(ks, admin):
    parent = None
    for i in range(5):
        extra = {"parent_id": parent} if parent else {}
        parent = (await make_project(ks, admin, f"level{i}", **extra))["id"]
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "too-deep", "parent_id": parent}})
    assert r.status_code == 403 and "depth" in r.json()["error"]["message"]
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "x", "parent_id": "nope"}})
    assert r.status_code == 404
    dom = (await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "D2"}})).json()["domain"]
    r = await ks.post("/v3/projects", headers=admin,
                      json={"project": {"name": "x", "parent_id": parent, "domain_id": dom["id"]}})
    assert r.status_code == 400
    # A domain as parent makes a top-level project of that domain.
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "top", "parent_id": dom["id"]}})
    assert r.status_code == 201
    assert r.json()["project"]["domain_id"] == dom["id"] and r.json()["project"]["parent_id"] == dom["id"]
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "n" * 65}})
    assert r.status_code == 400
    r = await ks.patch(f"/v3/projects/{parent}", headers=admin, json={"project": {"parent_id": dom["id"]}})
    assert r.status_code == 400


async def test_is_domain_project_is_a_domain(ks, admin):
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "pdom", "is_domain": True}})
    assert r.status_code == 201, r.text
    p = r.json()["project"]
    assert p["is_domain"] is True and p["domain_id"] is None and p["parent_id"] is None
    r = await ks.get("/v3/projects?is_domain=true", headers=admin)
    assert p["id"] in {x["id"] for x in r.json()["projects"]}
    assert all(x["is_domain"] for x in r.json()["projects"])
    r = await ks.get("/v3/projects", headers=admin)
    assert p["id"] not in {x["id"] for x in r.json()["projects"]}
    r = await ks.get(f"/v3/domains/{p['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["domain"]["name"] == "pdom"
    assert (await ks.get(f"/v3/projects/{p['id']}", headers=admin)).json()["project"] == p
    # The name is taken among domains.
    r = await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "pdom"}})
    assert r.status_code == 409
    r = await ks.post("/v3/projects", headers=admin,
                      json={"project": {"name": "pdom2", "is_domain": True, "parent_id": p["id"]}})
    assert r.status_code == 400
    # Deleting it as a project follows the domain rules.
    assert (await ks.delete(f"/v3/projects/{p['id']}", headers=admin)).status_code == 403
    r = await ks.patch(f"/v3/projects/{p['id']}", headers=admin, json={"project": {"enabled": False}})
    assert r.status_code == 200 and r.json()["project"]["enabled"] is False
    assert (await ks.delete(f"/v3/projects/{p['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/domains/{p['id']}", headers=admin)).status_code == 404


async def test_project_tags(ks, admin):
    p = await make_project(ks, admin, "tagged")
    base = f"/v3/projects/{p['id']}/tags"
    r = await ks.put(f"{base}/red", headers=admin)
    assert r.status_code == 201
    assert (await ks.get(f"{base}/red", headers=admin)).status_code == 204
    assert (await ks.head(f"{base}/red", headers=admin)).status_code == 204
    assert (await ks.get(f"{base}/blue", headers=admin)).status_code == 404
    r = await ks.put(base, headers=admin, json={"tags": ["x", "y", "z"]})
    assert r.status_code == 200 and r.json()["tags"] == ["x", "y", "z"]
    assert sorted((await ks.get(base, headers=admin)).json()["tags"]) == ["x", "y", "z"]
    assert (await ks.delete(f"{base}/x", headers=admin)).status_code == 204
    assert (await ks.delete(f"{base}/x", headers=admin)).status_code == 404
    for bad in (["a,b"], ["t" * 256], ["dup", "dup"], [f"t{i}" for i in range(81)], "notalist"):
        r = await ks.put(base, headers=admin, json={"tags": bad})
        assert r.status_code == 400, bad
    assert (await ks.put(f"{base}/a,b", headers=admin)).status_code == 400
    assert (await ks.delete(base, headers=admin)).status_code == 204
    assert (await ks.get(base, headers=admin)).json()["tags"] == []
    assert (await ks.get("/v3/projects/nope/tags", headers=admin)).status_code == 404


async def test_tag_filters(ks, admin):
    p1 = await make_project(ks, admin, "p1", tags=["a", "b"])
    p2 = await make_project(ks, admin, "p2", tags=["b", "c"])
    p3 = await make_project(ks, admin, "p3", tags=[])

    async def names(query: str) -> set[str]:
        r = await ks.get(f"/v3/projects?{query}", headers=admin)
        return {p["name"] for p in r.json()["projects"]} & {p1["name"], p2["name"], p3["name"]}

    assert await names("tags=a,b") == {"p1"}
    assert await names("tags=b") == {"p1", "p2"}
    assert await names("tags-any=a,c") == {"p1", "p2"}
    assert await names("not-tags=a,b") == {"p2", "p3"}
    assert await names("not-tags-any=a,c") == {"p3"}
    assert await names("tags=b&not-tags-any=c") == {"p1"}


async def test_domain_rules(ks, admin):
    r = await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "Dom", "description": "d"}})
    dom = r.json()["domain"]
    assert (await ks.delete(f"/v3/domains/{dom['id']}", headers=admin)).status_code == 403
    assert (await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "Dom"}})).status_code == 409
    assert (await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "d" * 65}})).status_code == 400
    assert (await ks.post("/v3/domains", headers=admin, json={"domain": {"name": ""}})).status_code == 400
    # A user of the domain with a project there: disabling the domain invalidates their token.
    proj = await make_project(ks, admin, "inside", domain_id=dom["id"])
    user = await make_user(ks, admin, "dweller", "pw", domain_id=dom["id"])
    roles = (await ks.get("/v3/roles?name=member", headers=admin)).json()["roles"]
    r = await ks.put(f"/v3/projects/{proj['id']}/users/{user['id']}/roles/{roles[0]['id']}", headers=admin)
    assert r.status_code == 204
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": user["id"], "password": "pw"}}},
                     "scope": {"project": {"id": proj["id"]}}}}
    token, _ = await issue(ks, body)
    check = {**admin, "X-Subject-Token": token}
    assert (await ks.get("/v3/auth/tokens", headers=check)).status_code == 200
    r = await ks.patch(f"/v3/domains/{dom['id']}", headers=admin, json={"domain": {"enabled": False}})
    assert r.status_code == 200
    assert (await ks.get("/v3/auth/tokens", headers=check)).status_code == 404
    assert (await ks.delete(f"/v3/domains/{dom['id']}", headers=admin)).status_code == 204
    for path in (f"/v3/projects/{proj['id']}", f"/v3/users/{user['id']}", f"/v3/domains/{dom['id']}"):
        assert (await ks.get(path, headers=admin)).status_code == 404, path


async def test_member_cannot_manage_projects(ks, admin, ids):
    await make_user(ks, admin, "plain", "pw", project_id=ids["project_ids"]["admin"])
    token, _ = await issue(ks, password_auth("plain", "pw"))
    me = hdr(token)
    p = await make_project(ks, admin, "victim")
    assert (await ks.delete(f"/v3/projects/{p['id']}", headers=me)).status_code == 403
    assert (await ks.post("/v3/projects", headers=me, json={"project": {"name": "mine"}})).status_code == 403
    assert (await ks.put(f"/v3/projects/{p['id']}/tags/x", headers=me)).status_code == 403
    r = await ks.get(f"/v3/projects/{ids['project_ids']['admin']}/tags", headers=me)
    assert r.status_code == 200


async def test_domain_reader_lists_only_its_domain(ks, admin):
    dom = (await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "Readers"}})).json()["domain"]
    inside = await make_project(ks, admin, "in-dom", domain_id=dom["id"])
    outside = await make_project(ks, admin, "out-dom")
    user = await make_user(ks, admin, "dreader", "pw", domain_id=dom["id"])
    reader = (await ks.get("/v3/roles?name=reader", headers=admin)).json()["roles"][0]
    r = await ks.put(f"/v3/domains/{dom['id']}/users/{user['id']}/roles/{reader['id']}", headers=admin)
    assert r.status_code == 204
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": user["id"], "password": "pw"}}},
                     "scope": {"domain": {"id": dom["id"]}}}}
    token, _ = await issue(ks, body)
    me = hdr(token)
    r = await ks.get("/v3/projects", headers=me)
    assert r.status_code == 200 and [p["id"] for p in r.json()["projects"]] == [inside["id"]]
    assert (await ks.get("/v3/projects?domain_id=default", headers=me)).status_code == 403
    assert (await ks.get(f"/v3/projects/{inside['id']}", headers=me)).status_code == 200
    assert (await ks.get(f"/v3/projects/{outside['id']}", headers=me)).status_code == 403
    assert (await ks.get(f"/v3/projects/{inside['id']}/tags", headers=me)).status_code == 200
    assert (await ks.put(f"/v3/projects/{inside['id']}/tags/x", headers=me)).status_code == 403
