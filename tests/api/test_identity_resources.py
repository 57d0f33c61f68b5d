"""Domains, projects and users: CRUD, filters, 400/403/404/409/413."""
from __future__ import annotations

from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_project, make_user, password_auth)


async def test_project_crud(ks, admin):
    r = await ks.post("/v3/projects", headers=admin,
                      json={"project": {"name": "demo", "description": "Demo", "tags": ["a"]}})
    assert r.status_code == 201
    p = r.json()["project"]
    assert len(p["id"]) == 32 and all(c in "0123456789abcdef" for c in p["id"])
    assert p["name"] == "demo" and p["domain_id"] == "default" and p["parent_id"] == "default"
    assert p["enabled"] is True and p["is_domain"] is False and p["tags"] == ["a"] and p["options"] == {}
    assert p["links"]["self"] == f"http://127.0.0.1:5000/v3/projects/{p['id']}"
    r = await ks.get(f"/v3/projects/{p['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["project"] == p
    r = await ks.patch(f"/v3/projects/{p['id']}", headers=admin,
                       json={"project": {"description": "changed", "enabled": False}})
    assert r.status_code == 200
    assert r.json()["project"]["description"] == "changed" and r.json()["project"]["enabled"] is False
    r = await ks.get("/v3/projects?name=demo", headers=admin)
    assert [x["id"] for x in r.json()["projects"]] == [p["id"]]
    assert r.json()["links"]["next"] is None
    r = await ks.get("/v3/projects?enabled=false", headers=admin)
    assert [x["name"] for x in r.json()["projects"]] == ["demo"]
    assert (await ks.delete(f"/v3/projects/{p['id']}", headers=admin)).status_code == 204
    r = await ks.get(f"/v3/projects/{p['id']}", headers=admin)
    assert r.status_code == 404
    assert r.json()["error"] == {"code": 404, "title": "Not Found",
                                 "message": f"Could not find project: {p['id']}."}
    assert (await ks.delete(f"/v3/projects/{p['id']}", headers=admin)).status_code == 404


async def test_project_list_and_filters(ks, admin, ids):
    r = await ks.get("/v3/projects", headers=admin)
    assert {p["name"] for p in r.json()["projects"]} == {"admin", "service"}
    r = await ks.get("/v3/projects?domain_id=default&name=service", headers=admin)
    assert [p["id"] for p in r.json()["projects"]] == [ids["project_ids"]["service"]]
    r = await ks.get("/v3/projects?domain_id=elsewhere", headers=admin)
    assert r.json()["projects"] == []
    r = await ks.get("/v3/projects?enabled=maybe", headers=admin)
    assert r.status_code == 400


async def test_duplicate_names_conflict_within_a_domain(ks, admin):
    await make_project(ks, admin, "dup")
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "dup"}})
    assert r.status_code == 409 and r.json()["error"]["title"] == "Conflict"
    await make_user(ks, admin, "dupe", "x")
    r = await ks.post("/v3/users", headers=admin, json={"user": {"name": "dupe"}})
    assert r.status_code == 409
    other = await make_project(ks, admin, "other")
    r = await ks.patch(f"/v3/projects/{other['id']}", headers=admin, json={"project": {"name": "dup"}})
    assert r.status_code == 409
    # The same name in another domain is fine.
    r = await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "Second"}})
    assert r.status_code == 201
    dom = r.json()["domain"]
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "dup", "domain_id": dom["id"]}})
    assert r.status_code == 201 and r.json()["project"]["parent_id"] == dom["id"]


async def test_invalid_bodies_are_400_and_huge_ones_413(ks, admin):
    for body in ({"project": {"name": ""}}, {"project": {"name": "x" * 65}}, {"project": {"name": 5}},
                 {"project": {"name": "ok", "enabled": "true"}}, {"project": {"name": "   "}},
                 {"project": {"name": "ok", "tags": ["a/b"]}}, {"name": "no-wrapper"}, {"project": "x"}):
        r = await ks.post("/v3/projects", headers=admin, json=body)
        assert r.status_code == 400, body
        assert r.json()["error"]["code"] == 400
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "big", "description": "x" * 200000}})
    assert r.status_code == 413
    r = await ks.get("/v3/projects?name=big", headers=admin)
    assert r.json()["projects"] == []


async def test_unknown_domain_and_parent_are_404(ks, admin):
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "p", "domain_id": "nope"}})
    assert r.status_code == 404
    r = await ks.post("/v3/projects", headers=admin, json={"project": {"name": "p", "parent_id": "nope"}})
    assert r.status_code == 404
    r = await ks.post("/v3/users", headers=admin, json={"user": {"name": "u", "domain_id": "nope"}})
    assert r.status_code == 404
    r = await ks.get("/v3/projects", headers=admin)
    assert {p["name"] for p in r.json()["projects"]} == {"admin", "service"}


async def test_child_projects_and_non_leaf_delete(ks, admin):
    parent = await make_project(ks, admin, "parent")
    child = await make_project(ks, admin, "child", parent_id=parent["id"])
    assert child["parent_id"] == parent["id"]
    r = await ks.delete(f"/v3/projects/{parent['id']}", headers=admin)
    assert r.status_code == 403
    r = await ks.get(f"/v3/projects?parent_id={parent['id']}", headers=admin)
    assert [p["id"] for p in r.json()["projects"]] == [child["id"]]
    r = await ks.patch(f"/v3/projects/{child['id']}", headers=admin, json={"project": {"domain_id": "x"}})
    assert r.status_code == 400


async def test_user_crud_and_extras(ks, admin):
    r = await ks.post("/v3/users", headers=admin, json={"user": {
        "name": "erin", "password": "pw", "email": "erin@example.com", "description": "E"}})
    assert r.status_code == 201
    u = r.json()["user"]
    assert "password" not in u and "password_hash" not in u
    assert u["domain_id"] == "default" and u["enabled"] is True and u["password_expires_at"] is None
    assert u["options"] == {} and u["email"] == "erin@example.com" and u["description"] == "E"
    assert u["default_project_id"] is None
    r = await ks.get("/v3/users?name=erin", headers=admin)
    assert [x["id"] for x in r.json()["users"]] == [u["id"]]
    project = await make_project(ks, admin, "erins")
    r = await ks.patch(f"/v3/users/{u['id']}", headers=admin,
                       json={"user": {"default_project_id": project["id"], "email": "e@x.org", "password": "pw2"}})
    assert r.status_code == 200
    assert r.json()["user"]["default_project_id"] == project["id"] and r.json()["user"]["email"] == "e@x.org"
    assert (await ks.post("/v3/auth/tokens", json=password_auth("erin", "pw", project=None))).status_code == 401
    _, t = await issue(ks, password_auth("erin", "pw2", project=None, unscoped=True))
    assert t["user"]["id"] == u["id"]
    assert (await ks.delete(f"/v3/users/{u['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/users/{u['id']}", headers=admin)).status_code == 404
    assert (await ks.patch(f"/v3/users/{u['id']}", headers=admin, json={"user": {}})).status_code == 404


async def test_members_read_their_own_project_and_user_only(ks, admin, ids):
    project = await make_project(ks, admin, "mine")
    user = await make_user(ks, admin, "frank", "pw-f", project_id=project["id"])
    token, _ = await issue(ks, password_auth("frank", "pw-f", project="mine"))
    me = hdr(token)
    assert (await ks.get(f"/v3/projects/{project['id']}", headers=me)).status_code == 200
    assert (await ks.get(f"/v3/users/{user['id']}", headers=me)).status_code == 200
    assert (await ks.get("/v3/domains/default", headers=me)).status_code == 200
    for path in (f"/v3/projects/{ids['project_ids']['admin']}", f"/v3/users/{ids['user_ids']['admin']}",
                 "/v3/projects", "/v3/users", "/v3/roles", "/v3/domains", "/v3/role_assignments"):
        r = await ks.get(path, headers=me)
        assert r.status_code == 403, path
        assert r.json()["error"]["message"].startswith("You are not authorized to perform the requested action")
    r = await ks.post("/v3/projects", headers=me, json={"project": {"name": "nope"}})
    assert r.status_code == 403
    r = await ks.patch(f"/v3/users/{user['id']}", headers=me, json={"user": {"enabled": False}})
    assert r.status_code == 403
    assert (await ks.delete(f"/v3/projects/{project['id']}", headers=me)).status_code == 403


async def test_change_password(ks, admin):
    user = await make_user(ks, admin, "gina", "old-pw")
    token, _ = await issue(ks, password_auth("gina", "old-pw", project=None))
    r = await ks.post(f"/v3/users/{user['id']}/password", headers=hdr(token),
                      json={"user": {"password": "new-pw", "original_password": "wrong"}})
    assert r.status_code == 401
    r = await ks.post(f"/v3/users/{user['id']}/password", headers=hdr(token), json={"user": {"password": "x"}})
    assert r.status_code == 400
    r = await ks.post(f"/v3/users/{user['id']}/password", headers=hdr(token),
                      json={"user": {"password": "new-pw", "original_password": "old-pw"}})
    assert r.status_code == 204
    assert (await ks.post("/v3/auth/tokens", json=password_auth("gina", "old-pw", project=None))).status_code == 401
    await issue(ks, password_auth("gina", "new-pw", project=None))
    other = await make_user(ks, admin, "hank", "pw-h")
    gina, _ = await issue(ks, password_auth("gina", "new-pw", project=None))
    r = await ks.post(f"/v3/users/{other['id']}/password", headers=hdr(gina),
                      json={"user": {"password": "stolen", "original_password": "pw-h"}})
    assert r.status_code == 403


async def test_domains(ks, admin):
    r = await ks.get("/v3/domains", headers=admin)
    assert [(d["id"], d["name"]) for d in r.json()["domains"]] == [("default", "Default")]
    r = await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "Extra", "description": "d"}})
    assert r.status_code == 201
    d = r.json()["domain"]
    assert d["enabled"] is True and d["description"] == "d" and len(d["id"]) == 32
    assert (await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "Extra"}})).status_code == 409
    assert (await ks.get(f"/v3/domains/{d['id']}", headers=admin)).json()["domain"] == d
    r = await ks.get("/v3/domains?name=Extra", headers=admin)
    assert [x["id"] for x in r.json()["domains"]] == [d["id"]]
    assert (await ks.get("/v3/domains/nope", headers=admin)).status_code == 404
    assert (await ks.delete(f"/v3/domains/{d['id']}", headers=admin)).status_code == 403
    r = await ks.patch(f"/v3/domains/{d['id']}", headers=admin, json={"domain": {"enabled": False}})
    assert r.status_code == 200
    assert (await ks.delete(f"/v3/domains/{d['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/domains/{d['id']}", headers=admin)).status_code == 404


async def test_users_in_a_named_domain_authenticate_by_domain_name(ks, admin):
    d = (await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "Corp"}})).json()["domain"]
    r = await ks.post("/v3/users", headers=admin, json={"user": {"name": "ivy", "password": "pw-i",
                                                                 "domain_id": d["id"]}})
    assert r.status_code == 201
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "ivy", "domain": {"name": "Corp"}, "password": "pw-i"}}}}}
    _, t = await issue(ks, body)
    assert t["user"]["domain"] == {"id": d["id"], "name": "Corp"}
    body["auth"]["identity"]["password"]["user"]["domain"] = {"name": "Default"}
    assert (await ks.post("/v3/auth/tokens", json=body)).status_code == 401
