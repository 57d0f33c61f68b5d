"""Roles, grants on projects and domains, GET /v3/role_assignments, project listings."""
from __future__ import annotations

from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_project, make_user, password_auth)


async def test_role_crud(ks, admin, ids):
    r = await ks.get("/v3/roles", headers=admin)
    assert {x["name"] for x in r.json()["roles"]} == {"admin", "manager", "member", "reader", "service"}
    assert all(x["domain_id"] is None for x in r.json()["roles"])
    r = await ks.post("/v3/roles", headers=admin, json={"role": {"name": "auditor"}})
    assert r.status_code == 201
    role = r.json()["role"]
    assert role["name"] == "auditor" and role["domain_id"] is None and len(role["id"]) == 32
    assert (await ks.post("/v3/roles", headers=admin, json={"role": {"name": "auditor"}})).status_code == 409
    assert (await ks.get(f"/v3/roles/{role['id']}", headers=admin)).json()["role"] == role
    r = await ks.get("/v3/roles?name=member", headers=admin)
    assert [x["id"] for x in r.json()["roles"]] == [ids["role_ids"]["member"]]
    # A domain role of the same name is a different role.
    r = await ks.post("/v3/roles", headers=admin, json={"role": {"name": "auditor", "domain_id": "default"}})
    assert r.status_code == 201 and r.json()["role"]["domain_id"] == "default"
    r = await ks.get("/v3/roles?domain_id=default", headers=admin)
    assert [x["name"] for x in r.json()["roles"]] == ["auditor"]
    assert (await ks.delete(f"/v3/roles/{role['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/roles/{role['id']}", headers=admin)).status_code == 404
    assert (await ks.delete(f"/v3/roles/{role['id']}", headers=admin)).status_code == 404


async def test_project_grants_put_head_delete(ks, admin, ids):
    project = await make_project(ks, admin, "gp")
    user = await make_user(ks, admin, "gu", "pw")
    member = ids["role_ids"]["member"]
    url = f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member}"
    assert (await ks.head(url, headers=admin)).status_code == 404
    assert (await ks.put(url, headers=admin)).status_code == 204
    assert (await ks.put(url, headers=admin)).status_code == 204
    assert (await ks.head(url, headers=admin)).status_code == 204
    r = await ks.get(f"/v3/projects/{project['id']}/users/{user['id']}/roles", headers=admin)
    assert [x["name"] for x in r.json()["roles"]] == ["member"]
    _, t = await issue(ks, password_auth("gu", "pw", project="gp"))
    assert {x["name"] for x in t["roles"]} == {"member", "reader"}  # member implies reader
    assert (await ks.delete(url, headers=admin)).status_code == 204
    r = await ks.delete(url, headers=admin)
    assert r.status_code == 404 and "Could not find role assignment" in r.json()["error"]["message"]
    for bad in (f"/v3/projects/nope/users/{user['id']}/roles/{member}",
                f"/v3/projects/{project['id']}/users/nope/roles/{member}",
                f"/v3/projects/{project['id']}/users/{user['id']}/roles/nope"):
        assert (await ks.put(bad, headers=admin)).status_code == 404, bad
    r = await ks.get("/v3/role_assignments?user.id=" + user["id"], headers=admin)
    assert r.json()["role_assignments"] == []


async def test_domain_grants(ks, admin, ids):
    user = await make_user(ks, admin, "du", "pw")
    reader = ids["role_ids"]["reader"]
    url = f"/v3/domains/default/users/{user['id']}/roles/{reader}"
    assert (await ks.put(url, headers=admin)).status_code == 204
    assert (await ks.head(url, headers=admin)).status_code == 204
    _, t = await issue(ks, password_auth("du", "pw", project=None, domain="default"))
    assert [x["name"] for x in t["roles"]] == ["reader"]
    assert (await ks.put(f"/v3/domains/nope/users/{user['id']}/roles/{reader}", headers=admin)).status_code == 404
    assert (await ks.delete(url, headers=admin)).status_code == 204
    r = await ks.post("/v3/auth/tokens", json=password_auth("du", "pw", project=None, domain="default"))
    assert r.status_code == 401


async def test_role_assignments_filters_and_names(ks, admin, ids):
    r = await ks.get("/v3/role_assignments", headers=admin)
    rows = r.json()["role_assignments"]
    assert len(rows) == 5  # admin: project admin, domain default, system; kumo: admin + service on service
    admin_id, admin_project = ids["user_ids"]["admin"], ids["project_ids"]["admin"]
    r = await ks.get(f"/v3/role_assignments?user.id={admin_id}&scope.project.id={admin_project}", headers=admin)
    (row,) = r.json()["role_assignments"]
    assert row == {"role": {"id": ids["role_ids"]["admin"]}, "user": {"id": admin_id},
                   "scope": {"project": {"id": admin_project}},
                   "links": {"assignment": f"http://127.0.0.1:5000/v3/projects/{admin_project}/users/"
                                           f"{admin_id}/roles/{ids['role_ids']['admin']}"}}
    r = await ks.get(f"/v3/role_assignments?role.id={ids['role_ids']['service']}&include_names=True",
                     headers=admin)
    (row,) = r.json()["role_assignments"]
    assert row["role"] == {"id": ids["role_ids"]["service"], "name": "service"}
    assert row["user"] == {"id": ids["user_ids"]["kumo"], "name": "kumo",
                           "domain": {"id": "default", "name": "Default"}}
    assert row["scope"] == {"project": {"id": ids["project_ids"]["service"], "name": "service",
                                        "domain": {"id": "default", "name": "Default"}}}
    r = await ks.get("/v3/role_assignments?scope.domain.id=default&include_names", headers=admin)
    (row,) = r.json()["role_assignments"]
    assert row["scope"] == {"domain": {"id": "default", "name": "Default"}}
    r = await ks.get("/v3/role_assignments?scope.domain.id=default&scope.project.id=x", headers=admin)
    assert r.status_code == 400
    r = await ks.get("/v3/role_assignments?group.id=anything", headers=admin)
    assert r.status_code == 200 and r.json()["role_assignments"] == []


async def test_deleting_a_role_or_user_removes_its_assignments(ks, admin, ids):
    project = await make_project(ks, admin, "rp")
    role = (await ks.post("/v3/roles", headers=admin, json={"role": {"name": "temp"}})).json()["role"]
    user = await make_user(ks, admin, "ru", "pw", project_id=project["id"], role="temp")
    r = await ks.get(f"/v3/role_assignments?scope.project.id={project['id']}", headers=admin)
    assert len(r.json()["role_assignments"]) == 1
    await ks.delete(f"/v3/roles/{role['id']}", headers=admin)
    r = await ks.get(f"/v3/role_assignments?scope.project.id={project['id']}", headers=admin)
    assert r.json()["role_assignments"] == []
    await ks.put(f"/v3/projects/{project['id']}/users/{user['id']}/roles/{ids['role_ids']['member']}",
                 headers=admin)
    await ks.delete(f"/v3/users/{user['id']}", headers=admin)
    r = await ks.get(f"/v3/role_assignments?scope.project.id={project['id']}", headers=admin)
    assert r.json()["role_assignments"] == []


async def test_user_projects_and_auth_projects(ks, admin, ids):
    p1 = await make_project(ks, admin, "one")
    p2 = await make_project(ks, admin, "two")
    await make_project(ks, admin, "three")
    user = await make_user(ks, admin, "pu", "pw", project_id=p1["id"])
    await ks.put(f"/v3/projects/{p2['id']}/users/{user['id']}/roles/{ids['role_ids']['reader']}", headers=admin)
    token, _ = await issue(ks, password_auth("pu", "pw", project="one"))
    r = await ks.get(f"/v3/users/{user['id']}/projects", headers=hdr(token))
    assert r.status_code == 200 and {p["name"] for p in r.json()["projects"]} == {"one", "two"}
    r = await ks.get("/v3/auth/projects", headers=hdr(token))
    assert {p["name"] for p in r.json()["projects"]} == {"one", "two"}
    r = await ks.get(f"/v3/users/{ids['user_ids']['admin']}/projects", headers=hdr(token))
    assert r.status_code == 403
    r = await ks.get(f"/v3/users/{ids['user_ids']['admin']}/projects", headers=admin)
    assert [p["name"] for p in r.json()["projects"]] == ["admin"]
    r = await ks.get("/v3/auth/domains", headers=admin)
    assert [d["id"] for d in r.json()["domains"]] == ["default"]
    assert (await ks.get("/v3/users/nope/projects", headers=admin)).status_code == 404
