"""Roles, grants on projects and domains, GET /v3/role_assignments, project listings."""
from __future__ import annotations

import pytest
from sqlalchemy import delete

from kumo.common.db import Database
from kumo.identity import models as m
from kumo.identity.assignment import AssignmentService
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
    token, t = await issue(ks, password_auth("du", "pw", project=None, domain="default"))
    assert [x["name"] for x in t["roles"]] == ["reader"]
    subject = {**admin, "X-Subject-Token": token}
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 200
    assert (await ks.put(f"/v3/domains/nope/users/{user['id']}/roles/{reader}", headers=admin)).status_code == 404
    assert (await ks.delete(url, headers=admin)).status_code == 204
    # Losing its only role on the domain: the token stops validating, no new one is issued.
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 404
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


# --- system, groups, OS-INHERIT, implied roles, effective assignments ------------------------

async def _group(ks, admin, name: str) -> dict:
    r = await ks.post("/v3/groups", headers=admin, json={"group": {"name": name}})
    assert r.status_code == 201, r.text
    return r.json()["group"]


async def _role(ks, admin, name: str, domain_id: str | None = None) -> dict:
    body = {"name": name, **({"domain_id": domain_id} if domain_id else {})}
    r = await ks.post("/v3/roles", headers=admin, json={"role": body})
    assert r.status_code == 201, r.text
    return r.json()["role"]


@pytest.fixture
async def svc(settings, ids):
    """An AssignmentService on the test's identity database (what tokens call)."""
    db = Database(settings.database_url("identity"), m.Base.metadata)
    yield AssignmentService(db)
    await db.close()


async def test_system_grants_for_users_and_groups(ks, admin, ids, svc):
    user = await make_user(ks, admin, "sysu", "pw")
    group = await _group(ks, admin, "sysg")
    reader = ids["role_ids"]["reader"]
    for actor, ident in (("users", user["id"]), ("groups", group["id"])):
        url = f"/v3/system/{actor}/{ident}/roles/{reader}"
        assert (await ks.head(url, headers=admin)).status_code == 404
        assert (await ks.put(url, headers=admin)).status_code == 204
        assert (await ks.head(url, headers=admin)).status_code == 204
        r = await ks.get(f"/v3/system/{actor}/{ident}/roles", headers=admin)
        assert [x["id"] for x in r.json()["roles"]] == [reader]
    assert (await ks.put(f"/v3/system/users/nope/roles/{reader}", headers=admin)).status_code == 404
    assert (await ks.put(f"/v3/system/users/{user['id']}/roles/nope", headers=admin)).status_code == 404
    dom_role = await _role(ks, admin, "drole", "default")
    r = await ks.put(f"/v3/system/users/{user['id']}/roles/{dom_role['id']}", headers=admin)
    assert r.status_code == 400
    r = await ks.get("/v3/role_assignments?scope.system=all", headers=admin)
    rows = r.json()["role_assignments"]
    admin_id = ids["user_ids"]["admin"]
    assert {(x.get("user", x.get("group"))["id"], x["role"]["id"]) for x in rows} == {
        (admin_id, ids["role_ids"]["admin"]), (user["id"], reader), (group["id"], reader)}
    mine = next(x for x in rows if x.get("user", {}).get("id") == user["id"])
    assert mine["scope"] == {"system": {"all": True}}
    assert mine["links"]["assignment"] == f"http://127.0.0.1:5000/v3/system/users/{user['id']}/roles/{reader}"
    assert [r.name for r in await svc.roles_on(admin_id, system=True)] == ["admin", "manager", "member", "reader"]
    assert await svc.has_system_roles(admin_id) and await svc.has_system_roles(user["id"])
    assert not await svc.has_system_roles(ids["user_ids"]["kumo"])
    # Through the group only.
    await ks.delete(f"/v3/system/users/{user['id']}/roles/{reader}", headers=admin)
    assert not await svc.has_system_roles(user["id"])
    await ks.put(f"/v3/groups/{group['id']}/users/{user['id']}", headers=admin)
    assert [r.name for r in await svc.roles_on(user["id"], system=True)] == ["reader"]
    await ks.delete(f"/v3/system/groups/{group['id']}/roles/{reader}", headers=admin)
    assert await svc.roles_on(user["id"], system=True) == []
    assert (await ks.delete(f"/v3/system/groups/{group['id']}/roles/{reader}", headers=admin)).status_code == 404


async def _ra(ks, admin, query: str) -> list[dict]:
    r = await ks.get(f"/v3/role_assignments?{query}", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()["role_assignments"]


async def test_inherited_grants_reach_projects_below(ks, admin, ids, svc):
    r = await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "inh"}})
    dom = r.json()["domain"]["id"]
    top = await make_project(ks, admin, "top", domain_id=dom)
    leaf = await make_project(ks, admin, "leaf", domain_id=dom, parent_id=top["id"])
    user = await make_user(ks, admin, "heir", "pw", domain_id=dom)
    role = await _role(ks, admin, "auditor")
    on_domain = f"/v3/OS-INHERIT/domains/{dom}/users/{user['id']}/roles/{role['id']}/inherited_to_projects"
    assert (await ks.head(on_domain, headers=admin)).status_code == 404
    assert (await ks.put(on_domain, headers=admin)).status_code == 204
    assert (await ks.head(on_domain, headers=admin)).status_code == 204
    r = await ks.get(f"/v3/OS-INHERIT/domains/{dom}/users/{user['id']}/roles/inherited_to_projects", headers=admin)
    assert [x["id"] for x in r.json()["roles"]] == [role["id"]]
    # Not a grant on the domain itself.
    assert (await ks.get(f"/v3/domains/{dom}/users/{user['id']}/roles", headers=admin)).json()["roles"] == []
    assert await svc.roles_on(user["id"], domain_id=dom) == []
    for p in (top, leaf):
        assert [x.name for x in await svc.roles_on(user["id"], project_id=p["id"])] == ["auditor"]
    assert sorted(await svc.project_ids_for_user(user["id"])) == sorted([top["id"], leaf["id"]])
    (row,) = await _ra(ks, admin, f"user.id={user['id']}")
    assert row["scope"] == {"domain": {"id": dom}, "OS-INHERIT:inherited_to": "projects"}
    assert row["links"]["assignment"] == f"http://127.0.0.1:5000{on_domain}"
    assert await _ra(ks, admin, f"user.id={user['id']}&scope.OS-INHERIT:inherited_to=projects") == [row]
    rows = await _ra(ks, admin, f"user.id={user['id']}&effective")
    assert {x["scope"]["project"]["id"] for x in rows} == {top["id"], leaf["id"]}
    assert all(x["links"]["assignment"] == row["links"]["assignment"] for x in rows)
    rows = await _ra(ks, admin, f"user.id={user['id']}&scope.project.id={leaf['id']}&effective")
    assert [x["role"]["id"] for x in rows] == [role["id"]]
    assert (await ks.delete(on_domain, headers=admin)).status_code == 204
    assert await _ra(ks, admin, f"user.id={user['id']}&scope.project.id={leaf['id']}&effective") == []
    # Inherited from a project: its subtree, not the project itself.
    on_top = f"/v3/OS-INHERIT/projects/{top['id']}/users/{user['id']}/roles/{role['id']}/inherited_to_projects"
    assert (await ks.put(on_top, headers=admin)).status_code == 204
    assert (await ks.head(on_top, headers=admin)).status_code == 204
    assert await svc.roles_on(user["id"], project_id=top["id"]) == []
    assert [x.name for x in await svc.roles_on(user["id"], project_id=leaf["id"])] == ["auditor"]
    rows = await _ra(ks, admin, f"user.id={user['id']}&effective")
    assert [x["scope"] for x in rows] == [{"project": {"id": leaf["id"]}}]
    _, t = await issue(ks, {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": user["id"], "password": "pw"}}}, "scope": {"project": {"id": leaf["id"]}}}})
    assert [x["name"] for x in t["roles"]] == ["auditor"]
    assert (await ks.delete(on_top, headers=admin)).status_code == 204
    assert (await ks.delete(on_top, headers=admin)).status_code == 404
    # Groups inherit too.
    group = await _group(ks, admin, "heirs")
    await ks.put(f"/v3/groups/{group['id']}/users/{user['id']}", headers=admin)
    url = f"/v3/OS-INHERIT/domains/{dom}/groups/{group['id']}/roles/{role['id']}/inherited_to_projects"
    assert (await ks.put(url, headers=admin)).status_code == 204
    r = await ks.get(f"/v3/OS-INHERIT/domains/{dom}/groups/{group['id']}/roles/inherited_to_projects", headers=admin)
    assert [x["id"] for x in r.json()["roles"]] == [role["id"]]
    rows = await _ra(ks, admin, f"user.id={user['id']}&scope.project.id={top['id']}&effective")
    assert rows[0]["links"]["membership"] == f"http://127.0.0.1:5000/v3/groups/{group['id']}/users/{user['id']}"
    assert rows[0]["user"] == {"id": user["id"]}
    purl = f"/v3/OS-INHERIT/projects/{top['id']}/groups/{group['id']}/roles/{role['id']}/inherited_to_projects"
    assert (await ks.put(purl, headers=admin)).status_code == 204
    assert (await ks.head(purl, headers=admin)).status_code == 204
    assert (await ks.delete(purl, headers=admin)).status_code == 204


async def test_effective_assignments_expand_groups_and_implied_roles(ks, admin, ids):
    project = await make_project(ks, admin, "eff")
    user = await make_user(ks, admin, "effu", "pw")
    group = await _group(ks, admin, "effg")
    await ks.put(f"/v3/groups/{group['id']}/users/{user['id']}", headers=admin)
    member, reader = ids["role_ids"]["member"], ids["role_ids"]["reader"]
    await ks.put(f"/v3/projects/{project['id']}/groups/{group['id']}/roles/{member}", headers=admin)
    # As stored: one group row; effective: that row for the user plus the implied reader.
    (stored,) = await _ra(ks, admin, f"scope.project.id={project['id']}")
    assert stored["group"] == {"id": group["id"]} and "user" not in stored
    rows = await _ra(ks, admin, f"scope.project.id={project['id']}&effective")
    assert {x["role"]["id"] for x in rows} == {member, reader}
    implied = next(x for x in rows if x["role"]["id"] == reader)
    assert implied["links"] == {
        "assignment": f"http://127.0.0.1:5000/v3/projects/{project['id']}/groups/{group['id']}/roles/{member}",
        "membership": f"http://127.0.0.1:5000/v3/groups/{group['id']}/users/{user['id']}",
        "prior_role": f"http://127.0.0.1:5000/v3/roles/{member}"}
    assert await _ra(ks, admin, f"user.id={user['id']}") == []  # not a direct grant
    assert len(await _ra(ks, admin, f"user.id={user['id']}&effective")) == 2
    assert len(await _ra(ks, admin, f"role.id={reader}&scope.project.id={project['id']}&effective")) == 1
    assert await _ra(ks, admin, f"role.id={reader}&scope.project.id={project['id']}") == []
    # include_names names every part.
    rows = await _ra(ks, admin, f"scope.project.id={project['id']}&effective&include_names")
    named = next(x for x in rows if x["role"]["id"] == member)
    assert named["role"] == {"id": member, "name": "member"}
    assert named["user"] == {"id": user["id"], "name": "effu", "domain": {"id": "default", "name": "Default"}}
    assert named["scope"]["project"]["name"] == "eff"
    (g,) = await _ra(ks, admin, f"group.id={group['id']}&include_names=1")
    assert g["group"] == {"id": group["id"], "name": "effg", "domain": {"id": "default", "name": "Default"}}
    # include_subtree
    child = await make_project(ks, admin, "effchild", parent_id=project["id"])
    await ks.put(f"/v3/projects/{child['id']}/users/{user['id']}/roles/{reader}", headers=admin)
    assert len(await _ra(ks, admin, f"scope.project.id={project['id']}")) == 1
    assert len(await _ra(ks, admin, f"scope.project.id={project['id']}&include_subtree=True")) == 2


async def test_role_assignment_filters_that_do_not_combine(ks, admin):
    for query in ("scope.project.id=a&scope.domain.id=b", "scope.system=all&scope.project.id=a",
                  "user.id=a&group.id=b", "group.id=a&effective", "include_subtree=true",
                  "scope.system=some", "scope.OS-INHERIT:inherited_to=domains"):
        r = await ks.get(f"/v3/role_assignments?{query}", headers=admin)
        assert r.status_code == 400 and r.json()["error"]["code"] == 400, query


async def test_implied_roles_api(ks, admin, ids):
    a, b, c = [await _role(ks, admin, n) for n in ("ra", "rb", "rc")]
    url = f"/v3/roles/{a['id']}/implies/{b['id']}"
    assert (await ks.head(url, headers=admin)).status_code == 404
    assert (await ks.get(url, headers=admin)).status_code == 404
    r = await ks.put(url, headers=admin)
    assert r.status_code == 201
    body = r.json()
    assert body["role_inference"]["prior_role"] == {
        "id": a["id"], "name": "ra", "links": {"self": f"http://127.0.0.1:5000/v3/roles/{a['id']}"}}
    assert body["role_inference"]["implies"]["id"] == b["id"]
    assert body["links"]["self"] == f"http://127.0.0.1:5000{url}"
    assert (await ks.get(url, headers=admin)).json() == body
    assert (await ks.head(url, headers=admin)).status_code == 204
    await ks.put(f"/v3/roles/{a['id']}/implies/{c['id']}", headers=admin)
    await ks.put(f"/v3/roles/{c['id']}/implies/{b['id']}", headers=admin)
    r = await ks.get(f"/v3/roles/{a['id']}/implies", headers=admin)
    assert [x["id"] for x in r.json()["role_inference"]["implies"]] == [b["id"], c["id"]]
    r = await ks.get("/v3/role_inferences", headers=admin)
    rules = {x["prior_role"]["name"]: [y["name"] for y in x["implies"]] for x in r.json()["role_inferences"]}
    assert rules == {"admin": ["manager"], "manager": ["member"], "member": ["reader"],
                     "ra": ["rb", "rc"], "rc": ["rb"]}
    # keystone's refusals: admin can't be implied; a global role can't imply a domain role.
    dom_role = await _role(ks, admin, "dr", "default")
    assert (await ks.put(f"/v3/roles/{a['id']}/implies/{ids['role_ids']['admin']}", headers=admin)).status_code == 403
    assert (await ks.put(f"/v3/roles/{a['id']}/implies/{dom_role['id']}", headers=admin)).status_code == 403
    assert (await ks.put(f"/v3/roles/{dom_role['id']}/implies/{a['id']}", headers=admin)).status_code == 201
    assert (await ks.put(f"/v3/roles/nope/implies/{a['id']}", headers=admin)).status_code == 404
    # A cycle does not loop forever.
    await ks.put(f"/v3/roles/{b['id']}/implies/{a['id']}", headers=admin)
    project = await make_project(ks, admin, "cyc")
    await make_user(ks, admin, "cu", "pw", project_id=project["id"], role="rb")
    _, t = await issue(ks, password_auth("cu", "pw", project="cyc"))
    assert sorted(x["name"] for x in t["roles"]) == ["ra", "rb", "rc"]
    assert (await ks.delete(url, headers=admin)).status_code == 204
    assert (await ks.delete(url, headers=admin)).status_code == 404
    # Deleting a role drops its rules.
    await ks.delete(f"/v3/roles/{c['id']}", headers=admin)
    r = await ks.get(f"/v3/roles/{a['id']}/implies", headers=admin)
    assert r.json()["role_inference"]["implies"] == []


async def test_domain_specific_roles(ks, admin, ids, svc):
    r = await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "dsr"}})
    dom = r.json()["domain"]["id"]
    here = await make_project(ks, admin, "dsr-p", domain_id=dom)
    elsewhere = await make_project(ks, admin, "dsr-q")
    user = await make_user(ks, admin, "dsru", "pw", domain_id=dom)
    drole = await _role(ks, admin, "local", dom)
    assert (await ks.get(f"/v3/roles?domain_id={dom}", headers=admin)).json()["roles"] == [drole]
    assert (await ks.put(f"/v3/projects/{elsewhere['id']}/users/{user['id']}/roles/{drole['id']}",
                         headers=admin)).status_code == 403
    assert (await ks.put(f"/v3/projects/{here['id']}/users/{user['id']}/roles/{drole['id']}",
                         headers=admin)).status_code == 204
    # Alone it gives nothing effective (keystone strips domain roles).
    assert await _ra(ks, admin, f"user.id={user['id']}&scope.project.id={here['id']}&effective") == []
    assert await svc.roles_on(user["id"], project_id=here["id"]) == []
    assert await svc.project_ids_for_user(user["id"]) == []
    # What it implies counts.
    await ks.put(f"/v3/roles/{drole['id']}/implies/{ids['role_ids']['reader']}", headers=admin)
    rows = await _ra(ks, admin, f"user.id={user['id']}&scope.project.id={here['id']}&effective")
    assert [x["role"]["id"] for x in rows] == [ids["role_ids"]["reader"]]
    assert [x.name for x in await svc.roles_on(user["id"], project_id=here["id"])] == ["reader"]
    assert await svc.project_ids_for_user(user["id"]) == [here["id"]]
    (row,) = await _ra(ks, admin, f"user.id={user['id']}&include_names")
    assert row["role"] == {"id": drole["id"], "name": "local", "domain": {"id": dom, "name": "dsr"}}


async def test_bootstrap_upgrades_an_older_install(settings, ids, svc):
    from kumo.identity.bootstrap import bootstrap
    db = svc.db
    roles = ids["role_ids"]
    # An install from before the manager role: admin -> member -> reader, no system grant.
    async with db.session() as s:
        await s.execute(delete(m.ImpliedRole).where(m.ImpliedRole.prior_role_id.in_([roles["admin"],
                                                                                      roles["manager"]])))
        await s.execute(delete(m.Assignment).where(m.Assignment.type == "UserSystem"))
        await s.execute(delete(m.Role).where(m.Role.id == roles["manager"]))
        s.add(m.ImpliedRole(prior_role_id=roles["admin"], implied_role_id=roles["member"]))
    assert not await svc.has_system_roles(ids["user_ids"]["admin"])
    again = await bootstrap(settings, admin_password="admin-secret", service_password="service-secret")
    assert set(again["role_ids"]) == {"admin", "manager", "member", "reader", "service"}
    _, implied = await svc.list_implied(again["role_ids"]["admin"])
    assert [r.name for r in implied] == ["manager"]
    admin_id = ids["user_ids"]["admin"]
    assert [r.name for r in await svc.roles_on(admin_id, system=True)] == ["admin", "manager", "member", "reader"]
    assert [r.name for r in await svc.roles_on(admin_id, project_id=ids["project_ids"]["admin"])] == [
        "admin", "manager", "member", "reader"]


async def test_roles_on_is_one_statement(ks, admin, ids, svc):
    from sqlalchemy import event
    r = await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "fast"}})
    dom = r.json()["domain"]["id"]
    top = await make_project(ks, admin, "ftop", domain_id=dom)
    mid = await make_project(ks, admin, "fmid", domain_id=dom, parent_id=top["id"])
    leaf = await make_project(ks, admin, "fleaf", domain_id=dom, parent_id=mid["id"])
    user = await make_user(ks, admin, "fu", "pw", domain_id=dom)
    group = await _group(ks, admin, "fg")
    await ks.put(f"/v3/groups/{group['id']}/users/{user['id']}", headers=admin)
    roles = {n: await _role(ks, admin, n) for n in ("direct", "bygroup", "fromdomain", "fromtop", "implied")}
    await ks.put(f"/v3/roles/{roles['fromtop']['id']}/implies/{roles['implied']['id']}", headers=admin)
    await ks.put(f"/v3/projects/{leaf['id']}/users/{user['id']}/roles/{roles['direct']['id']}", headers=admin)
    await ks.put(f"/v3/projects/{leaf['id']}/groups/{group['id']}/roles/{roles['bygroup']['id']}", headers=admin)
    await ks.put(f"/v3/OS-INHERIT/domains/{dom}/groups/{group['id']}/roles/{roles['fromdomain']['id']}"
                 "/inherited_to_projects", headers=admin)
    await ks.put(f"/v3/OS-INHERIT/projects/{top['id']}/users/{user['id']}/roles/{roles['fromtop']['id']}"
                 "/inherited_to_projects", headers=admin)
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    engine = svc.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        async with svc.db.session() as db:
            seen.clear()
            found = await svc.roles_on(user["id"], project_id=leaf["id"], db=db)
            assert len(seen) == 1
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert [r.name for r in found] == ["bygroup", "direct", "fromdomain", "fromtop", "implied"]
    assert [r.name for r in await svc.roles_on(user["id"], project_id=top["id"])] == ["fromdomain"]
    assert [r.name for r in await svc.roles_on(user["id"], project_id=mid["id"])] == [
        "fromdomain", "fromtop", "implied"]
