"""Groups: CRUD, membership, a user's groups, cascades, and roles held through a group."""
from __future__ import annotations

from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_project, make_user, password_auth)


async def make_group(ks, admin, name: str, **extra) -> dict:
    r = await ks.post("/v3/groups", headers=admin, json={"group": {"name": name, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["group"]


async def test_group_crud_and_filters(ks, admin):
    r = await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "other"}})
    other = r.json()["domain"]["id"]
    g = await make_group(ks, admin, "ops", description="operators", project_id="p1")
    assert g["domain_id"] == "default" and g["description"] == "operators" and g["project_id"] == "p1"
    assert g["links"]["self"] == f"http://127.0.0.1:5000/v3/groups/{g['id']}" and len(g["id"]) == 32
    assert (await ks.get(f"/v3/groups/{g['id']}", headers=admin)).json()["group"] == g
    # Same name: 409 in the same domain, fine in another one.
    r = await ks.post("/v3/groups", headers=admin, json={"group": {"name": "ops"}})
    assert r.status_code == 409 and r.json()["error"]["code"] == 409
    g2 = await make_group(ks, admin, "ops", domain_id=other)
    r = await ks.get("/v3/groups?name=ops", headers=admin)
    assert {x["id"] for x in r.json()["groups"]} == {g["id"], g2["id"]}
    r = await ks.get(f"/v3/groups?domain_id={other}", headers=admin)
    assert [x["id"] for x in r.json()["groups"]] == [g2["id"]]
    r = await ks.patch(f"/v3/groups/{g['id']}", headers=admin, json={"group": {"name": "ops2"}})
    assert r.status_code == 200 and r.json()["group"]["name"] == "ops2"
    assert r.json()["group"]["description"] == "operators"
    r = await ks.patch(f"/v3/groups/{g['id']}", headers=admin, json={"group": {"domain_id": other}})
    assert r.status_code == 400
    r = await ks.patch(f"/v3/groups/{g2['id']}", headers=admin, json={"group": {"name": "ops2"}})
    assert r.status_code == 200  # other domain: no clash
    for bad in ({"group": {}}, {"group": {"name": ""}}, {"group": {"name": 5}}, {"nogroup": {}}):
        assert (await ks.post("/v3/groups", headers=admin, json=bad)).status_code == 400, bad
    r = await ks.post("/v3/groups", headers=admin, json={"group": {"name": "x", "domain_id": "nope"}})
    assert r.status_code == 404
    assert (await ks.delete(f"/v3/groups/{g['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/groups/{g['id']}", headers=admin)).status_code == 404
    assert (await ks.delete(f"/v3/groups/{g['id']}", headers=admin)).status_code == 404
    assert (await ks.patch("/v3/groups/nope", headers=admin, json={"group": {"name": "y"}})).status_code == 404


async def test_membership(ks, admin):
    g = await make_group(ks, admin, "devs")
    users = [await make_user(ks, admin, f"dev{i}", "pw") for i in range(3)]
    url = f"/v3/groups/{g['id']}/users"
    assert (await ks.head(f"{url}/{users[0]['id']}", headers=admin)).status_code == 404
    for u in users:
        assert (await ks.put(f"{url}/{u['id']}", headers=admin)).status_code == 204
    assert (await ks.put(f"{url}/{users[0]['id']}", headers=admin)).status_code == 204  # idempotent
    r = await ks.get(url, headers=admin)
    assert r.json()["users"] == sorted(users, key=lambda u: u["name"])
    assert r.json()["links"]["self"].endswith(f"/v3/groups/{g['id']}/users")
    r = await ks.get(f"{url}?name=dev1", headers=admin)
    assert [u["id"] for u in r.json()["users"]] == [users[1]["id"]]
    assert (await ks.head(f"{url}/{users[0]['id']}", headers=admin)).status_code == 204
    assert (await ks.put(f"{url}/nope", headers=admin)).status_code == 404
    assert (await ks.put(f"/v3/groups/nope/users/{users[0]['id']}", headers=admin)).status_code == 404
    assert (await ks.get("/v3/groups/nope/users", headers=admin)).status_code == 404
    assert (await ks.delete(f"{url}/{users[0]['id']}", headers=admin)).status_code == 204
    assert (await ks.delete(f"{url}/{users[0]['id']}", headers=admin)).status_code == 404
    r = await ks.get(url, headers=admin)
    assert [u["id"] for u in r.json()["users"]] == [users[1]["id"], users[2]["id"]]


async def test_user_groups_and_cascades(ks, admin, ids):
    a, b = await make_group(ks, admin, "a"), await make_group(ks, admin, "b")
    user = await make_user(ks, admin, "member1", "pw")
    for g in (a, b):
        await ks.put(f"/v3/groups/{g['id']}/users/{user['id']}", headers=admin)
    r = await ks.get(f"/v3/users/{user['id']}/groups", headers=admin)
    assert r.json()["groups"] == [a, b]
    token, _ = await issue(ks, password_auth("member1", "pw", project=None))
    r = await ks.get(f"/v3/users/{user['id']}/groups", headers=hdr(token))  # its own groups
    assert r.status_code == 200 and len(r.json()["groups"]) == 2
    r = await ks.get(f"/v3/users/{ids['user_ids']['admin']}/groups", headers=hdr(token))
    assert r.status_code == 403
    assert (await ks.get("/v3/users/nope/groups", headers=admin)).status_code == 404
    # Deleting a group removes its memberships and its assignments.
    member = ids["role_ids"]["member"]
    await ks.put(f"/v3/projects/{ids['project_ids']['admin']}/groups/{a['id']}/roles/{member}", headers=admin)
    await ks.delete(f"/v3/groups/{a['id']}", headers=admin)
    r = await ks.get(f"/v3/users/{user['id']}/groups", headers=admin)
    assert r.json()["groups"] == [b]
    r = await ks.get(f"/v3/role_assignments?group.id={a['id']}", headers=admin)
    assert r.json()["role_assignments"] == []
    # Deleting a user removes its memberships.
    await ks.delete(f"/v3/users/{user['id']}", headers=admin)
    assert (await ks.get(f"/v3/groups/{b['id']}/users", headers=admin)).json()["users"] == []


async def test_roles_through_a_group_and_losing_them(ks, admin, ids):
    project = await make_project(ks, admin, "gproj")
    g = await make_group(ks, admin, "team")
    user = await make_user(ks, admin, "tm", "pw")
    reader = ids["role_ids"]["reader"]
    grant = f"/v3/projects/{project['id']}/groups/{g['id']}/roles/{reader}"
    assert (await ks.head(grant, headers=admin)).status_code == 404
    assert (await ks.put(grant, headers=admin)).status_code == 204
    assert (await ks.head(grant, headers=admin)).status_code == 204
    r = await ks.get(f"/v3/projects/{project['id']}/groups/{g['id']}/roles", headers=admin)
    assert [x["id"] for x in r.json()["roles"]] == [reader]
    # Not a member yet: no access.
    r = await ks.post("/v3/auth/tokens", json=password_auth("tm", "pw", project="gproj"))
    assert r.status_code == 401
    await ks.put(f"/v3/groups/{g['id']}/users/{user['id']}", headers=admin)
    token, t = await issue(ks, password_auth("tm", "pw", project="gproj"))
    assert [x["name"] for x in t["roles"]] == ["reader"]
    r = await ks.get(f"/v3/users/{user['id']}/projects", headers=admin)
    assert [p["id"] for p in r.json()["projects"]] == [project["id"]]
    subject = {**admin, "X-Subject-Token": token}
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 200
    # Leaving the group takes the role away: the token stops validating.
    await ks.delete(f"/v3/groups/{g['id']}/users/{user['id']}", headers=admin)
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 404
    await ks.put(f"/v3/groups/{g['id']}/users/{user['id']}", headers=admin)
    token, _ = await issue(ks, password_auth("tm", "pw", project="gproj"))
    subject = {**admin, "X-Subject-Token": token}
    # So does revoking the group's grant.
    assert (await ks.delete(grant, headers=admin)).status_code == 204
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 404
    assert (await ks.delete(grant, headers=admin)).status_code == 404
    assert (await ks.put(f"/v3/projects/{project['id']}/groups/nope/roles/{reader}", headers=admin)).status_code == 404


async def test_groups_need_admin(ks, admin, ids):
    g = await make_group(ks, admin, "locked")
    user = await make_user(ks, admin, "plain", "pw", project_id=ids["project_ids"]["admin"])
    token, _ = await issue(ks, password_auth("plain", "pw"))
    h = hdr(token)
    assert (await ks.post("/v3/groups", headers=h, json={"group": {"name": "mine"}})).status_code == 403
    assert (await ks.put(f"/v3/groups/{g['id']}/users/{user['id']}", headers=h)).status_code == 403
    assert (await ks.delete(f"/v3/groups/{g['id']}", headers=h)).status_code == 403
    assert (await ks.get(f"/v3/groups/{g['id']}", headers=admin)).status_code == 200


async def test_a_domain_manager_manages_the_groups_of_its_domain(ks, admin, ids):
    r = await ks.post("/v3/domains", headers=admin, json={"domain": {"name": "managed"}})
    dom = r.json()["domain"]["id"]
    boss = await make_user(ks, admin, "boss", "pw")
    manager = (await ks.get("/v3/roles?name=manager", headers=admin)).json()["roles"][0]["id"]
    assert (await ks.put(f"/v3/domains/{dom}/users/{boss['id']}/roles/{manager}", headers=admin)).status_code == 204
    token, t = await issue(ks, password_auth("boss", "pw", project=None, domain=dom))
    assert {x["name"] for x in t["roles"]} == {"manager", "member", "reader"}
    h = hdr(token)
    r = await ks.post("/v3/groups", headers=h, json={"group": {"name": "mine", "domain_id": dom}})
    assert r.status_code == 201, r.text
    mine = r.json()["group"]
    r = await ks.post("/v3/groups", headers=h, json={"group": {"name": "theirs", "domain_id": "default"}})
    assert r.status_code == 403
    r = await ks.post("/v3/groups", headers=h, json={"group": {"name": "implicit"}})  # the token's domain
    assert r.status_code == 201 and r.json()["group"]["domain_id"] == dom
    theirs = await make_group(ks, admin, "theirs")
    assert (await ks.get(f"/v3/groups/{mine['id']}", headers=h)).status_code == 200
    assert (await ks.get(f"/v3/groups/{theirs['id']}", headers=h)).status_code == 403
    assert (await ks.put(f"/v3/groups/{mine['id']}/users/{boss['id']}", headers=h)).status_code == 204
    assert (await ks.put(f"/v3/groups/{theirs['id']}/users/{boss['id']}", headers=h)).status_code == 403
    assert (await ks.delete(f"/v3/groups/{theirs['id']}", headers=h)).status_code == 403
    assert (await ks.delete(f"/v3/groups/{mine['id']}", headers=h)).status_code == 204
